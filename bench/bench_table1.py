"""The paper's Table 1 at our scale: plain 3D ResNet, 3D ResNet with attention, 3D DenseNet with and without
attention, and C3D, trained with the same recipe and the same wall-clock budget on the synthetic benchmark, then
scored on its held-out actors (testlist01.txt). Reports video and clip top-1, parameters, GFLOPs per clip, the
epochs each network got and its training time, as a markdown table (stdout) and JSON (--out).

    python bench/bench_table1.py --out table1.json      # 6 networks x 5 min + evaluation: ~40 min on 2 CPU cores
    python bench/bench_table1.py --quick                # tiny networks, tiny rendered data, 1 epoch: the plumbing

Two halves side by side, one thread each (on 2 cores that trains more clips per second than one 2-thread run),
then one table:

    python bench/bench_table1.py --models r3d,r3d-att,r3d-att34 --threads 1 --out a.json &
    python bench/bench_table1.py --models dense,dense-att,c3d --threads 1 --out b.json; wait
    python bench/bench_table1.py --merge a.json b.json --out table1.json

Protocol:
- recipe and preprocessing: the shipped model's (`--base-model`, its metadata's training recipe: optimizer, lr,
  schedule, augmentation), or the fallback (r3d10 width 16, 16 frames every 2nd, crop 64 of resize 64, batch 16,
  lr 0.1, cosine, 1 warmup epoch, no flips); fp32, the same seed for every network; trained from scratch (new
  attention starting as the identity) on trainlist01, plus every clip of `--extra-train` folders (e.g. the
  benchmark's plain-background variant, which lets a network leave chance within minutes), with no per-epoch
  validation.
- sizes: the ResNets have the base width W; the DenseNet growth 3W/4 with blocks (4, 8, 12, 8) and C3D width 3W/4
  with 512 hidden units, which puts all five within about 0.7-1.3 M parameters and 1.0-1.2 GFLOPs at 16x64x64.
- budget: each network gets --minutes-per-model of training. Its epochs are calibrated from timed training steps
  on real batches (the same loader, cache and workers as `train`): epochs = floor(budget / estimated epoch time).
- a run whose loss diverges (C3D has no batch norm) is restarted at a tenth of the lr, at most twice, for any
  network; the lr it finished with is reported, and so is a run that ends at chance on its own training clips.
  --lr replaces the recipe's lr for every network run (e.g. `--models c3d --lr 0.01` for a C3D row apart).
- score: `actionrec.scoring`, video = mean softmax of K evenly spaced windows (--clips), the same for every
  network; one seed, so with 128 test videos one video is 0.8 points (the +- column is the binomial standard error).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

FALLBACK = {  # the shipped model's recipe, used when no base model file exists
    "arch": "r3d10",
    "width": 16,
    "clip_len": 16,
    "frame_step": 2,
    "crop": 64,
    "resize": 64,
    "batch_size": 16,
    "lr": 0.1,
    "schedule": "cosine",
    "warmup_epochs": 1.0,
    "hflip": False,
}
DENSE_BLOCKS = (4, 8, 12, 8)  # DenseNet layers per block: with growth 3W/4, the FLOPs of r3d10 at width W


@dataclass(frozen=True)
class Recipe:
    """What every network shares: preprocessing and optimisation (the base model's, or the fallback)."""

    arch: str  # the ResNet depth of the base model (r3d10, r3d18, ...)
    width: int  # W: the ResNet width; the other networks' sizes follow from it
    clip_len: int  # clip settings: the base model's preprocessing, so that the inputs are the same
    frame_step: int
    crop: int
    resize: int
    batch_size: int  # optimisation: the base model's recipe
    lr: float  # peak lr; a run that diverges or stays at chance is restarted at lr / 10
    schedule: str = "cosine"  # "cosine" or "step"
    workers: int = 1  # decoding processes beside the training process
    source: str = ""  # where the recipe came from, in words
    # The base model's choices where its metadata has them; None: TrainConfig's own (from scratch).
    momentum: float | None = None
    nesterov: bool | None = None
    optimizer: str | None = None  # "sgd" (the paper's) or "adamw", as the base model was trained
    weight_decay: float | None = None
    gamma: float | None = None  # step schedule only; milestones default to half and three quarters of the epochs
    warmup_epochs: float | None = None
    hflip: bool | None = None  # the fallback: off, walk_left / walk_right differ only by direction
    crop_scales: tuple[float, ...] | None = None  # the base model's augmentation
    color_jitter: float | None = None
    channel_shuffle: bool | None = None
    seed: int | None = None


TRAIN_CHOICES = tuple(f.name for f in fields(Recipe) if f.default is None)  # what TrainConfig fills when None


@dataclass(frozen=True)
class Contender:
    key: str  # short name for --models
    name: str  # the table's row name
    arch: str
    arch_args: dict  # builder arguments, attention included where the network has it
    attention: bool | None  # None: the network has no attention option (C3D)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="synthetic benchmark [default: data/synth]")
    p.add_argument("--base-model", type=Path, default=None, help="recipe source [default: the shipped model]")
    p.add_argument("--minutes-per-model", type=float, default=5.0, help="training budget of each network")
    p.add_argument("--epochs", type=int, default=None, help="the same epochs for all instead of the time budget")
    p.add_argument("--max-epochs", type=int, default=200)
    p.add_argument("--models", default="r3d,r3d-att,r3d-att34,dense,dense-att,c3d", help="comma-separated subset")
    p.add_argument("--lr", type=float, default=None, help="peak lr for every network [default: the recipe's]")
    p.add_argument("--clips", type=int, default=5, help="K evenly spaced windows per test video (3..10)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (the machine's cores)")
    p.add_argument("--cache-dir", type=Path, default=ROOT / "data" / "cache", help="decoded-frame cache")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    p.add_argument("--keep", type=Path, default=None, help="keep the run folders here (default: a temporary one)")
    p.add_argument("--extra-train", type=Path, nargs="*", default=[], help="UCF-101-layout folders: all clips train")
    p.add_argument("--quick", action="store_true", help="tiny networks, tiny rendered data, 1 epoch")
    p.add_argument("--merge", type=Path, nargs="+", default=None, help="join the JSON results of separate runs")
    return p.parse_args(argv)


# ---- what is trained ----


def base_recipe(path: Path | None) -> Recipe:
    """The shipped model's recipe from its metadata, or FALLBACK when the file does not exist."""
    from actionrec.io.checkpoint import read_meta
    from actionrec.runtime.pipeline import default_model_path

    path = path or default_model_path()
    if not path.exists():
        return Recipe(**FALLBACK, source=f"fallback ({path} not found)")
    meta = read_meta(path)
    raw = meta.training.get("recipe") or meta.training  # train() stores the TrainConfig dict under "recipe"
    pre = meta.preprocessing
    arch = meta.arch if meta.arch.startswith("r3d") else FALLBACK["arch"]
    choices = {
        f: raw[f]
        for f in (
            "momentum",
            "nesterov",
            "optimizer",
            "weight_decay",
            "schedule",
            "gamma",
            "warmup_epochs",
            "hflip",
            "seed",
            "color_jitter",
            "channel_shuffle",
        )
        if f in raw
    }
    if "crop_scales" in raw:
        choices["crop_scales"] = tuple(float(v) for v in raw["crop_scales"])
    return Recipe(
        arch=arch,
        width=int(meta.arch_args.get("width", FALLBACK["width"])),
        clip_len=pre.clip_len,
        frame_step=pre.frame_step,
        crop=pre.crop,
        resize=pre.resize,
        batch_size=int(raw.get("batch_size", FALLBACK["batch_size"])),
        lr=float(raw.get("lr", FALLBACK["lr"])),
        workers=int(raw["workers"]) if raw.get("workers") is not None else 1,
        source=str(path),
        **choices,
    )


def quick_recipe(recipe: Recipe) -> Recipe:
    """The same recipe on tiny networks and clips, on one core."""
    return replace(recipe, width=4, clip_len=8, frame_step=1, crop=32, resize=32, batch_size=8, workers=0)


def contenders(recipe: Recipe, quick: bool) -> list[Contender]:
    w = recipe.width
    small = max(round(3 * w / 4), 2)
    hidden = 32 if quick else 512
    return [
        Contender("r3d", "3D ResNet", recipe.arch, {"width": w, "attention": False}, False),
        Contender("r3d-att", "3D ResNet + attention", recipe.arch, {"width": w, "attention": True}, True),
        Contender(
            "r3d-att34",
            "3D ResNet + attention, stages 3-4 only",
            recipe.arch,
            {"width": w, "attention": True, "attention_stages": [3, 4]},
            True,
        ),
        Contender(
            "dense",
            "3D DenseNet",
            "dense3d",
            {"growth": small, "block_layers": DENSE_BLOCKS, "attention": False},
            False,
        ),
        Contender(
            "dense-att",
            "3D DenseNet + attention",
            "dense3d",
            {"growth": small, "block_layers": DENSE_BLOCKS, "attention": True},
            True,
        ),
        Contender("c3d", "C3D", "c3d", {"width": small, "hidden": hidden}, None),
    ]


def train_config(recipe: Recipe, who: Contender, data_csv: Path, out: Path, epochs: int, lr: float, cache_dir: Path):
    """The run of one network: the recipe's choices, TrainConfig's own defaults where the recipe has none."""
    from actionrec.training import TrainConfig, resolve

    chosen = {name: getattr(recipe, name) for name in TRAIN_CHOICES if getattr(recipe, name) is not None}
    return resolve(
        TrainConfig(
            data=data_csv,
            out=out,
            layout="csv",
            val_fraction=0.0,  # no per-epoch validation: the test split is scored once, after training
            arch=who.arch,
            arch_args=dict(who.arch_args),
            clip_len=recipe.clip_len,
            frame_step=recipe.frame_step,
            crop=recipe.crop,
            resize=recipe.resize,
            epochs=epochs,
            batch_size=recipe.batch_size,
            lr=lr,
            schedule=recipe.schedule,
            precision="fp32",
            device="cpu",
            workers=recipe.workers,
            cache=True,
            cache_dir=cache_dir,
            **chosen,
        )
    )


def as_run(recipe: Recipe, config) -> dict:
    """The recipe as the networks train with it: TrainConfig's values where the recipe left a choice open."""
    ran = config.to_dict()
    return {name: ran[name] if value is None else value for name, value in asdict(recipe).items()}


# ---- timing: the epochs that fit the budget ----


def _one_thread(_worker_id: int) -> None:
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def epoch_seconds(config, items, num_classes: int, timed_steps: int = 4) -> float:
    """Estimated seconds of one training epoch: real batches from the training loader (same cache and workers),
    forward, backward and SGD step. The first step (worker start-up, first batch) is counted once per epoch,
    the median of the next `timed_steps` for every other step."""
    import torch
    from torch.utils.data import DataLoader

    from actionrec.data import FrameCache
    from actionrec.networks import build
    from actionrec.training import training_clips

    data = training_clips(items, config, FrameCache(config.cache_dir))
    workers = config.workers or 0
    loader = DataLoader(
        data,
        batch_size=config.batch_size,
        shuffle=True,
        num_workers=workers,
        worker_init_fn=_one_thread if workers else None,
        generator=torch.Generator().manual_seed(config.seed),
    )
    torch.manual_seed(config.seed)
    model = build(config.arch, num_classes=num_classes, **config.arch_args).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=config.momentum, nesterov=config.nesterov)
    times = []
    t0 = time.perf_counter()
    for x, y in loader:  # x (B, 3, T, crop, crop)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        times.append(t1 - t0)
        t0 = t1
        if len(times) > timed_steps:
            break
    steps = math.ceil(len(items) / config.batch_size)
    per_step = float(np.median(times[1:])) if len(times) > 1 else times[0]
    return times[0] + (steps - 1) * per_step


# ---- one network ----

MAX_ATTEMPTS = 3  # a run whose loss diverges is restarted at lr / 10, at most twice


def at_chance(train_acc: float, num_classes: int) -> bool:
    """Whether a finished run's final training accuracy is still at chance (it did not learn in its budget)."""
    return train_acc < 1.5 / num_classes


def run_one(args, recipe: Recipe, who: Contender, data_csv: Path, split, runs: Path, quick: bool) -> dict:
    """Calibrate, train (restarting at lr / 10 if the loss diverges), evaluate: one row of the table."""
    from rich.console import Console

    from actionrec.data import DataLayout, open_dataset
    from actionrec.errors import ActionrecError
    from actionrec.networks import build, count_parameters, gflops_per_clip
    from actionrec.runtime.backends import BackendKind, Precision
    from actionrec.runtime.pipeline import load
    from actionrec.scoring import evaluate
    from actionrec.training import train

    train_items = open_dataset(data_csv, layout=DataLayout.csv, val_fraction=0.0).train
    num_classes = len(split.labels)
    budget_s = args.minutes_per_model * 60
    config = train_config(recipe, who, data_csv, runs / who.key, 1, recipe.lr, args.cache_dir)
    net = build(who.arch, num_classes=num_classes, **who.arch_args)
    params = count_parameters(net)
    gflops = gflops_per_clip(net, config.preprocessing.input_shape)
    del net
    est_epoch_s = epoch_seconds(config, train_items, num_classes)
    if quick:
        epochs = 1
    elif args.epochs:
        epochs = args.epochs
    else:
        epochs = int(np.clip(math.floor(budget_s / est_epoch_s), 1, args.max_epochs))
    print(
        f"# {who.name}: {who.arch} {who.arch_args}, {params / 1e6:.2f} M params, {gflops:.2f} GFLOPs/clip; "
        f"epoch ~{est_epoch_s:.1f} s -> {epochs} epoch(s)",
        file=sys.stderr,
    )
    lr, notes, result, train_s = recipe.lr, [], None, 0.0
    for attempt in range(MAX_ATTEMPTS):
        config = train_config(recipe, who, data_csv, runs / f"{who.key}-{attempt}", epochs, lr, args.cache_dir)
        t0 = time.perf_counter()
        try:
            result, failure = train(config, progress=False, console=Console(stderr=True)), None
        except ActionrecError as e:
            if "the loss became" not in str(e):
                raise
            failure = f"diverged ({e})"
        train_s = time.perf_counter() - t0
        if failure is None:
            break
        last_try = attempt == MAX_ATTEMPTS - 1
        notes.append(f"lr {lr:g} {failure}; " + ("gave up" if last_try else f"restarted at lr {lr / 10:g}"))
        print(f"# {who.name}: {notes[-1]}", file=sys.stderr)
        if last_try:
            break
        lr /= 10
    row = {
        "key": who.key,
        "model": who.name,
        "arch": who.arch,
        "arch_args": who.arch_args,
        "attention": who.attention,
        "params": params,
        "gflops_per_clip": round(gflops, 4),
        "lr": lr,
        "estimated_epoch_seconds": round(est_epoch_s, 2),
        "train_seconds": round(train_s, 1),
        "notes": notes,
    }
    if result is not None and not quick and at_chance(result.history[-1]["train_acc"], num_classes):
        notes.append(f"ended at chance on its own training clips ({result.history[-1]['train_acc']:.1%})")
    if result is not None:
        print(
            f"# {who.name}: {result.epochs_done} epoch(s) in {train_s:.0f} s "
            f"(estimated {epochs * est_epoch_s:.0f} s, budget {budget_s:.0f} s)",
            file=sys.stderr,
        )
    if result is None:  # diverged every time: a row without scores, the other networks still run
        return {**row, "video_acc": None, "video_acc_se": None, "clip_acc": None, "epochs": 0, "protocol": None}
    recognizer = load(result.last, backend=BackendKind.torch, precision=Precision.fp32, threads=args.threads)
    report = evaluate(recognizer, split.val, split.labels, clips_per_video=args.clips)
    last = result.history[-1]
    return {
        **row,
        "video_acc": report.video_top1,
        "video_acc_se": math.sqrt(report.video_top1 * (1 - report.video_top1) / report.videos),
        "clip_acc": report.clip_top1,
        "mean_class_acc": report.mean_class_accuracy,
        "test_videos": report.videos,
        "test_clips": report.clips,
        "epochs": result.epochs_done,
        "measured_epoch_seconds": round(float(np.mean([h["time"] for h in result.history])), 2),
        "final_train_loss": last["train_loss"],
        "final_train_acc": last["train_acc"],
        "eval_seconds": round(report.seconds, 1),
        "protocol": report.protocol,
    }


# ---- the benchmark ----


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out)
    if not 1 <= args.clips <= 32:
        print("error: --clips must be between 1 and 32", file=sys.stderr)
        return 2
    if args.quick:
        args.threads = 1
    import torch

    torch.set_num_threads(args.threads)
    from actionrec.errors import ActionrecError

    tmp = Path(tempfile.mkdtemp(prefix="bench-table1-"))
    try:
        return _bench(args, tmp)
    except ActionrecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bench(args: argparse.Namespace, tmp: Path) -> int:
    from actionrec.data import DataLayout, FrameCache, open_dataset
    from actionrec.io.files import write_text_atomic

    t_start, load_start = time.perf_counter(), os.getloadavg()[0]
    recipe = base_recipe(args.base_model)
    if args.lr is not None:
        recipe = replace(recipe, lr=args.lr, source=f"{recipe.source}, lr {args.lr:g} from --lr")
    if args.quick:
        recipe = quick_recipe(recipe)
        args.cache_dir = tmp / "cache"
    data = args.data
    if data is None and args.quick:  # a tiny benchmark: 16 classes, 2 actors, 1 clip each
        from actionrec.synth import write_benchmark

        data = write_benchmark(tmp / "synth", clips_per_class=2, size=(64, 64), frames=24).out
    data = (data or ROOT / "data" / "synth").resolve()  # the CSV list below holds paths relative to its own folder
    split = open_dataset(data, layout=DataLayout.ucf101)
    everyone = contenders(recipe, args.quick)
    wanted = [k.strip() for k in args.models.split(",") if k.strip()]
    unknown = sorted(set(wanted) - {c.key for c in everyone})
    if unknown:
        print(
            f"error: unknown model(s) {', '.join(unknown)}; known: {', '.join(c.key for c in everyone)}",
            file=sys.stderr,
        )
        return 2
    chosen = [c for c in everyone if c.key in wanted]

    train_items = list(split.train)
    for extra in args.extra_train:  # every clip of these, both of their lists, trains; their test actors too
        more = open_dataset(extra.resolve(), layout=DataLayout.ucf101)
        if more.labels != split.labels:
            print(f"error: {extra}: its classes differ from {data}'s", file=sys.stderr)
            return 2
        train_items += [replace(it, group=f"extra-{it.group}") for it in (*more.train, *more.val)]
    data_csv = tmp / "train.csv"  # the training clips as a CSV list: a run with no validation split
    data_csv.write_text(
        "path,label,group\n" + "".join(f"{it.path},{split.labels[it.label]},{it.group}\n" for it in train_items)
    )
    first = train_config(recipe, chosen[0], data_csv, tmp, 1, recipe.lr, args.cache_dir)
    spec, recipe_run = first.preprocessing, as_run(recipe, first)
    cache, t0 = FrameCache(args.cache_dir), time.perf_counter()
    for it in train_items:  # decoded once, before any timing: no network pays for decoding
        cache.frames(it.path, spec)
    print(
        f"# {split.summary()}\n# recipe ({recipe.source}): {recipe_run}\n"
        f"# frame cache {args.cache_dir}: ready in {time.perf_counter() - t0:.0f} s; "
        f"{len(chosen)} networks x {args.minutes_per_model:g} min; load average {load_start:.1f} "
        "(the budget is wall-clock: run it on an otherwise idle machine)",
        file=sys.stderr,
    )
    runs = args.keep or tmp / "runs"
    rows = [run_one(args, recipe, who, data_csv, split, runs, args.quick) for who in chosen]
    results = {
        "protocol": __doc__.split("Protocol:")[1].strip(),
        "evaluation": next((r["protocol"] for r in rows if r["protocol"]), None),
        "data": str(data),
        "extra_train": [str(p) for p in args.extra_train],
        "train_videos": len(train_items),
        "test_videos": len(split.val),
        "recipe": recipe_run,
        "minutes_per_model": args.minutes_per_model,
        "epochs_per_model": args.epochs,  # set: the same epochs for all, instead of the time budget
        "clips_per_video": args.clips,
        "threads": args.threads,
        "load_average_at_start": round(load_start, 2),
        "quick": args.quick,
        "rows": rows,
        "attention_gain": attention_gain(rows),
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    print(markdown(results))
    if args.out is not None:
        write_text_atomic(args.out, json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def merge(parts: list[Path], out: Path | None) -> int:
    """One table from the JSON of runs over disjoint --models subsets with the same data and recipe."""
    from actionrec.io.files import write_text_atomic

    loaded = [json.loads(p.read_text()) for p in parts]
    first = loaded[0]
    for p, other in zip(parts[1:], loaded[1:], strict=True):
        for key in ("data", "recipe", "minutes_per_model", "epochs_per_model", "clips_per_video", "extra_train"):
            if other.get(key) != first.get(key):
                print(f"error: {p}: its {key} differs from {parts[0]}'s", file=sys.stderr)
                return 2
    keys = [r["key"] for part in loaded for r in part["rows"]]
    if len(set(keys)) != len(keys):
        print("error: a model appears in more than one part", file=sys.stderr)
        return 2
    rows = [r for part in loaded for r in part["rows"]]
    results = {
        **first,
        "rows": rows,
        "attention_gain": attention_gain(rows),
        "parts": [str(p) for p in parts],
        "jobs_side_by_side": len(parts),
        "seconds": max(part["seconds"] for part in loaded),
    }
    print(markdown(results))
    if out is not None:
        write_text_atomic(out, json.dumps(results, indent=2) + "\n")
        print(f"wrote {out}", file=sys.stderr)
    return 0


def attention_gain(rows: list[dict]) -> dict[str, float]:
    """Video accuracy with attention minus without, per family that has both rows (the paper's claim: > 0)."""
    by_key = {r["key"]: r for r in rows}
    return {
        family: by_key[f"{family}-att"]["video_acc"] - by_key[family]["video_acc"]
        for family in ("r3d", "dense")
        if by_key.get(family, {}).get("video_acc") is not None
        and by_key.get(f"{family}-att", {}).get("video_acc") is not None
    }


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def markdown(results: dict) -> str:
    r = results["recipe"]
    extra = results.get("extra_train") or []
    epochs = results.get("epochs_per_model")
    budget = f"{epochs} epochs" if epochs else f"{results['minutes_per_model']:g} min"
    jobs = results.get("jobs_side_by_side", 1)
    lines = [
        f"Table 1 at our scale{' (--quick)' if results['quick'] else ''}: {results['data']}"
        + (f" (+ all of {', '.join(extra)} for training)" if extra else "")
        + ", "
        f"{r['clip_len']} frames (every {r['frame_step']}) x {r['crop']}^2 (resize {r['resize']}), batch "
        f"{r['batch_size']}, lr {r['lr']:g} {r['schedule']}, {budget} per network, "
        f"{results['threads']} thread(s)" + (f", {jobs} runs side by side" if jobs > 1 else ""),
        f"evaluation: {results['evaluation']} ({results['test_videos']} held-out videos)",
        "",
        "| model | attention | video acc | clip acc | params | GFLOPs/clip | epochs | train time | train acc | lr |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        att = "-" if row["attention"] is None else ("yes" if row["attention"] else "no")
        lines.append(
            f"| {row['model']} | {att} | {_pct(row['video_acc'])}"
            + ("" if row["video_acc_se"] is None else f" +- {100 * row['video_acc_se']:.1f}")
            + f" | {_pct(row['clip_acc'])} | {row['params'] / 1e6:.2f} M | {row['gflops_per_clip']:.2f} "
            f"| {row['epochs']} | {row['train_seconds']:.0f} s | {_pct(row.get('final_train_acc'), 0)} "
            f"| {row['lr']:g} |"
        )
    lines.append("")
    for family, gain in results["attention_gain"].items():
        name = {"r3d": "3D ResNet", "dense": "3D DenseNet"}[family]
        lines.append(f"attention - plain, {name}: {100 * gain:+.1f} points of video accuracy")
    for row in results["rows"]:
        for note in row["notes"]:
            lines.append(f"{row['model']}: {note}")
    lines.append(f"total {results['seconds']:.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
