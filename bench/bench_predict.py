"""End-to-end `actionrec predict` speed on a long video, against its two stages alone, in one run: seconds of video
per wall-clock second for (a) decoding only (`iter_windows` with the model's frame transform), (b) the network only
(as many windows of random clips through the same back end, same batch size) and (c) the full
`Recognizer.predict`. Decoding runs in a thread beside the network, so the full run should take about as long as
the slower stage: target full / max(decode, network) <= 1.1. Decoding + `preprocess` (the decoding thread's whole
job) is shown as well. (b) and (c) run once per --streams value (parts of each batch run at once); all timings are
interleaved medians.

    python bench/bench_predict.py                        # 10-minute 320x240 25 fps video, shipped model
    python bench/bench_predict.py --minutes 3 --streams 1 2 --repeats 5
    python bench/bench_predict.py --model m.safetensors --minutes 10 --batch-size 8 --threads 2
    python bench/bench_predict.py --quick                # smoke run: 20 s video, 1 thread

The video is generated once (mp4v, moving shapes) into --cache. Without a shipped model, a random r3d10 width 16
model at 16x64x64 (the shipped configuration) stands in.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from _inputs import CACHE, long_video, model_file
from _timing import header, set_threads, time_interleaved, timed

from actionrec.io.video import Window, iter_windows, probe
from actionrec.runtime.pipeline import Recognizer, batched, load
from actionrec.transforms import frame_resizer, preprocess


def windows(recognizer: Recognizer, path: Path, stride: int | None) -> Iterator[Window]:
    spec = recognizer.meta.preprocessing
    return iter_windows(
        path, clip_len=spec.clip_len, frame_step=spec.frame_step, stride=stride, transform=frame_resizer(spec)
    )


def decode_only(recognizer: Recognizer, path: Path, stride: int | None) -> int:
    """Decode every window, nothing else; returns the number of windows."""
    return sum(1 for _ in windows(recognizer, path, stride))


def decode_preprocess(recognizer: Recognizer, path: Path, stride: int | None, batch_size: int) -> int:
    """What the decoding thread does in predict: decode, batch, `preprocess`."""
    spec = recognizer.meta.preprocessing
    return sum(
        len(preprocess(np.stack([w.frames for w in b]), spec))
        for b in batched(windows(recognizer, path, stride), batch_size)
    )


def network_only(recognizer: Recognizer, count: int, batch_size: int) -> None:
    """`count` random clips through the back end in batches of `batch_size` (the last one partial)."""
    spec = recognizer.meta.preprocessing
    clips = np.random.default_rng(0).standard_normal((batch_size, *spec.input_shape), dtype=np.float32)
    for start in range(0, count, batch_size):
        recognizer.backend(clips[: min(batch_size, count - start)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model file [default: the shipped model, else a random stand-in]")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the generated video")
    parser.add_argument("--batch-size", type=int, default=8, help="windows per network call (predict's default)")
    parser.add_argument("--stride", type=int, help="frames between windows [default: predict's, Preprocessing.stride]")
    parser.add_argument("--threads", type=int, help="network threads [default: predict's]")
    parser.add_argument("--streams", type=int, nargs="+", help="streams to compare [default: predict's default]")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (medians are reported)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where generated videos are kept")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 s video, 1 thread, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.threads, args.repeats = 20 / 60, 1, 1

    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        path, video_s = timed(lambda: long_video(args.minutes * 60, cache=args.cache))
        set_threads(args.threads)
        file = model_file(args.model, Path(tmp))
        streams = args.streams or [None]
        recognizers = [load(file, threads=args.threads, streams=s) for s in streams]
        first = recognizers[0]
        print(header())
        info = probe(path)
        meta = first.meta
        spec = meta.preprocessing
        print(
            f"video: {path} ({info.duration_s:.0f} s, {info.width}x{info.height} {info.codec}; "
            f"ready in {video_s:.1f} s)"
        )
        print(
            f"model: {meta.arch} {meta.arch_args}, {spec.clip_len}x{spec.crop}x{spec.crop}, "
            f"{first.backend.name} back end, batch {args.batch_size}"
        )
        count = decode_only(first, path, args.stride)
        fns = {
            "(a) decode only": lambda: decode_only(first, path, args.stride),
            "    decode + preprocess": lambda: decode_preprocess(first, path, args.stride, args.batch_size),
        }
        for rec in recognizers:
            name = f", {rec.backend.streams} stream(s)" if hasattr(rec.backend, "streams") else ""
            fns[f"(b) network only{name}"] = lambda rec=rec: network_only(rec, count, args.batch_size)
            fns[f"(c) full predict{name}"] = lambda rec=rec: rec.predict(
                path, stride=args.stride, batch_size=args.batch_size
            )
        times = {k: t.median for k, t in time_interleaved(fns, warmup=1, repeats=args.repeats).items()}

    print(f"\n{count} windows; seconds of video per wall-clock second (median of {args.repeats}):")
    for name, t in times.items():
        print(f"  {name:<34} {info.duration_s / t:8.1f} x real time  ({t:.2f} s)")
    t_decode, t_prep = times["(a) decode only"], times["    decode + preprocess"]
    nets = [k for k in times if k.startswith("(b)")]
    for net in nets:
        full = times[net.replace("(b) network only", "(c) full predict")]
        t_net = times[net]
        print(
            f"{net[4:]}: full / max(decode, network) {full / max(t_decode, t_net):.2f} (target <= 1.1); "
            f"full / max(decode + preprocess, network) {full / max(t_prep, t_net):.2f}"
        )
    if len(nets) > 1:
        base = nets[0]
        for net in nets[1:]:
            full, full0 = (times[n.replace("(b) network only", "(c) full predict")] for n in (net, base))
            speedup = f"network {times[base] / times[net]:.2f}x, full {full0 / full:.2f}x faster"
            print(f"{net[4:]} against {base[4:]}: {speedup}")


if __name__ == "__main__":
    main()
