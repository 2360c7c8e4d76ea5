"""The torch back end's streams, side by side in one run: clips/s of the network through `TorchBackend` when each
batch runs as one pass on all threads (1 stream) and when it is split into parts that run at once, each on its
share of the threads (2 streams, predict's default on 2+ threads; more where the machine has the threads).
Random-weight models of the shipped size and of r3d18 at width 16 and 64; fp32, the back end's own layout rule;
logits of every stream count are checked against 1 stream's.

    python bench/bench_streams.py                               # shipped size, r3d18 w16 and w64, streams 1 2
    python bench/bench_streams.py --configs shipped --streams 1 2 4 --repeats 9
    python bench/bench_streams.py --quick                       # smoke run: tiny input, 1 round
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _timing import header, set_threads, time_interleaved

from actionrec.model_meta import ModelMeta, Preprocessing
from actionrec.networks import build
from actionrec.runtime.backends import TorchBackend

CONFIGS = {  # name: (arch, width, clip_len, crop, batch)
    "shipped": ("r3d10", 16, 8, 64, 8),
    "r3d18-w16": ("r3d18", 16, 16, 112, 4),
    "r3d18-w64": ("r3d18", 64, 16, 112, 4),
    "quick": ("r3d10", 8, 4, 32, 4),
}


def backends(arch: str, width: int, clip_len: int, crop: int, streams: list[int]) -> dict[int, TorchBackend]:
    """One random-weight model behind a back end per stream count (each applies the same layout rule to it)."""
    torch.manual_seed(0)
    meta = ModelMeta(
        arch=arch,
        arch_args={"width": width, "attention": True},
        labels=tuple(f"class{i}" for i in range(10)),
        preprocessing=Preprocessing(clip_len=clip_len, resize=crop, crop=crop),
    )
    model = build(arch, num_classes=meta.num_classes, **meta.arch_args)
    return {s: TorchBackend(model, meta, precision="fp32", streams=s) for s in streams}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["shipped", "r3d18-w16", "r3d18-w64"], choices=CONFIGS)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2], help="stream counts (the first is the base)")
    parser.add_argument("--calls", type=int, default=4, help="batches per timed round")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (medians are reported)")
    parser.add_argument("--threads", type=int, help="torch threads [default: torch's]")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny model, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.configs, args.calls, args.repeats = ["quick"], 1, 1
    threads = set_threads(args.threads)
    print(header())
    for name in args.configs:
        arch, width, clip_len, crop, batch = CONFIGS[name]
        by_streams = backends(arch, width, clip_len, crop, args.streams)
        clips = np.random.default_rng(0).standard_normal((batch, 3, clip_len, crop, crop), dtype=np.float32)
        base = by_streams[args.streams[0]](clips)
        diff = max(float(np.abs(b(clips) - base).max()) for b in by_streams.values())

        def run(b: TorchBackend, clips: np.ndarray = clips) -> None:
            for _ in range(args.calls):
                b(clips)

        times = time_interleaved({s: (lambda b=b: run(b)) for s, b in by_streams.items()}, repeats=args.repeats)
        shape = f"{arch} w{width} {clip_len}x{crop}x{crop}, batch {batch}, {threads} threads"
        print(f"\n{name}: {shape}; max |logit diff| {diff:.1e}")
        t0 = times[args.streams[0]]
        for s, t in times.items():
            rate = args.calls * batch / t.median
            print(
                f"  {s} stream(s): {rate:7.1f} clips/s   {t0.median / t.median:.3f}x (median)   "
                f"{t0.best / t.best:.3f}x (best) against {args.streams[0]}"
            )


if __name__ == "__main__":
    main()
