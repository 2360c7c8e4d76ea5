"""Motion matters: the synthetic benchmark's motion-only pairs (walk_left / walk_right are mirror images of each other;
sit_down / stand_up and raising / lowering the arms, sideways or in front, are the same motion played backwards) cannot
be told apart from single frames. On the held-out actors (testlist01.txt), a model's pairwise accuracy on normal clips
is compared with the same windows with their frames shuffled (every frame still there, the order gone: expect ~50 %) and
played backwards (a time-reversed pair should flip its answer), plus the all-class video accuracy of each.

    python bench/bench_motion.py --out motion.json      # the shipped model, 128 test videos: ~2-3 min on 2 cores
    python bench/bench_motion.py --model M.safetensors --data DIR --clips 8
    python bench/bench_motion.py --quick                # a random tiny model on a tiny rendered benchmark

Protocol: each test video's K evenly spaced windows are decoded and resized exactly as `predict` does
(`iter_windows(num_windows=K, transform=frame_resizer(spec))`); the T frames of each window are kept, randomly
permuted (one permutation per window, seeded by --seed and the video's position) or reversed; then the one
`preprocess` and the model's back end. Pairwise accuracy, over the videos of the pair's two classes: the true class
gets more probability than the other class of the pair (video: mean of the window probabilities; clip: each
window alone). "flipped" is the share of the pair's videos whose reversed clips favour the other class.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def shuffle_frames(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The window's frames (T, H, W, 3) in a random order: the same frames, no order."""
    return frames[rng.permutation(len(frames))]


def reverse_frames(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The window's frames (T, H, W, 3) played backwards."""
    return frames[::-1]


CONDITIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "normal": lambda frames, rng: frames,
    "shuffled": shuffle_frames,
    "reversed": reverse_frames,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None, help="model file [default: the shipped model]")
    p.add_argument("--data", type=Path, default=None, help="synthetic benchmark [default: data/synth]")
    p.add_argument("--clips", type=int, default=8, help="K evenly spaced windows per test video")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0, help="seed of the frame permutations")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    p.add_argument("--quick", action="store_true", help="random tiny model, tiny rendered benchmark, K=2")
    return p.parse_args(argv)


def quick_inputs(tmp: Path) -> tuple[Path, Path]:
    """A random r3d10 (width 4, 8 frames of 32x32) over the benchmark's classes, and a small test split to run it on."""
    import torch

    from actionrec.io.checkpoint import save_model
    from actionrec.model_meta import ModelMeta, Preprocessing
    from actionrec.networks import build
    from actionrec.synth import CLASSES, write_benchmark

    torch.manual_seed(0)
    meta = ModelMeta("r3d10", {"width": 4}, CLASSES, Preprocessing(clip_len=8, frame_step=1, resize=32, crop=32))
    model = save_model(tmp / "quick.safetensors", build("r3d10", num_classes=len(CLASSES), width=4), meta)
    data = write_benchmark(tmp / "synth", clips_per_class=2, size=(64, 64), frames=24).out
    return model, data


def score(recognizer, items, clips: int, seed: int) -> dict[str, list[np.ndarray]]:
    """Per condition, per video: the window probabilities (W, C_model) of its K windows, rearranged."""
    from actionrec.io.video import iter_windows
    from actionrec.runtime.aggregate import softmax
    from actionrec.transforms import frame_resizer, preprocess

    spec = recognizer.meta.preprocessing
    out: dict[str, list[np.ndarray]] = {name: [] for name in CONDITIONS}
    for v, item in enumerate(items):
        windows = iter_windows(
            item.path,
            clip_len=spec.clip_len,
            frame_step=spec.frame_step,
            num_windows=clips,
            transform=frame_resizer(spec),
        )
        frames = [w.frames for w in windows]  # W x (T, H, W, 3) uint8
        for name, arrange in CONDITIONS.items():
            rng = np.random.default_rng([seed, v])
            x = preprocess(np.stack([arrange(f, rng) for f in frames]), spec)  # (W, 3, T, crop, crop)
            out[name].append(softmax(recognizer.backend(x)))  # (W, C_model)
    return out


def pair_accuracy(probs: list[np.ndarray], truth: np.ndarray, a: int, b: int) -> tuple[float, float, int]:
    """(video, clip) accuracy restricted to classes a and b (model indices) over the videos whose true class is
    one of them: the true class must get more probability than the other. Also the number of videos."""
    picked = [i for i, t in enumerate(truth) if t in (a, b)]
    video_hits, clip_hits = [], []
    for i in picked:
        other = b if truth[i] == a else a
        clip_hits.extend(probs[i][:, truth[i]] > probs[i][:, other])
        mean = probs[i].mean(0)
        video_hits.append(mean[truth[i]] > mean[other])
    if not picked:
        return float("nan"), float("nan"), 0
    return float(np.mean(video_hits)), float(np.mean(clip_hits)), len(picked)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.clips < 1:
        print("error: --clips must be at least 1", file=sys.stderr)
        return 2
    if args.quick:
        args.threads, args.clips = 1, 2
    import torch

    torch.set_num_threads(args.threads)
    from actionrec.errors import ActionrecError

    tmp = Path(tempfile.mkdtemp(prefix="bench-motion-"))
    try:
        return _bench(args, tmp)
    except ActionrecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bench(args: argparse.Namespace, tmp: Path) -> int:
    from actionrec.data import DataLayout, open_dataset
    from actionrec.io.files import write_text_atomic
    from actionrec.metrics import accuracy_topk
    from actionrec.runtime.backends import Precision
    from actionrec.runtime.pipeline import default_model_path, load
    from actionrec.scoring import match_labels
    from actionrec.synth import ACTIONS, MOTION_PAIRS

    t0 = time.perf_counter()
    model, data = args.model, args.data
    if args.quick:
        model, data = quick_inputs(tmp)
    model = model or default_model_path()
    data = data or ROOT / "data" / "synth"
    recognizer = load(model, precision=Precision.fp32, threads=args.threads)
    split = open_dataset(data, layout=DataLayout.ucf101)
    items = list(split.val)  # testlist01: the held-out actors
    to_model = np.asarray(match_labels(split.labels, recognizer.meta.labels, where=str(data)))
    truth = to_model[[it.label for it in items]]  # model class of each video
    index = {name: to_model[i] for i, name in enumerate(split.labels)}
    missing = [n for pair in MOTION_PAIRS for n in pair if n not in index]
    if missing:
        print(f"error: {data}: no {', '.join(missing)} videos: not the synthetic benchmark?", file=sys.stderr)
        return 1
    print(f"# {split.summary()}; model {model}; K={args.clips}", file=sys.stderr)

    probs = score(recognizer, items, args.clips, args.seed)
    accuracy = {name: accuracy_topk(np.stack([p.mean(0) for p in probs[name]]), truth, 1) for name in CONDITIONS}
    pairs = []
    for a, b in MOTION_PAIRS:
        row: dict = {"pair": [a, b], "relation": ACTIONS[b].derive or ACTIONS[a].derive}
        for name in CONDITIONS:
            video, clip, n = pair_accuracy(probs[name], truth, index[a], index[b])
            row[name] = {"video": video, "clip": clip}
            row["videos"] = n
        row["flipped"] = 1.0 - row["reversed"]["video"]
        pairs.append(row)
    results = {
        "protocol": __doc__.split("Protocol:")[1].strip(),
        "model": str(model),
        "data": str(data),
        "preprocessing": recognizer.meta.preprocessing.__dict__,
        "clips_per_video": args.clips,
        "test_videos": len(items),
        "seed": args.seed,
        "quick": args.quick,
        "pairs": pairs,
        "video_accuracy": accuracy,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(markdown(results))
    if args.out is not None:
        write_text_atomic(args.out, json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def markdown(results: dict) -> str:
    def cell(d: dict) -> str:
        return f"{100 * d['video']:.0f}% ({100 * d['clip']:.0f}%)"

    lines = [
        f"Motion-only pairs{' (--quick)' if results['quick'] else ''}: {results['model']} on {results['data']} "
        f"held-out actors, K={results['clips_per_video']} windows per video",
        "",
        "| pair | relation | videos | normal | shuffled | reversed | reversed: flipped |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in results["pairs"]:
        lines.append(
            f"| {' / '.join(row['pair'])} | {row['relation']} | {row['videos']} | {cell(row['normal'])} "
            f"| {cell(row['shuffled'])} | {cell(row['reversed'])} | {100 * row['flipped']:.0f}% |"
        )
    acc = results["video_accuracy"]
    lines += [
        "",
        "cells: pairwise video accuracy (clip accuracy); chance is 50%",
        f"all-class video accuracy on the {results['test_videos']} test videos: "
        + ", ".join(f"{name} {100 * v:.1f}%" for name, v in acc.items()),
        f"total {results['seconds']:.0f} s",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
