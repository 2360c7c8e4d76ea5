"""Few-shot fine-tuning on real people: train on 1, 2 or 3 people (every class), test on the people left out, from
the shipped synthetic model (or given pre-trained model files, --init) and from scratch. Reports held-out video
accuracy and training time per row.

    python bench/bench_fewshot.py                                  # both sets, 1-3 people, every rotation
    python bench/bench_fewshot.py --sets ud810 --people 1          # one row pair
    python bench/bench_fewshot.py --quick                          # 1 epoch, 1 draw: proves the plumbing
    python bench/bench_fewshot.py --init plain=runs/plain/last.safetensors att=runs/att/last.safetensors
                                   # attention against plain, from equally pre-trained weights: a row per file

Data: ../shared/data/real (weizmann4: 4 classes, 7 people s0-s6, each recording also mirrored as `_flip`; ud810:
3 classes, 2 people P1-P2). Split BY PERSON: draw d of n people trains on people d, d+1, ..., d+n-1 (in a cycle)
and tests on all the others, so each person is in training n times over the draws. Training uses a person's
mirrored copies; testing scores the original recordings only (a mirror is the same recording).
Runs: "shipped" is exactly what a user gets from `actionrec train DATA --output RUN --init default` (the fine-tuning
recipe, `train.FINE_TUNE`); "scratch" trains the shipped model's network and input from random weights with the
same epochs, AdamW and cosine schedule (lr --scratch-lr: the fine-tuning lr is too small from scratch).
--init [NAME=]PATH ... replaces the shipped start by these model files (or installed names), each fine-tuned the
same way (`--init PATH`, its own network and input) with the same epochs and seed, in a row labelled NAME or the
file's stem (its folder/stem where stems collide); scratch then runs only when --starts names it.
Video score = mean of K evenly spaced windows (`actionrec.scoring`), as `actionrec evaluate` reports it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
REAL = ROOT.parent / "shared" / "data" / "real"


@dataclass(frozen=True)
class RealSet:
    name: str
    person: str  # regex on the file name; group 1 is the person
    test_filter: str | None = None  # regex a held-out file name must match to be scored (None: all)


SETS = {
    "weizmann4": RealSet("weizmann4", r"_(s\d+)_", test_filter=r"_orig\.avi$"),
    "ud810": RealSet("ud810", r"(P\d+)T\d+"),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REAL, help="folder holding weizmann4/ and ud810/")
    p.add_argument("--sets", default="weizmann4,ud810", help="comma-separated subset of: " + ", ".join(SETS))
    p.add_argument("--people", type=int, nargs="+", default=[1, 2, 3], help="training people per run")
    p.add_argument(
        "--starts",
        nargs="+",
        default=None,
        choices=["shipped", "scratch"],
        help="shipped: the pre-trained start(s) [default: shipped scratch; with --init: shipped, i.e. its files]",
    )
    p.add_argument(
        "--init",
        nargs="+",
        default=None,
        metavar="[NAME=]PATH",
        help="pre-trained model files (or installed names) in place of the shipped model: a row each",
    )
    p.add_argument("--draws", type=int, default=None, help="rotations per row [default: one per person]")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run [default: the fine-tuning recipe's]")
    p.add_argument("--scratch-lr", type=float, default=0.0015, help="peak lr of the from-scratch runs")
    p.add_argument("--clips", type=int, default=5, help="evenly spaced windows per test video")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    p.add_argument("--quick", action="store_true", help="1 epoch, 1 draw per row: a smoke test")
    return p.parse_args(argv)


def parse_inits(specs: list[str]) -> list[tuple[str, str]]:
    """--init's [NAME=]PATH values as (row label, path or installed name): NAME, else the file's stem, else (stems
    that collide) folder/stem. Labels that still collide, or name a start already ("scratch"), raise ValueError."""
    named = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if sep and name and "/" not in name and path:
            named.append((name, path, True))
        else:
            named.append((Path(spec).stem, spec, False))
    stems = [name for name, _, _ in named]
    out = []
    for name, path, given in named:
        if not given and stems.count(name) > 1:
            name = f"{Path(path).parent.name}/{name}"
        out.append((name, path))
    labels = [name for name, _ in out]
    clash = sorted({name for name in labels if labels.count(name) > 1 or name == "scratch"})
    if clash:
        raise ValueError(f"--init: row label(s) {', '.join(clash)} taken twice; name them: --init NAME=PATH")
    return out


def plan_starts(inits: list[str] | None, starts: list[str] | None) -> list[tuple[str, str | None]]:
    """The rows' starts as (label, init: a model file or installed name; None from scratch), in --starts order:
    "shipped" stands for the --init files (default: the shipped model, labelled shipped)."""
    pretrained = parse_inits(inits) if inits else [("shipped", "default")]
    if starts is None:
        starts = ["shipped"] if inits else ["shipped", "scratch"]
    out: list[tuple[str, str | None]] = []
    for start in dict.fromkeys(starts):
        out += pretrained if start == "shipped" else [("scratch", None)]
    return out


def run_one(args, labels, train_rows, test_items, *, init: str | None, out: Path) -> dict:
    """Train one model (the CLI's fine-tuning recipe from `init`, or from scratch when it is None) and score the
    held-out videos."""
    from actionrec.hub import resolve_model
    from actionrec.io.checkpoint import read_meta
    from actionrec.runtime.backends import BackendKind, Precision
    from actionrec.runtime.pipeline import load
    from actionrec.scoring import evaluate
    from actionrec.training import TrainConfig, fine_tune_epochs, train

    csv = out.parent / f"{out.name}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    csv.write_text("path,label,group\n" + "".join(f"{p},{label},{g}\n" for p, label, g in train_rows))
    common = {"data": csv, "out": out, "layout": "csv", "val_fraction": 0.0, "seed": args.seed, "workers": 0}
    if args.epochs or args.quick:
        common["epochs"] = 1 if args.quick else args.epochs
    if "epochs" not in common:  # the fine-tuning recipe's, for both starts
        common["epochs"] = fine_tune_epochs(len(train_rows), TrainConfig(**common, init="default").batch_size)
    if init is not None:
        config = TrainConfig(**common, init=init)
    else:  # the same network and input as the shipped model, random weights, the fine-tuning optimiser
        meta = read_meta(resolve_model("default"))
        spec = meta.preprocessing
        config = TrainConfig(
            **common,
            arch=meta.arch,
            arch_args=meta.arch_args,
            clip_len=spec.clip_len,
            frame_step=spec.frame_step,
            resize=spec.resize,
            crop=spec.crop,
            optimizer="adamw",
            schedule="cosine",
            weight_decay=0.05,
            lr=args.scratch_lr,
            cache=True,
        )
    t0 = time.perf_counter()
    result = train(config, progress=False)
    seconds = time.perf_counter() - t0
    recognizer = load(result.last, backend=BackendKind.torch, precision=Precision.fp32)
    report = evaluate(recognizer, test_items, labels, clips_per_video=args.clips)
    hits = [o.label == o.predicted for o in report.outcomes]
    return {
        "train_seconds": round(seconds, 1),
        "epochs": config.epochs,
        "correct": int(sum(hits)),
        "videos": len(hits),
        "wrong": [(Path(o.video).name, o.label, o.predicted) for o in report.outcomes if o.label != o.predicted],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from _timing import header
    from bench_real import people_of  # file name -> person, the same rule as the real-video bench

    from actionrec.errors import ActionrecError
    from actionrec.hub import resolve_model

    try:
        starts = plan_starts(args.init, args.starts)
        for _, init in starts:  # a missing file stops here, not after the rows before it trained
            if init is not None:
                resolve_model(init, option="init")
    except (ValueError, ActionrecError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    print(header(), file=sys.stderr)
    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    present = [n for n in names if n in SETS and (args.data / n).is_dir()]
    for n in names:
        if n not in present:
            print(f"skipped {n}: {args.data / n} not found (or not a known set)", file=sys.stderr)
    if not present:
        print("no real data here: nothing to do", file=sys.stderr)
        return 0

    from actionrec.data import DataLayout, VideoItem, open_dataset

    results: dict = {"protocol": __doc__.split("Data:")[1].strip(), "rows": []}
    with tempfile.TemporaryDirectory(prefix="bench-fewshot-") as tmp:
        for name in present:
            spec = SETS[name]
            split = open_dataset(args.data / name, layout=DataLayout.folder, val_fraction=0.0)
            labels, items = split.labels, list(split.train)
            person = people_of([it.path for it in items], spec.person)
            people = sorted(set(person.values()), key=lambda s: (len(s), s))
            for n in args.people:
                if n >= len(people):
                    print(f"skipped {name} with {n} training people: it has {len(people)}", file=sys.stderr)
                    continue
                draws = 1 if args.quick else min(args.draws or len(people), len(people))
                for start, init in starts:
                    runs = []
                    for d in range(draws):
                        chosen = {people[(d + k) % len(people)] for k in range(n)}
                        train_rows = [
                            (it.path, labels[it.label], person[it.path]) for it in items if person[it.path] in chosen
                        ]
                        test = [
                            VideoItem(it.path, it.label, person[it.path])
                            for it in items
                            if person[it.path] not in chosen
                            and (spec.test_filter is None or re.search(spec.test_filter, it.path.name))
                        ]
                        out = Path(tmp) / name / f"{n}p-{start.replace('/', '-')}-{d}"
                        r = run_one(args, labels, train_rows, test, init=init, out=out)
                        r["train_people"] = sorted(chosen, key=lambda s: (len(s), s))
                        runs.append(r)
                        print(
                            f"# {name} {n} person(s) {start} {r['train_people']}: {r['correct']}/{r['videos']} "
                            f"held-out videos, {r['train_seconds']} s ({r['epochs']} epochs)",
                            file=sys.stderr,
                        )
                    correct = sum(r["correct"] for r in runs)
                    videos = sum(r["videos"] for r in runs)
                    per_run = [r["correct"] / r["videos"] for r in runs]
                    results["rows"].append(
                        {
                            "set": name,
                            "people": n,
                            "start": start,
                            "init": init,  # the model file or installed name fine-tuned; None from scratch
                            "draws": len(runs),
                            "accuracy": correct / videos,
                            "worst_draw": min(per_run),
                            "correct": correct,
                            "videos": videos,
                            "train_seconds_mean": round(float(np.mean([r["train_seconds"] for r in runs])), 1),
                            "train_seconds_max": max(r["train_seconds"] for r in runs),
                            "runs": runs,
                        }
                    )
    print(markdown(results["rows"]))
    if args.out is not None:
        from actionrec.io.files import write_text_atomic

        write_text_atomic(args.out, json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def markdown(rows: list[dict]) -> str:
    lines = [
        "| set | training people | start | held-out video accuracy (all draws) | worst draw | train time per run |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['people']} | {r['start']} | {100 * r['accuracy']:.1f} % ({r['correct']}/{r['videos']},"
            f" {r['draws']} draws) | {100 * r['worst_draw']:.1f} % | {r['train_seconds_mean']:.0f} s (max "
            f"{r['train_seconds_max']:.0f} s) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
