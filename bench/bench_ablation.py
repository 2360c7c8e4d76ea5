"""Which renderer lever transfers to real people: each row renders the synthetic benchmark with one lever of the
renderer switched off, trains the same small network with the same short recipe on it, and scores the result
zero-shot on the real people (bench_zeroshot.py) and on its own held-out actors. Seeds repeat a row's training.

    python bench/bench_ablation.py --out ablation.json                          # every row, seed 0, ~70 min
    python bench/bench_ablation.py --rows full --seeds 0 1 2 --out full.json    # the seed spread of one row
    python bench/bench_ablation.py --rows full --seeds 0 1 2 --no-attention     # the plain 3D ResNet (issue 30)
    python bench/bench_ablation.py --merge a.json b.json --out ablation.json    # one table from runs side by side
    python bench/bench_ablation.py --quick                                      # tiny everything: the plumbing

Rows (`ROWS`): `full` is the shipped renderer (`SynthConfig()`); each other row is it with one lever off:
appearance (the flat bright cartoon figure), scenes (flat grey background, no distractors or light gradients),
camera (whole figure at half to full frame height, no zoom, shake, roll, pan or elevation), sensor (no noise,
blur, grey-scale, low resolution, JPEG blocking, exposure, tint or flicker), motion styles (one style per class).
Recipe, the same for every row: the shipped model's two stages at a small scale. Stage 1 trains on the plain
variant of the row's renderer (`SynthConfig.plain()` with the row's appearance and motion styles), stage 2 on
the row's renderer from stage 1's weights; r3d10 width 16, 8 frames 6 apart at 64x64 (rendered at 64x64, so
no resize), AdamW, cosine, the model card's augmentation. Data are rendered once per row (seed 0) and shared by
its seeds; a seed changes the training (initialisation, order, augmentation). Scores: video accuracy, mean of 10
windows, on both real sets (`bench/label_maps`) and on the row's held-out synthetic actors.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
REAL = ROOT.parent / "shared" / "data" / "real"

# Each row: (what is switched off, the SynthConfig fields it sets).
ROWS: dict[str, tuple[str, dict]] = {
    "full": ("nothing: the shipped renderer", {}),
    "appearance": ("flat bright cartoon figures, one build", {"appearance": False}),
    "scenes": (
        "flat grey background, no distractors, light gradient or defocus",
        {"textured": False, "distractors": (0, 0), "illumination": 0.0, "background_blur": (0.0, 0.0)},
    ),
    "camera": (
        "whole figure at 0.5-0.95 of the frame, still camera, no elevation",
        {"figure_height": (0.5, 0.95), "elevation": 0.0, "pan": 0.0, "zoom": (1.0, 1.0), "shake": 0.0, "roll": 0.0},
    ),
    "sensor": (
        "clean sensor: no noise, blur, grey-scale, low resolution, blocking, exposure, tint or flicker",
        {
            "gain": (1.0, 1.0),
            "tint": 0.0,
            "flicker": 0.0,
            "noise": (0.0, 0.0),
            "blur": (0.0, 0.0),
            "grey": 0.0,
            "low_res": (1.0, 1.0),
            "compression": 0.0,
        },
    ),
    "motion": ("one motion style per class", {"motion_styles": False}),
}
SIZE = (64, 64)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS), help="which rows to run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds per row")
    p.add_argument("--attention", action=argparse.BooleanOptionalAction, default=True, help="attention blocks")
    p.add_argument("--clips-per-class", type=int, default=60, help="stage-2 clips rendered per class")
    p.add_argument("--stage1-clips", type=int, default=40, help="stage-1 (plain) clips rendered per class")
    p.add_argument("--epochs", type=int, default=12, help="stage-2 epochs")
    p.add_argument("--stage1-epochs", type=int, default=6, help="stage-1 epochs")
    p.add_argument("--threads", type=int, default=1, help="torch threads per training")
    p.add_argument("--real", type=Path, default=REAL, help="folder holding weizmann4/ and ud810/")
    p.add_argument("--work", type=Path, default=None, help="where data and runs go [default: a temporary folder]")
    p.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    p.add_argument("--merge", type=Path, nargs="+", default=None, help="join the JSON of earlier runs into one table")
    p.add_argument("--quick", action="store_true", help="tiny data, one epoch each: proves the plumbing")
    args = p.parse_args(argv)
    if args.quick:
        args.clips_per_class, args.stage1_clips, args.epochs, args.stage1_epochs = 2, 2, 1, 1
    return args


def row_config(row: str, *, plain: bool = False):
    """The SynthConfig of `row`, or of its stage 1 (the plain scene, with the row's figure and motion levers)."""
    from actionrec.synth import DEFAULT_CONFIG, SynthConfig

    fields = ROWS[row][1]
    if not plain:
        return replace(DEFAULT_CONFIG, **fields)
    keep = {k: v for k, v in fields.items() if k in ("appearance", "motion_styles")}
    return replace(SynthConfig.plain(), **keep)


def render(folder: Path, config, clips_per_class: int, seed: int = 0) -> Path:
    """The benchmark of `config` in `folder` (kept when it is already complete with the same settings)."""
    from actionrec.synth import write_benchmark

    card = folder / "synth.json"
    if not card.exists():
        write_benchmark(folder, clips_per_class=clips_per_class, seed=seed, size=SIZE, config=config, force=True)
    return folder


def train(data: Path, run: Path, *, init: Path | None, epochs: int, seed: int, attention: bool, threads: int) -> dict:
    """One `actionrec train` run of the small recipe; returns its time and last training accuracy."""
    shutil.rmtree(run, ignore_errors=True)  # an interrupted earlier run of this row
    cmd = [sys.executable, "-m", "actionrec", "train", str(data), "-o", str(run)]
    cmd += ["--arch", "r3d10", "--width", "16", "--attention" if attention else "--no-attention"]
    cmd += ["--clip-len", "8", "--frame-step", "6", "--crop", "64", "--resize", "64", "--epochs", str(epochs)]
    cmd += ["-b", "8", "--optimizer", "adamw", "--lr", "0.0015", "--weight-decay", "0.05", "--schedule", "cosine"]
    cmd += ["--warmup-epochs", "0.5", "--no-hflip", "--seed", str(seed), "--workers", "1", "--threads", str(threads)]
    cmd += ["--val-clips", "2", "--precision", "fp32"]
    if init is None:
        cmd += ["--crop-scales", "1"]
    else:
        cmd += ["--init", str(init), "--color-jitter", "0.3", "--channel-shuffle", "--crop-scales", "1,0.9,0.8"]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"training failed ({' '.join(cmd)}):\n{done.stderr[-2000:]}")
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    return {"seconds": round(time.perf_counter() - started, 1), "train_acc": last["train_acc"]}


def zeroshot(model: Path, real: Path, out: Path, threads: int) -> dict[str, dict] | None:
    """bench_zeroshot.py on `model`: per set, right/videos; None without real data."""
    cmd = [sys.executable, str(ROOT / "bench" / "bench_zeroshot.py"), "-m", str(model), "--data", str(real)]
    cmd += ["--precision", "fp32", "--threads", str(threads), "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"zero-shot scoring failed:\n{done.stderr[-2000:]}")
    if not out.exists():
        return None
    sets = json.loads(out.read_text())["sets"]
    return {s["set"]: {"right": s["video_correct"], "videos": s["videos"]} for s in sets}


def synthetic_score(model: Path, data: Path, threads: int) -> float:
    """Video accuracy on the row's held-out actors, as `actionrec evaluate` scores it (K=10)."""
    from actionrec.data import open_dataset
    from actionrec.runtime.backends import Precision
    from actionrec.runtime.pipeline import load
    from actionrec.scoring import evaluate

    split = open_dataset(data)
    with load(model, precision=Precision.fp32, threads=threads) as rec:
        report = evaluate(rec, split.val, split.labels, clips_per_video=10)
    return float(report.video_top1)


def run_row(row: str, seed: int, args: argparse.Namespace, work: Path) -> dict:
    """Render (once per row), train both stages, score; one result row."""
    stage1_key = "plain-" + "-".join(f"{k}{v}" for k, v in ROWS[row][1].items() if k in ("appearance", "motion_styles"))
    plain = render(work / "data" / stage1_key, row_config(row, plain=True), args.stage1_clips, seed=1)
    data = render(work / "data" / row, row_config(row), args.clips_per_class)
    net = "att" if args.attention else "plain"
    stage1 = work / "runs" / f"{stage1_key}-{net}-s{seed}"
    if not (stage1 / "last.safetensors").exists():
        train(plain, stage1, init=None, epochs=args.stage1_epochs, seed=seed, attention=args.attention,
              threads=args.threads)  # fmt: skip
    run = work / "runs" / f"{row}-{net}-s{seed}"
    trained = train(data, run, init=stage1 / "last.safetensors", epochs=args.epochs, seed=seed,
                    attention=args.attention, threads=args.threads)  # fmt: skip
    model = run / "last.safetensors"
    real = zeroshot(model, args.real, run / "zeroshot.json", args.threads)
    result = {"row": row, "off": ROWS[row][0], "seed": seed, "attention": args.attention, "real": real}
    result["synthetic"] = synthetic_score(model, data, args.threads)
    result["train_seconds"], result["train_acc"] = trained["seconds"], trained["train_acc"]
    print(f"# {row} seed {seed} ({net}): {json.dumps(result['real'])} synthetic {result['synthetic']:.3f}",
          file=sys.stderr)  # fmt: skip
    return result


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def markdown(results: list[dict]) -> str:
    """One line per (row, network): mean ± sd over seeds of each set's video accuracy, both sets, synthetic."""
    lines = [
        "| row | switched off | network | seeds | Weizmann % | ud810 % | both % | synthetic held-out % |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    keys = list(dict.fromkeys((r["row"], r["attention"]) for r in results))
    for row, attention in keys:
        group = [r for r in results if r["row"] == row and r["attention"] == attention]
        acc: dict[str, list[float]] = {"weizmann4": [], "ud810": [], "both": []}
        for r in group:
            if r["real"]:
                for name, s in r["real"].items():
                    acc.setdefault(name, []).append(s["right"] / s["videos"])
                right = sum(s["right"] for s in r["real"].values())
                acc["both"].append(right / sum(s["videos"] for s in r["real"].values()))
        synthetic = [r["synthetic"] for r in group]
        net = "attention" if attention else "plain"
        cells = [_mean_sd(acc["weizmann4"]), _mean_sd(acc["ud810"]), _mean_sd(acc["both"]), _mean_sd(synthetic)]
        lines.append(f"| {row} | {group[0]['off']} | {net} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.merge:
        results = [r for path in args.merge for r in json.loads(path.read_text())["results"]]
        machine = json.loads(args.merge[0].read_text()).get("machine", "")
    else:
        from _timing import header

        from actionrec.synth import DEFAULT_CONFIG

        machine = header()
        print(f"renderer levers, {machine}; full renderer: {asdict(DEFAULT_CONFIG)}", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="ablation-") as tmp:
            work = args.work or Path(tmp)
            os.environ.setdefault("ACTIONREC_NO_PROGRESS", "1")
            results = [run_row(row, seed, args, work) for row in args.rows for seed in args.seeds]
    print(f"{machine}\n")
    print(markdown(results))
    if args.out is not None:
        args.out.write_text(json.dumps({"machine": machine, "args": sys.argv[1:], "results": results}, indent=2))
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
