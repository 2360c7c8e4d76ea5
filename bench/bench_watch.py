"""Label latency, dropped frames and memory of `actionrec watch` on a long stream: a video of the sample clips played
over and over (samples/sequence.mp4 and the single-action clips, 25 fps, 128x128), delivered in real time as a
camera would (`--realtime`), watched by the library's `Watcher` (what `actionrec watch` runs) in this process.

Latency is the time from a window's last frame arriving to its label line being written (to /dev/null, flushed).
Targets with the shipped model on 2 cores: p95 latency <= 0.5 s, no frame dropped, and peak RSS at the end <= 1.1x
peak RSS after the first minute (memory flat over the run).

    python bench/bench_watch.py                   # 10 minutes, shipped model, 1 network thread (watch's default)
    python bench/bench_watch.py --minutes 2 --threads 2
    python bench/bench_watch.py --quick           # smoke run: 15 s

The machine is shared: the run prints the highest 1-minute load average it saw and the network's own time per
window, so that a latency tail can be told apart from other processes taking the cores.

The stream is generated once into --cache (mp4v; its frames are the samples' own).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import cv2
import numpy as np
from _inputs import CACHE
from _timing import header

from actionrec.io.files import atomic_path
from actionrec.runtime.live import LiveConfig, Watcher
from actionrec.runtime.pipeline import Recognizer, load

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CLIPS = ("sequence", "jumping_jack", "punch", "sit_down", "walk_left", "wave_both_hands")


def looped_samples(minutes: float, cache: Path = CACHE) -> Path:
    """The sample clips concatenated in turn until `minutes` of 25 fps video, written once per length."""
    path = cache / f"watch-samples-{minutes:g}min.mp4"
    if path.exists():
        return path
    clips = []
    for name in CLIPS:
        cap = cv2.VideoCapture(str(SAMPLES / f"{name}.mp4"))
        frames = []
        while (frame := cap.read()[1]) is not None:
            frames.append(frame)
        cap.release()
        clips.append(frames)
    total = round(minutes * 60 * 25)
    height, width = clips[0][0].shape[:2]
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (width, height))
        if not writer.isOpened():
            raise SystemExit(f"{tmp}: OpenCV cannot write mp4v here")
        written, k = 0, 0
        while written < total:
            for frame in clips[k % len(clips)][: total - written]:
                writer.write(frame)
                written += 1
            k += 1
        writer.release()
    return path


class TimedBackend:
    """The back end, noting the seconds of each network call."""

    def __init__(self, inner):
        self.inner, self.meta, self.name = inner, inner.meta, inner.name
        self.seconds: list[float] = []

    def __call__(self, clips):
        start = time.perf_counter()
        logits = self.inner(clips)
        self.seconds.append(time.perf_counter() - start)
        return logits


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the stream [default: 10]")
    parser.add_argument("--model", help="model file or installed name [default: the shipped model]")
    parser.add_argument("--threads", type=int, default=1, help="network threads [default: 1, watch's]")
    parser.add_argument("--stride", type=int, help="frames between window starts [default: watch's]")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the generated stream is kept")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--quick", action="store_true", help="smoke run: a 15 s stream")
    args = parser.parse_args()
    if args.quick:
        args.minutes = 0.25

    stream = looped_samples(args.minutes, args.cache)
    recognizer = load(args.model, threads=args.threads, streams=1)  # as watch opens it: one window a call
    network = TimedBackend(recognizer.backend)
    print(header())
    print(
        f"stream: {stream.name}, {args.minutes:g} min at 25 fps, 128x128, --realtime; model "
        f"{recognizer.meta.arch} {recognizer.meta.preprocessing.clip_len}x{recognizer.meta.preprocessing.crop}, "
        f"back end {recognizer.backend.name}, {args.threads} threads",
        flush=True,
    )
    mark_s = min(60.0, args.minutes * 60 / 2)  # "after the first minute" (half the run when shorter than 2)
    rss_mark = None
    latencies = []
    sink = open(os.devnull, "w")  # noqa: SIM115  (the printed lines go nowhere; the write and flush are timed)
    started = time.monotonic()
    load_max = os.getloadavg()[0]
    with Watcher(Recognizer(network), str(stream), LiveConfig(realtime=True, stride=args.stride)) as watcher:
        for label in watcher.labels():
            got = time.monotonic()
            sink.write(json.dumps(label.to_dict()) + "\n")
            sink.flush()
            latencies.append(label.latency_s + time.monotonic() - got)
            load_max = max(load_max, os.getloadavg()[0])
            if rss_mark is None and label.end_s >= mark_s:
                rss_mark = peak_rss_mib()
        stats = watcher.stats()
    wall = time.monotonic() - started
    rss_end = peak_rss_mib()
    lat = np.array(latencies)
    p50, p95, worst = (float(np.percentile(lat, q)) for q in (50, 95, 100))
    net = np.array(network.seconds[1:])  # the first call is the warm-up on a blank clip
    net50, net95 = (float(np.percentile(net, q)) for q in (50, 95))
    ratio = rss_end / rss_mark if rss_mark else float("nan")
    print(
        f"watched {stats.seconds:.1f} s of stream in {wall:.1f} s: {stats.frames} frames, {stats.windows} windows "
        f"labelled, {stats.skipped_windows} skipped, {stats.dropped_frames} frames dropped"
    )
    print(f"label latency (last frame in -> line written): p50 {p50:.3f} s, p95 {p95:.3f} s, max {worst:.3f} s")
    print(f"network per window: p50 {net50:.3f} s, p95 {net95:.3f} s; highest 1-min load average seen: {load_max:.1f}")
    print(f"peak RSS: {rss_mark:.0f} MiB after {mark_s:g} s of stream, {rss_end:.0f} MiB at the end: {ratio:.3f}x")
    checks = {
        "p95 latency <= 0.5 s": p95 <= 0.5,
        "no frames dropped": stats.dropped_frames == 0,
        "peak RSS end / first minute <= 1.1": ratio <= 1.1,
    }
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'MISS'} {name}")
    if args.json:
        figures = {
            "minutes": args.minutes,
            "threads": args.threads,
            "frames": stats.frames,
            "windows": stats.windows,
            "skipped_windows": stats.skipped_windows,
            "dropped_frames": stats.dropped_frames,
            "latency_p50_s": p50,
            "latency_p95_s": p95,
            "latency_max_s": worst,
            "network_p50_s": net50,
            "network_p95_s": net95,
            "load_max": load_max,
            "rss_mark_mib": rss_mark,
            "rss_end_mib": rss_end,
            "header": header(),
        }
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
