"""Where the spatial attention looks on the synthetic benchmark: the share of each attention map's mass inside the
actor's box, against the box's share of the network's crop (exactly what a uniform map gives), per block and
averaged over blocks, on the held-out actors (testlist01.txt).

    python bench/bench_attention_share.py --data DIR                  # the shipped default model
    python bench/bench_attention_share.py --data DIR --model M.safetensors --max-videos 128 --out share.json

Boxes come from the per-clip JSON beside each video (frame pixels) and are mapped into the crop with the geometry
of `preprocess` (short-side resize, centre crop). Each map is upsampled (bilinear) to the crop, its T' time steps
spread over the window's sampled frames (nearest). Frames whose actor is out of the crop are left out. lift =
mean attention share / mean area share: 1 is no better than uniform.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SUFFIX = ".attention.spatial.gate"  # dropped from block names in the table


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="synthetic benchmark folder (actionrec synth)")
    parser.add_argument("--model", type=Path, default=None, help="model file [default: the shipped default model]")
    parser.add_argument("--max-videos", type=int, default=128, help="held-out videos, evenly spread over the list")
    parser.add_argument("--clips-per-video", type=int, default=1, help="evenly spaced windows per video")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    return parser.parse_args(argv)


def evenly(items: list, count: int) -> list:
    if count >= len(items):
        return items
    return [items[i] for i in np.round(np.linspace(0, len(items) - 1, count)).astype(int)]


def measure(recognizer, items, clips_per_video: int):
    """Per block (and "mean", "uniform"): the attention share of every frame whose actor is in the crop, the same
    share with the map's minimum subtracted (the sigmoid's floor spreads mass everywhere), those frames' box area
    shares, and the videos skipped with why."""
    from actionrec.errors import VideoError
    from actionrec.explain import (
        area_share,
        attention_frames,
        attention_share,
        box_to_crop,
        spatial_blocks,
        window_maps,
    )
    from actionrec.io.video import probe

    spec = recognizer.meta.preprocessing
    crop = spec.crop
    blocks = spatial_blocks(recognizer.model)
    shares: dict[str, list[float]] = defaultdict(list)
    floors: dict[str, list[float]] = defaultdict(list)  # the same with each map's minimum subtracted first
    areas: list[float] = []
    skipped: list[str] = []
    uniform = np.ones((crop, crop))
    for item in items:
        meta_file = item.path.with_suffix(".json")
        if not meta_file.is_file():
            skipped.append(f"{item.path}: no box file {meta_file.name}")
            continue
        meta = json.loads(meta_file.read_text())
        boxes = np.asarray(meta["boxes"], dtype=np.float64)  # (frames, 4) x0, y0, x1, y1
        width, height = int(meta["width"]), int(meta["height"])
        try:
            info = probe(item.path)
            if (info.width, info.height) != (width, height):
                skipped.append(f"{item.path}: frames are {info.width}x{info.height}, boxes for {width}x{height}")
                continue
            windows = list(window_maps(recognizer, item.path, blocks, num_windows=clips_per_video))
        except VideoError as e:
            skipped.append(str(e))
            continue
        for w in windows:
            heats = {b: attention_frames(m, (0, 0, crop, crop), (crop, crop), spec.clip_len) for b, m in w.maps.items()}
            heats["mean"] = np.mean(list(heats.values()), axis=0)  # (T, crop, crop)
            for k, t in enumerate(w.sampled_s):
                index = round(t * info.fps)  # the decoded frame at that time: a rendered video's rate is constant
                box = boxes[min(index, len(boxes) - 1)]
                if box[2] <= box[0] or box[3] <= box[1]:
                    continue  # the actor is out of view
                in_crop = box_to_crop(tuple(box), width, height, spec)
                area = area_share(in_crop, (crop, crop))
                if area <= 0:
                    continue  # the actor is outside the part the network sees
                areas.append(area)
                shares["uniform"].append(attention_share(uniform, in_crop))
                floors["uniform"].append(float("nan"))
                for name, heat in heats.items():
                    shares[name].append(attention_share(heat[k], in_crop))
                    floors[name].append(attention_share(heat[k] - heat[k].min(), in_crop))
    return shares, floors, areas, skipped


def table(shares: dict[str, list[float]], floors: dict[str, list[float]], areas: list[float]) -> tuple[list[dict], str]:
    area = np.asarray(areas)
    rows, lines = [], []
    header = (
        f"| {'block':<12} | {'frames':>6} | {'attention share':>15} | {'box area share':>14} | {'lift':>5} "
        f"| {'share above min':>15} | {'lift':>5} |"
    )
    lines += [header, "|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|"]
    for name, values in shares.items():
        v = np.asarray(values)
        row = {
            "block": name,
            "frames": len(v),
            "attention_share": float(v.mean()),
            "area_share": float(area.mean()),
            "lift": float(v.mean() / area.mean()),
            "frames_above_area": float((v > area + 1e-9).mean()),
            "share_above_min": _nanmean(floors[name]),
        }
        row["lift_above_min"] = row["share_above_min"] / row["area_share"]
        rows.append(row)
        shown = name.removesuffix(SUFFIX)
        lines.append(
            f"| {shown:<12} | {row['frames']:>6} | {row['attention_share']:>15.3f} | {row['area_share']:>14.3f} "
            f"| {row['lift']:>5.2f} | {_num(row['share_above_min'], 15, 3)} | {_num(row['lift_above_min'], 5, 2)} |"
        )
    return rows, "\n".join(lines)


def _num(value: float, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if np.isnan(value) else f"{value:>{width}.{digits}f}"


def _nanmean(values: list[float]) -> float:
    v = np.asarray(values, dtype=np.float64)
    return float(v[~np.isnan(v)].mean()) if (~np.isnan(v)).any() else float("nan")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from actionrec.data import DataLayout, open_dataset
    from actionrec.errors import ActionrecError
    from actionrec.explain import load_for_explain
    from actionrec.io.files import write_text_atomic
    from actionrec.runtime.pipeline import default_model_path

    model = args.model or default_model_path()
    if not model.exists():
        print(f"{model}: no such model file (train one, or pass --model)", file=sys.stderr)
        return 1
    try:
        recognizer = load_for_explain(model)
        split = open_dataset(args.data, layout=DataLayout.ucf101)
    except ActionrecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    items = evenly(list(split.val), args.max_videos)
    spec = recognizer.meta.preprocessing
    t0 = time.perf_counter()
    shares, floors, areas, skipped = measure(recognizer, items, args.clips_per_video)
    seconds = time.perf_counter() - t0
    for line in skipped:
        print(f"skipped: {line}", file=sys.stderr)
    if not areas:
        print("no frames with the actor inside the crop: nothing to measure", file=sys.stderr)
        return 1
    rows, text = table(shares, floors, areas)
    print(f"model {model} ({recognizer.meta.arch}, {spec.clip_len}x{spec.crop}x{spec.crop}, resize {spec.resize})")
    print(
        f"data {args.data}: {len(items) - len(skipped)} held-out videos (testlist01), {args.clips_per_video} "
        f"window(s) each, {len(areas)} frames with the actor in the crop; {seconds:.0f} s"
    )
    print(text)
    print(
        "lift = share / box area share (a uniform map: 1.00); 'share above min': each map's minimum subtracted "
        "first; mean = every block upsampled to the crop, then averaged"
    )
    if args.out is not None:
        report = {
            "model": str(model),
            "data": str(args.data),
            "videos": len(items) - len(skipped),
            "clips_per_video": args.clips_per_video,
            "frames": len(areas),
            "seconds": round(seconds, 1),
            "rows": [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()} for r in rows],
            "skipped": skipped,
        }
        write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
