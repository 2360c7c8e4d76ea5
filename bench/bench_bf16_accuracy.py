"""Does bf16 move the benchmark's accuracy? The shipped model (or --model) scores the same held-out windows in fp32
and in bf16 autocast + channels_last_3d, side by side: clip and video top-1 of each, the change, and how many clips
change their top-1 label (an upper bound on how far clip accuracy can move). Target for `--precision auto` to pick
bf16: accuracy moves by less than 0.5 points.

    python bench/bench_bf16_accuracy.py --data data/synth                     # all held-out videos, K=10
    python bench/bench_bf16_accuracy.py --data data/synth --max-videos 48 -K 2   # without native bf16: ~3 minutes

Without native bf16 (AMX / AVX-512 BF16) autocast emulates it about 100x slower than fp32, so use a subset there;
the speed of bf16 is bench_network.py's business, this script only measures its accuracy.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
from _timing import header, set_threads

from actionrec.data import open_dataset
from actionrec.io.checkpoint import load_model
from actionrec.metrics import accuracy_topk, top1
from actionrec.runtime.aggregate import softmax
from actionrec.runtime.backends import Precision, TorchBackend
from actionrec.runtime.pipeline import Recognizer, default_model_path
from actionrec.scoring import match_labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a benchmark folder (UCF-101 layout)")
    parser.add_argument("--model", type=Path, default=None, help="model file [default: the shipped model]")
    parser.add_argument("--max-videos", type=int, help="a random subset of the held-out videos (seed 0)")
    parser.add_argument("-K", "--clips-per-video", type=int, default=10)
    parser.add_argument("--threads", type=int, help="intra-op threads [default: torch's]")
    args = parser.parse_args()
    set_threads(args.threads)
    print(header())

    split = open_dataset(args.data, layout="auto", split=1)
    items = list(split.val)
    if args.max_videos:
        random.Random(0).shuffle(items)
        items = items[: args.max_videos]
    path = args.model or default_model_path()
    backends = {}
    for precision in (Precision.fp32, Precision.bf16):
        model, meta = load_model(path)  # a model each: the bf16 back end converts its model to channels_last_3d
        backends[precision] = TorchBackend(model, meta, precision=precision)
    reader = Recognizer(backends[Precision.fp32])  # decodes each video once; both back ends score its clips
    to_model = np.asarray(match_labels(split.labels, meta.labels))

    clip_probs: dict[Precision, list[np.ndarray]] = {p: [] for p in backends}  # per video (W, C)
    clip_true: list[np.ndarray] = []
    seconds = dict.fromkeys(backends, 0.0)  # network time only
    for item in items:
        x = np.concatenate([x for _, x in reader.clip_batches(item.path, num_windows=args.clips_per_video)])
        for precision, backend in backends.items():
            start = time.perf_counter()
            probs = softmax(backend(x))
            seconds[precision] += time.perf_counter() - start
            clip_probs[precision].append(probs)
        clip_true.append(np.full(len(x), to_model[item.label]))
    truth = np.concatenate(clip_true)
    video_truth = np.asarray([to_model[item.label] for item in items])

    print(f"{path}: {len(items)} held-out videos of {args.data}, {len(truth)} clips (K={args.clips_per_video})")
    acc, clip_pred, video_pred = {}, {}, {}
    for precision in backends:
        clips = np.concatenate(clip_probs[precision])  # (N_clips, C)
        videos = np.stack([p.mean(axis=0) for p in clip_probs[precision]])  # (N_videos, C)
        clip_pred[precision], video_pred[precision] = top1(clips), top1(videos)
        acc[precision] = (accuracy_topk(clips, truth, 1), accuracy_topk(videos, video_truth, 1))
        print(
            f"  {precision.value:<5} clip top-1 {acc[precision][0]:7.2%}  video top-1 {acc[precision][1]:7.2%}  "
            f"({seconds[precision]:.0f} s)"
        )
    flips = np.mean(clip_pred[Precision.fp32] != clip_pred[Precision.bf16])
    video_flips = np.mean(video_pred[Precision.fp32] != video_pred[Precision.bf16])
    clip_delta = 100 * (acc[Precision.bf16][0] - acc[Precision.fp32][0])
    video_delta = 100 * (acc[Precision.bf16][1] - acc[Precision.fp32][1])
    print(f"  bf16 - fp32: clip {clip_delta:+.2f} points, video {video_delta:+.2f} points (target: |change| < 0.5)")
    print(f"  top-1 label changed on {flips:.2%} of clips and {video_flips:.2%} of videos")


if __name__ == "__main__":
    main()
