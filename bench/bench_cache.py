"""Training-clip throughput with and without the decoded-frame cache: decode every epoch vs decode once (first
epoch, which also writes the cache) and read memory-mapped uint8 frames afterwards. Checks the clips are identical.

    python bench/bench_cache.py                      # ../shared/data/real when present, else generated videos
    python bench/bench_cache.py --data DIR --epochs 3 --clip-len 16 --crop 112
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from actionrec.data import ClipDataset, FrameCache, VideoItem, open_dataset  # noqa: E402
from actionrec.model_meta import Preprocessing  # noqa: E402


def generated(root: Path, count: int = 12) -> list[VideoItem]:
    from conftest import moving_square_frames, write_cv2_video

    return [
        VideoItem(write_cv2_video(root / f"v{i}.mp4", moving_square_frames(90, 320, 240, seed=i)), i % 2, str(i))
        for i in range(count)
    ]


def epoch_rate(ds: ClipDataset, epoch: int) -> tuple[float, list[np.ndarray]]:
    ds.set_epoch(epoch)
    t0 = time.perf_counter()
    clips = [ds[i][0].numpy() for i in range(len(ds))]
    return len(ds) / (time.perf_counter() - t0), clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", help="labelled folder(s) (folder per class)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--clip-len", type=int, default=16)
    parser.add_argument("--crop", type=int, default=112)
    args = parser.parse_args()
    spec = Preprocessing(clip_len=args.clip_len, crop=args.crop, resize=round(args.crop * 8 / 7))
    tmp = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    shared = ROOT.parent / "shared" / "data" / "real"
    folders = args.data or ([d for d in sorted(shared.iterdir()) if d.is_dir()] if shared.is_dir() else [])
    sets = {d.name: list(open_dataset(d, val_fraction=0.0).train) for d in folders}
    if not sets:
        (tmp / "videos").mkdir()
        sets["generated 320x240 mp4v"] = generated(tmp / "videos")
    print(f"clip {spec.clip_len} frames, resize {spec.resize}, crop {spec.crop}; one process, no workers")
    header = ("data", "videos", "decode clips/s", "cache fill", "cached clips/s", "speed-up")
    print("{:<22} {:>6} {:>15} {:>11} {:>15} {:>9}".format(*header))
    for name, items in sets.items():
        direct = ClipDataset(items, spec, train=True, seed=0)
        cached = ClipDataset(items, spec, train=True, seed=0, cache=FrameCache(tmp / "cache" / name))
        decode_rates, cached_rates = [], []
        fill_rate, _ = epoch_rate(cached, 0)  # decodes every video once and writes the cache
        for epoch in range(1, args.epochs + 1):
            rate, a = epoch_rate(direct, epoch)
            decode_rates.append(rate)
            rate, b = epoch_rate(cached, epoch)
            cached_rates.append(rate)
            assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)), "cached clips differ"
        d, c = float(np.median(decode_rates)), float(np.median(cached_rates))
        size = sum(f.stat().st_size for f in (tmp / "cache" / name).glob("*.npy")) / 2**20
        print(f"{name:<22} {len(items):>6} {d:>15.1f} {fill_rate:>11.1f} {c:>15.1f} {c / d:>8.1f}x  ({size:.0f} MiB)")
    print(f"(median of {args.epochs} epochs; cached clips identical to decoded ones)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
