"""Real video, held-out people: the attention network against the plain 3D ResNet (attention=False) trained with
the same budget, each from scratch and from the synthetic benchmark's weights (--init, classifier re-initialised),
on ../shared/data/real/weizmann4 and ../shared/data/real/ud810. Reports per-person held-out video accuracy and
training time as a markdown table (stdout) and JSON (--out).

    python bench/bench_real.py --out results.json            # full: about 30 minutes on 2 CPU cores
    python bench/bench_real.py --quick                       # 1 epoch, 1 fold, tiny model: proves the plumbing

Protocol (split BY PERSON, never by clip):
- weizmann4: 7 people (s0-s6) in 3 person folds, person i held out in fold i % 3 ({s0,s3,s6}, {s1,s4}, {s2,s5});
  train on the other folds' people with their mirrored `_flip` copies, test on the held-out people's original
  recordings only (a mirror is the same recording: counting both would count each recording twice).
- ud810: 2 people (P1, P2): leave one person out, both ways (train on 9 clips of one, test on the other's 9).
Every person is held out exactly once, so each is scored by models that never saw them. Networks: the shipped
default model's architecture and preprocessing (so that its weights fit --init), with attention on or off; all
four variants get the same number of epochs (chosen to fit --budget-min from a timed training step, or --epochs),
the same recipe (AdamW unless --optimizer sgd, cosine schedule, batch 8, multi-scale crops, flips) and the same
seed. Video score = mean of K evenly spaced windows (`actionrec.scoring`). Data are read in place (a CSV list in
a temporary folder) and decoded once into the frame cache; nothing is copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"


@dataclass(frozen=True)
class RealSet:
    name: str
    person: str  # regex on the file name; group 1 is the person
    folds: tuple[tuple[str, ...], ...]  # people held out together
    test_filter: str | None = None  # regex a held-out file name must match to be scored (None: all)


SETS = {
    "weizmann4": RealSet(
        "weizmann4", r"_(s\d+)_", (("s0", "s3", "s6"), ("s1", "s4"), ("s2", "s5")), test_filter=r"_orig\.avi$"
    ),
    "ud810": RealSet("ud810", r"(P\d+)T\d+", (("P1",), ("P2",))),
}
FALLBACK_ARCH = ("r3d10", {"width": 16})  # when no default model file exists to take the architecture from
FALLBACK_PRE = {"clip_len": 16, "frame_step": 1, "resize": 128, "crop": 112}
QUICK_ARCH = ("r3d10", {"width": 8})
QUICK_PRE = {"clip_len": 8, "frame_step": 1, "resize": 36, "crop": 32}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REAL, help="folder holding weizmann4/ and ud810/")
    p.add_argument("--sets", default="weizmann4,ud810", help="comma-separated subset of: " + ", ".join(SETS))
    p.add_argument("--init", type=Path, default=None, help="weights to start from [default: the shipped model]")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run [default: fit --budget-min]")
    p.add_argument("--budget-min", type=float, default=28.0, help="wall-clock budget for everything, minutes")
    p.add_argument("--max-epochs", type=int, default=30)
    p.add_argument("--optimizer", choices=["sgd", "adamw"], help="every run's [default: the fine-tuning recipe's]")
    p.add_argument("--lr", type=float, default=0.0015, help="peak learning rate from scratch")
    p.add_argument(
        "--lr-init", type=float, help="peak lr from the pretrained weights [default: the fine-tuning recipe's]"
    )
    p.add_argument("--weight-decay", type=float, help="every run's [default: the fine-tuning recipe's]")
    p.add_argument("--clips", type=int, default=5, help="evenly spaced windows per test video")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    p.add_argument("--keep", type=Path, default=None, help="keep the run folders here (default: a temporary folder)")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=Path.home() / ".cache" / "actionrec" / "frames",
        help="decoded-frame cache (filled before the runs, so that no run pays for decoding)",
    )
    p.add_argument("--quick", action="store_true", help="1 epoch, 1 fold per set, tiny model: a smoke test")
    return p.parse_args(argv)


# ---- what is trained ----


@dataclass(frozen=True)
class Plan:
    arch: str
    arch_args: dict  # without "attention"
    pre: dict  # clip_len, frame_step, resize, crop
    init: Path | None  # None: no pretrained runs
    init_note: str


def plan(args: argparse.Namespace, tmp: Path) -> Plan:
    """Architecture and preprocessing from the init model (so that its weights fit), or the fallback."""
    from actionrec.errors import ActionrecError
    from actionrec.io.checkpoint import read_meta
    from actionrec.runtime.pipeline import default_model_path

    if args.quick:  # a random tiny model file stands in for the pretrained one: the --init path still runs
        import torch

        from actionrec.io.checkpoint import save_model
        from actionrec.model_meta import ModelMeta, Preprocessing
        from actionrec.networks import build

        torch.manual_seed(args.seed)
        arch, arch_args = QUICK_ARCH
        meta = ModelMeta(
            arch, {**arch_args, "attention": True}, tuple(f"c{i}" for i in range(16)), Preprocessing(**QUICK_PRE)
        )
        init = save_model(tmp / "quick-init.safetensors", build(arch, num_classes=16, **meta.arch_args), meta)
        return Plan(arch, dict(arch_args), dict(QUICK_PRE), init, f"{init} (random weights: --quick)")
    init = args.init or default_model_path()
    if not init.exists():
        arch, arch_args = FALLBACK_ARCH
        note = f"{init}: not found; pretrained runs skipped, architecture {arch} {arch_args}"
        return Plan(arch, dict(arch_args), dict(FALLBACK_PRE), None, note)
    try:
        meta = read_meta(init)
    except ActionrecError as e:
        raise SystemExit(f"error: {e}") from None
    arch_args = {k: v for k, v in meta.arch_args.items() if k != "attention"}
    pre = {k: getattr(meta.preprocessing, k) for k in ("clip_len", "frame_step", "resize", "crop")}
    if not meta.arch.startswith("r3d"):
        return Plan(meta.arch, arch_args, pre, None, f"{init}: {meta.arch} is not an r3d network; no --init runs")
    return Plan(meta.arch, arch_args, pre, init, str(init))


def people_of(paths: list[Path], pattern: str) -> dict[Path, str]:
    found = {}
    for p in paths:
        m = re.search(pattern, p.name)
        if m is None:
            raise SystemExit(f"error: {p}: no person in the file name (expected {pattern!r})")
        found[p] = m.group(1)
    return found


def write_csv(path: Path, rows: list[tuple[Path, str, str]]) -> Path:
    path.write_text("path,label,group\n" + "".join(f"{p},{label},{g}\n" for p, label, g in rows))
    return path


# ---- timing: pick the epochs that fit the budget ----


def step_seconds(plan_: Plan, num_classes: int, batch: int, threads: int) -> float:
    """Seconds of one training step (forward + backward + SGD) of the attention network on a batch."""
    import torch

    from actionrec.networks import build

    torch.set_num_threads(threads)
    model = build(plan_.arch, num_classes=num_classes, **plan_.arch_args, attention=True).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, plan_.pre["clip_len"], plan_.pre["crop"], plan_.pre["crop"])
    y = torch.zeros(batch, dtype=torch.long)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[1:]))


# ---- one run ----


def run_one(
    args: argparse.Namespace,
    plan_: Plan,
    train_csv: Path,
    test_items: list,
    labels: tuple[str, ...],
    *,
    attention: bool,
    init: Path | None,
    epochs: int,
    out: Path,
) -> dict:
    from rich.console import Console

    from actionrec.runtime.backends import BackendKind, Precision
    from actionrec.runtime.pipeline import load
    from actionrec.scoring import evaluate
    from actionrec.training import FINE_TUNE, TrainConfig, train

    config = TrainConfig(
        data=train_csv,
        out=out,
        layout="csv",
        val_fraction=0.0,
        arch=plan_.arch,
        arch_args={**plan_.arch_args, "attention": attention},
        clip_len=plan_.pre["clip_len"],
        frame_step=plan_.pre["frame_step"],
        resize=plan_.pre["resize"],
        crop=plan_.pre["crop"],
        epochs=epochs,
        lr=args.lr if init is None else args.lr_init,  # None: the fine-tuning recipe's
        # every run, from scratch too, trains with the fine-tuning recipe (as the shipped model was trained)
        optimizer=args.optimizer or FINE_TUNE["optimizer"],
        weight_decay=FINE_TUNE["weight_decay"] if args.weight_decay is None else args.weight_decay,
        schedule=FINE_TUNE["schedule"],
        precision="fp32",
        device="cpu",
        workers=0,
        seed=args.seed,
        init=init,
        cache=True,  # the frame cache filled before the runs
        cache_dir=args.cache_dir,
    )
    init_summary = None
    if init is not None:  # what --init loads into this network (train() logs it only with progress on)
        from actionrec.hub.foreign import load_pretrained
        from actionrec.networks import build

        net = build(config.arch, num_classes=len(labels), **config.arch_args)
        init_summary = load_pretrained(net, init).summary().splitlines()[0]
    t0 = time.perf_counter()
    result = train(config, progress=False, console=Console(stderr=True))
    train_s = time.perf_counter() - t0
    recognizer = load(result.last, backend=BackendKind.torch, precision=Precision.fp32)
    report = evaluate(recognizer, test_items, labels, clips_per_video=args.clips)
    return {
        "train_seconds": round(train_s, 1),
        "train_loss": result.history[-1]["train_loss"],
        "train_acc": result.history[-1]["train_acc"],
        "outcomes": [(o.video, o.label, o.predicted) for o in report.outcomes],
        "eval_seconds": round(report.seconds, 1),
        "init": init_summary,
    }


VARIANTS = (  # (network, start)
    ("attention", "scratch"),
    ("plain", "scratch"),
    ("attention", "synthetic"),
    ("plain", "synthetic"),
)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)

    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETS]
    if unknown:
        print(f"error: unknown set(s) {', '.join(unknown)}; known: {', '.join(SETS)}", file=sys.stderr)
        return 2
    present = [n for n in names if (args.data / n).is_dir()]
    for n in names:
        if n not in present:
            print(f"skipped {n}: {args.data / n} not found", file=sys.stderr)
    if not present:
        print("no real data here: nothing to do", file=sys.stderr)
        return 0

    from actionrec.errors import ActionrecError

    tmp = Path(tempfile.mkdtemp(prefix="bench-real-"))
    runs_dir = args.keep or tmp / "runs"
    try:
        return _bench(args, present, tmp, runs_dir, t_start)
    except ActionrecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bench(args: argparse.Namespace, present: list[str], tmp: Path, runs_dir: Path, t_start: float) -> int:
    from actionrec.data import DataLayout, VideoItem, open_dataset
    from actionrec.io.files import write_text_atomic

    plan_ = plan(args, tmp)
    variants = [v for v in VARIANTS if v[1] == "scratch" or plan_.init is not None]
    sets = {}
    for n in present:
        split = open_dataset(args.data / n, layout=DataLayout.folder, val_fraction=0.0)
        items = list(split.train)
        spec = SETS[n]
        person = people_of([it.path for it in items], spec.person)
        folds = spec.folds[:1] if args.quick else spec.folds
        sets[n] = (split.labels, items, person, folds)

    from actionrec.data import FrameCache
    from actionrec.model_meta import Preprocessing

    cache = FrameCache(args.cache_dir)
    spec_ = Preprocessing(**plan_.pre)
    t_cache = time.perf_counter()
    for _labels, items, _person, _folds in sets.values():
        for it in items:
            cache.frames(it.path, spec_)
    print(f"# frame cache {args.cache_dir}: ready in {time.perf_counter() - t_cache:.0f} s", file=sys.stderr)

    # epochs: the same for every run, to fit the budget
    total_steps = 0
    test_clips = 0
    for _labels, items, person, folds in sets.values():
        for fold in folds:
            n_train = sum(person[it.path] not in fold for it in items)
            total_steps += len(variants) * -(-n_train // 8)
            test_clips += len(variants) * sum(person[it.path] in fold for it in items) * args.clips
    step_s = float("nan")
    if args.quick:
        epochs = 1
    elif args.epochs:
        epochs = args.epochs
    else:
        step_s = step_seconds(plan_, 16, 8, args.threads)
        eval_s = test_clips * step_s / 8 / 3  # forward only, a third of a step per clip
        left = args.budget_min * 60 - (time.perf_counter() - t_start)
        fit = (0.85 * left - eval_s) / max(total_steps * step_s, 1e-9)
        epochs = int(np.clip(np.floor(fit), 1, args.max_epochs))
    print(
        f"# plan: {plan_.arch} {plan_.arch_args}, clip {plan_.pre}, {epochs} epoch(s) per run, "
        f"{len(variants)} variants; init: {plan_.init_note}"
        + ("" if np.isnan(step_s) else f"; timed step {step_s:.2f} s"),
        file=sys.stderr,
    )

    results: dict = {
        "protocol": __doc__.split("Protocol")[1].strip(),
        "arch": plan_.arch,
        "arch_args": plan_.arch_args,
        "preprocessing": plan_.pre,
        "epochs": epochs,
        "init": plan_.init_note,
        "quick": args.quick,
        "sets": {},
    }
    t_all = time.perf_counter()
    for n, (labels, items, person, folds) in sets.items():
        spec = SETS[n]
        per_variant: dict = {f"{net}/{start}": defaultdict(list) for net, start in variants}
        times: dict = {f"{net}/{start}": 0.0 for net, start in variants}
        details: dict = {f"{net}/{start}": [] for net, start in variants}  # per fold: fit, init, videos
        for k, fold in enumerate(folds):
            train_rows = [(it.path, labels[it.label], person[it.path]) for it in items if person[it.path] not in fold]
            test = [
                VideoItem(it.path, it.label, person[it.path])
                for it in items
                if person[it.path] in fold and (spec.test_filter is None or re.search(spec.test_filter, it.path.name))
            ]
            csv = write_csv(tmp / f"{n}-fold{k}.csv", train_rows)
            for net, start in variants:
                key = f"{net}/{start}"
                print(f"# {n} fold {k + 1}/{len(folds)} (held out: {', '.join(fold)}): {key}", file=sys.stderr)
                r = run_one(
                    args,
                    plan_,
                    csv,
                    test,
                    labels,
                    attention=net == "attention",
                    init=plan_.init if start == "synthetic" else None,
                    epochs=epochs,
                    out=runs_dir / n / f"fold{k}" / key.replace("/", "-"),
                )
                times[key] += r["train_seconds"]
                details[key].append(
                    {
                        "held_out": list(fold),
                        "train_seconds": r["train_seconds"],
                        "final_train_loss": r["train_loss"],
                        "final_train_acc": r["train_acc"],
                        "init": r["init"],
                        "videos": [{"video": v, "label": t, "predicted": p} for v, t, p in r["outcomes"]],
                    }
                )
                for video, label, predicted in r["outcomes"]:
                    per_variant[key][person[Path(video)]].append(label == predicted)
        people = sorted({p for f in folds for p in f}, key=lambda s: (len(s), s))
        rows = []
        for key in per_variant:
            hits = per_variant[key]
            everyone = [h for p in people for h in hits[p]]
            rows.append(
                {
                    "variant": key,
                    "per_person": {p: float(np.mean(hits[p])) if hits[p] else None for p in people},
                    "per_person_videos": {p: len(hits[p]) for p in people},
                    "accuracy": float(np.mean(everyone)),
                    "videos": len(everyone),
                    "train_seconds": round(times[key], 1),
                    "folds": details[key],
                }
            )
        results["sets"][n] = {
            "classes": list(labels),
            "people": people,
            "folds": [list(f) for f in folds],
            "rows": rows,
        }
    results["seconds"] = round(time.perf_counter() - t_all, 1)
    print(markdown(results))
    if args.out is not None:
        write_text_atomic(args.out, json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def markdown(results: dict) -> str:
    pre = results["preprocessing"]
    lines = [
        f"Real video, held-out people: {results['arch']} {results['arch_args']}, "
        f"{pre['clip_len']}x{pre['crop']}x{pre['crop']} (resize {pre['resize']}), "
        f"{results['epochs']} epoch(s) per run{' (--quick)' if results['quick'] else ''}; init: {results['init']}",
        "",
    ]
    for n, s in results["sets"].items():
        people = s["people"]
        lines.append(f"**{n}** ({len(s['classes'])} classes, folds: {' | '.join(','.join(f) for f in s['folds'])})")
        lines.append("")
        lines.append("| network / start | " + " | ".join(people) + " | all | train time |")
        lines.append("|---|" + "---:|" * (len(people) + 2))
        for r in s["rows"]:
            cells = [
                "-" if r["per_person"][p] is None else f"{100 * r['per_person'][p]:.0f}% ({r['per_person_videos'][p]})"
                for p in people
            ]
            lines.append(
                f"| {r['variant']} | " + " | ".join(cells) + f" | {100 * r['accuracy']:.1f}% ({r['videos']}) "
                f"| {r['train_seconds']:.0f} s |"
            )
        lines.append("")
    lines.append(f"total {results['seconds']:.0f} s; cells: held-out video accuracy (videos)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
