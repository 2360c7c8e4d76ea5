"""Peak resident memory of `actionrec predict` on a short and a long generated video (default 1 and 10 minutes),
each in its own fresh process (`python -m actionrec predict VIDEO --format jsonl`, results discarded), read from
that child's own rusage (ru_maxrss via os.wait4). Decoding streams one window at a time, so memory should not grow
with the video's length: target long / short <= 1.1.

    python bench/bench_memory.py                          # 1 and 10 minutes, shipped model
    python bench/bench_memory.py --minutes 1 10 --model m.safetensors --batch-size 8
    python bench/bench_memory.py --quick                  # smoke run: 10 s and 20 s videos, 1 thread

Videos are generated once (mp4v, 320x240, 25 fps) into --cache. Without a shipped model, a random r3d10 width 16
model at 16x64x64 (the shipped configuration) stands in.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _inputs import CACHE, long_video, model_file
from _timing import header


def peak_rss_mib(video: Path, model: Path, args: argparse.Namespace, log: Path) -> tuple[float, float]:
    """Peak RSS (MiB) of a fresh `actionrec predict` process on `video`, and its wall seconds."""
    cmd = [sys.executable, "-m", "actionrec", "predict", str(video), "--model", str(model), "--format", "jsonl"]
    cmd += ["--batch-size", str(args.batch_size)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    start = time.perf_counter()
    with open(log, "w") as err:
        # stdout to /dev/null by redirection: `-o /dev/null` would write a temp file and rename it over /dev/null
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (RUSAGE_CHILDREN would be the max of all)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"predict failed on {video} (exit {proc.returncode}):\n{log.read_text()}")
    return usage.ru_maxrss / 1024, seconds  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model file [default: the shipped model, else a random stand-in]")
    parser.add_argument("--minutes", type=float, nargs=2, default=[1.0, 10.0], metavar=("SHORT", "LONG"))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, help="network threads [default: predict's]")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where generated videos are kept")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 s and 20 s videos, 1 thread")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.threads = [10 / 60, 20 / 60], 1

    print(header().split(",", 1)[0] + ", one fresh `python -m actionrec predict` process per video")
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        model = model_file(args.model, Path(tmp))
        print(f"model: {model}, batch {args.batch_size}, threads {args.threads or 'default'}")
        peaks = []
        for minutes in args.minutes:
            video = long_video(minutes * 60, cache=args.cache)
            rss, seconds = peak_rss_mib(video, model, args, Path(tmp) / "stderr.txt")
            peaks.append(rss)
            print(f"  {minutes * 60:6.0f} s video: peak RSS {rss:8.1f} MiB  ({seconds:.1f} s)")
    print(f"long / short: {peaks[1] / peaks[0]:.3f}  (target <= 1.1)")


if __name__ == "__main__":
    main()
