"""Labelling many short videos: plain `predict` in this process (the library, one model, all threads) against Ray
Data with 1 actor (all threads) and 2 actors (the threads shared out), on the same generated videos, in one run:
wall time, videos per second, each Ray run's throughput as a ratio of predict's, and its overhead (wall time beyond
predict's). Ray's own start (a local instance, started once as a cluster is) is shown apart. Every Ray run's
records are checked against predict's, video for video. Target on 2 cores: Ray >= 0.9x predict's throughput.

    python bench/bench_scale.py                          # 200 videos of 3 s, 320x240, the shipped model
    python bench/bench_scale.py --videos 400 --seconds 2 --model m.safetensors
    python bench/bench_scale.py --quick                  # smoke run: 6 videos of 1 s

Needs the `ray` extra (pip install 'actionrec[ray]'). The videos are generated once into --cache; the Ray instance
listens on the loopback interface only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from _inputs import CACHE, model_file
from _timing import header

from actionrec.io.files import atomic_path
from actionrec.io.output import OutputFormat, result_writer
from actionrec.io.video import quiet_decoder_logs
from actionrec.ray_predict import predict_dataset, ray_session, read_results
from actionrec.runtime.pipeline import load


def short_videos(count: int, seconds: float, size: tuple[int, int], cache: Path) -> list[Path]:
    """`count` distinct mp4v clips (a square and a disc moving at a speed of their own), written once."""
    width, height = size
    folder = cache / f"scale-{width}x{height}-{seconds:g}s"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"clip{i:04d}.mp4"
        paths.append(path)
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        background = rng.integers(0, 80, size=(height, width, 3), dtype=np.uint8)
        speed = 0.05 + 0.1 * rng.random()
        with atomic_path(path) as tmp:
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (width, height))
            for t in range(round(seconds * 25)):
                frame = background.copy()
                x = int((width - 40) * (0.5 + 0.5 * np.sin(t * speed)))
                cv2.rectangle(frame, (x, height // 3), (x + 40, height // 3 + 40), (40, 40, 230), -1)
                cv2.circle(
                    frame, (width // 2, int(height * (0.5 + 0.3 * np.cos(t * speed * 2)))), 15, (40, 220, 40), -1
                )
                writer.write(frame)
            writer.release()
    return paths


def run_predict(videos: list[Path], model: Path, threads: int, output: Path) -> tuple[float, dict[str, dict]]:
    """Plain predict in this process: open the model, label every video into a JSON Lines file. Wall seconds and
    the records by video."""
    start = time.perf_counter()
    recognizer = load(model, threads=threads)
    with result_writer(OutputFormat.jsonl, output) as write:
        for result in recognizer.predict_many(videos):
            write(result)
    seconds = time.perf_counter() - start
    records = [json.loads(line) for line in output.read_text().splitlines()]
    return seconds, {r["video"]: r for r in records}


def run_ray(videos: list[Path], model: Path, actors: int, threads: int, output: Path) -> tuple[float, dict[str, dict]]:
    """predict_dataset on the running Ray instance: wall seconds (actors' start included) and the records."""
    start = time.perf_counter()
    run = predict_dataset(videos, model, output=output, actors=actors, threads_per_actor=threads, progress=False)
    seconds = time.perf_counter() - start
    assert run.videos == len(videos), run
    return seconds, {r["video"]: r for r in read_results(output)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=200, help="how many videos")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each video")
    parser.add_argument("--size", type=int, nargs=2, default=(320, 240), metavar=("W", "H"))
    parser.add_argument("--model", type=Path, help="model file [default: the shipped model]")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="the machine's cores to use")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 videos of 1 s")
    args = parser.parse_args()
    if args.quick:
        args.videos, args.seconds = 6, 1.0
    quiet_decoder_logs()
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a local instance on 127.0.0.1 (before ray loads)
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        model = model_file(args.model, work)
        videos = short_videos(args.videos, args.seconds, tuple(args.size), args.cache)
        print(header())
        print(f"{len(videos)} videos of {args.seconds:g} s ({args.size[0]}x{args.size[1]} mp4v), model {model.name}")
        predict_s, expected = run_predict(videos, model, args.threads, work / "predict.jsonl")
        rows = [("predict, in process", f"1 model, {args.threads} threads", predict_s)]
        differ = 0
        start = time.perf_counter()
        with ray_session(num_cpus=args.threads):
            ray_start = time.perf_counter() - start
            half = max(args.threads // 2, 1)
            for actors, threads in ((1, args.threads), (args.threads // half, half)):
                seconds, records = run_ray(videos, model, actors, threads, work / f"ray{actors}")
                differ += sum(records.get(video) != record for video, record in expected.items())
                rows.append(
                    (
                        f"Ray Data, {actors} actor{'s' if actors > 1 else ''}",
                        f"{threads} thread{'s' * (threads > 1)} each",
                        seconds,
                    )
                )
        print(f"load average after: {os.getloadavg()[0]:.1f}; Ray's local instance started in {ray_start:.1f} s")
        print()
        print("| run | threads | wall s | videos/s | vs predict | overhead s |")
        print("|---|---|---|---|---|---|")
        for name, threads, seconds in rows:
            rate = len(videos) / seconds
            print(
                f"| {name} | {threads} | {seconds:.1f} | {rate:.2f} | {predict_s / seconds:.2f}x "
                f"| {seconds - predict_s:+.1f} |"
            )
        same = "all equal" if not differ else f"{differ} differ"
        print(f"\nRay's records against predict's, video for video: {same}.")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
