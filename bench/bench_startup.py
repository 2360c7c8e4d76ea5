"""Start-up: the wall time of whole `actionrec` processes, as a user in a shell meets it (issue 28 point 2).

Each command runs `--runs` times after one untimed warm-up run (the files in the page cache: a warm start), in
rounds that run every command once in turn, so that a change in the machine's load hits them all alike. Prints the
CPU, the load average, and per command the median with the spread (fastest, slowest) and the median CPU time (user
+ system: steadier than wall time on a loaded machine); two reference rows give the floor (an empty interpreter)
and what `import torch` alone costs. Targets: `--help` and `info` <= 0.3 s, predict on a 2-second clip with the
default model (`--backend auto`) <= 0.8 s.

Then `--backend auto`'s rule (`runtime.pipeline.AUTO_ONNX_MAX_CLIPS`): in a fresh process per back end, the seconds
from nothing imported to the shipped model open, and the network's seconds per clip in batches of 8 as predict runs
it; ONNX Runtime is ahead while clips x (its time per clip - torch's) stays under torch's extra opening time.

    python bench/bench_startup.py                # 10 runs each: the measurement in docs/speed.md
    python bench/bench_startup.py --quick        # 2 runs each: checks the script works
    git archive 4565ddf | tar -x -C /tmp/before && python bench/bench_startup.py --compare /tmp/before
                                                 # also the commands of another checkout, in the same rounds
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

from actionrec.cpu import cpu_facts

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"--help": 0.3, "info": 0.3, "predict (auto)": 0.8}  # seconds, median


def actionrec_command() -> list[str]:
    """The `actionrec` console script beside this interpreter, as a user runs it; else `python -m actionrec`."""
    script = Path(sys.executable).parent / "actionrec"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "actionrec"]


def commands(exe: list[str], clip: Path, model: Path) -> dict[str, list[str]]:
    """The commands timed, by name: --help, info, and predict on each back end."""
    twin = model.with_suffix(".onnx")
    return {
        "--help": [*exe, "--help"],
        "info": [*exe, "info"],
        "predict (auto)": [*exe, "predict", str(clip)],
        "predict --backend torch": [*exe, "predict", str(clip), "--backend", "torch"],
        "predict --backend onnxruntime": [*exe, "predict", str(clip), "-m", str(twin), "--backend", "onnxruntime"],
    }


def all_rows(clip: Path, model: Path, compare: Path | None) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each row's command line and environment: the references (an empty interpreter, `import torch` alone), this
    checkout's commands, and with `compare` the same commands of that checkout (`python -m actionrec` on
    PYTHONPATH=compare, and so this checkout's too, for a fair comparison)."""
    env = dict(os.environ)
    rows = {
        "python (empty)": ([sys.executable, "-c", "pass"], env),
        "python -c 'import torch'": ([sys.executable, "-c", "import torch"], env),
    }
    module = [sys.executable, "-m", "actionrec"]
    after = [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []  # the caller's PYTHONPATH stays, behind the checkout

    def path(first: Path) -> str:
        return os.pathsep.join([str(first), *after])

    here = {**env, "PYTHONPATH": path(ROOT)}
    rows |= {
        name: (argv, here) for name, argv in commands(module if compare else actionrec_command(), clip, model).items()
    }
    if compare:
        other = {**env, "PYTHONPATH": path(compare.resolve())}
        rows |= {f"{name} [{compare.name}]": (argv, other) for name, argv in commands(module, clip, model).items()}
    return rows


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds of wall time and of CPU time (user + system, all its threads) of one process, run from the root
    folder (`python -m` puts its working folder first on sys.path: from the checkout it would shadow PYTHONPATH);
    it must succeed. On a loaded machine the CPU time is the steadier figure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd="/")
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def time_rows(rows: dict[str, tuple[list[str], dict[str, str]]], runs: int) -> dict[str, list[tuple[float, float]]]:
    """Each row's (wall, CPU) seconds: one warm-up run each, then `runs` interleaved rounds."""
    for argv, env in rows.values():
        run_once(argv, env)
    seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
    for _ in range(runs):
        for name, (argv, env) in rows.items():
            seconds[name].append(run_once(argv, env))
    return seconds


CHILD = """
import json, statistics, sys, time
start = time.perf_counter()
from actionrec.runtime.pipeline import load
recognizer = load({model!r}, backend={backend!r})
opened = time.perf_counter() - start
import numpy as np
clips = np.random.default_rng(0).standard_normal((8, *recognizer.meta.preprocessing.input_shape), dtype=np.float32)
recognizer.backend(clips)
seconds = []
for _ in range({batches}):
    t = time.perf_counter()
    recognizer.backend(clips)
    seconds.append(time.perf_counter() - t)
print(json.dumps({{"open_s": opened, "clip_s": statistics.median(seconds) / 8}}))
"""


def open_and_clip_seconds(model: Path, backend: str, batches: int) -> dict[str, float]:
    """In a fresh process: seconds to import and open `model` on `backend`, and the median seconds per clip."""
    code = CHILD.format(model=str(model), backend=backend, batches=batches)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    if done.returncode != 0:
        raise SystemExit(f"timing {backend} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def auto_rule(model: Path, runs: int) -> None:
    """Print each back end's opening time and time per clip (medians of `runs` fresh processes, interleaved), and
    the clip count up to which ONNX Runtime finishes first, beside the threshold `--backend auto` uses."""
    from actionrec.runtime.pipeline import AUTO_ONNX_MAX_CLIPS

    sides = {"torch": (model, "torch"), "onnxruntime": (model.with_suffix(".onnx"), "onnxruntime")}
    got: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for _ in range(runs):
        for name, (path, backend) in sides.items():
            got[name].append(open_and_clip_seconds(path, backend, batches=10))
    med = {n: {k: statistics.median(r[k] for r in rows) for k in ("open_s", "clip_s")} for n, rows in got.items()}
    print("\n| back end | import + open s | ms per clip (batch 8) |")
    print("|---|---:|---:|")
    for name, m in med.items():
        print(f"| {name} | {m['open_s']:.3f} | {1000 * m['clip_s']:.2f} |")
    head_start = med["torch"]["open_s"] - med["onnxruntime"]["open_s"]
    per_clip = med["onnxruntime"]["clip_s"] - med["torch"]["clip_s"]
    even = f"{head_start / per_clip:.0f} clips" if per_clip > 0 else "any number of clips (ONNX Runtime is faster)"
    print(
        f"\nONNX Runtime starts {head_start:.3f} s sooner and takes {1000 * per_clip:.2f} ms a clip more: it is ahead "
        f"up to {even}; auto uses it up to {AUTO_ONNX_MAX_CLIPS}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each command")
    parser.add_argument("--clip", type=Path, default=ROOT / "samples" / "punch.mp4", help="the short clip (2 s)")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "actionrec-default.safetensors")
    parser.add_argument("--compare", type=Path, help="another checkout (a folder holding actionrec/) to time beside")
    parser.add_argument("--quick", action="store_true", help="2 runs each: a smoke run, not a measurement")
    args = parser.parse_args()
    runs = 2 if args.quick else args.runs
    load = os.getloadavg()[0]
    print(
        f"{cpu_facts().model} ({os.cpu_count()} CPUs), load average {load:.1f}; python {sys.version.split()[0]}, "
        f"torch {version('torch')}, onnxruntime {version('onnxruntime')}"
    )
    print(f"{runs} warm runs of each command, interleaved; clip {args.clip.name}\n")
    seconds = time_rows(all_rows(args.clip, args.model, args.compare), runs)
    print("| command | median s | fastest | slowest | CPU s (median) | target |")
    print("|---|---:|---:|---:|---:|---|")
    for name, pairs in seconds.items():
        wall = [w for w, _ in pairs]
        median = statistics.median(wall)
        target = TARGETS.get(name)
        verdict = f"<= {target} {'met' if median <= target else 'MISSED'}" if target else ""
        cpu = statistics.median(c for _, c in pairs)
        print(f"| `{name}` | {median:.3f} | {min(wall):.3f} | {max(wall):.3f} | {cpu:.3f} | {verdict} |")
    auto_rule(args.model, runs)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
