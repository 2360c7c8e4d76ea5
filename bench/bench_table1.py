"""The paper's Table 1 at our scale: plain 3D ResNet, 3D ResNet with attention, 3D DenseNet with and without
attention, and C3D, trained with the same recipe and the same wall-clock budget on the synthetic benchmark, then
scored on its held-out actors (testlist01.txt), once per seed (--seeds). Reports per network the mean and standard
deviation over seeds of video and clip top-1, parameters, GFLOPs per clip, epochs and training time; per family the
paired difference attention minus plain on each seed and a verdict (the rule below), as markdown (stdout) and JSON
(--out, every seed's row kept).

    python bench/bench_table1.py --out table1.json      # 6 networks x 5 min + evaluation: ~40 min on 2 CPU cores
    python bench/bench_table1.py --seeds 0 1 2 --out table1.json          # the same, 3 seeds: 3x the time
    python bench/bench_table1.py --quick --seeds 0 1    # tiny networks, tiny rendered data, 1 epoch: the plumbing

Two halves side by side, one thread each (on 2 cores that trains more clips per second than one 2-thread run),
then one table:

    python bench/bench_table1.py --models r3d,r3d-att,r3d-att34 --seeds 0 1 2 --threads 1 --out a.json &
    python bench/bench_table1.py --models dense,dense-att,c3d --seeds 0 1 2 --threads 1 --out b.json; wait
    python bench/bench_table1.py --merge a.json b.json --out table1.json

--merge joins parts split by models, by seeds or both (each model and seed once), and refuses parts with another
recipe, data, budget or evaluation. Split by seeds only with --epochs: each process calibrates its own epochs.
With --out, the JSON is rewritten after every finished run, so a stopped run keeps its finished seeds.

Protocol:
- recipe and preprocessing: the shipped model's (`--base-model`, its metadata's training recipe: optimizer, lr,
  schedule, augmentation), or the fallback (r3d10 width 16, 16 frames every 2nd, crop 64 of resize 64, batch 16,
  lr 0.1, cosine, 1 warmup epoch, no flips); fp32; trained from scratch (new
  attention starting as the identity) on trainlist01, plus every clip of `--extra-train` folders (e.g. the
  benchmark's plain-background variant, which lets a network leave chance within minutes), with no per-epoch
  validation.
- sizes: the ResNets have the base width W; the DenseNet growth 3W/4 with blocks (4, 8, 12, 8) and C3D width 3W/4
  with 512 hidden units, which puts all five within about 0.7-1.3 M parameters and 1.0-1.2 GFLOPs at 16x64x64.
- seeds: a seed (TrainConfig.seed: initialisation, data order, augmentation) is the same for every network of its
  row; --seeds 0 1 2 trains every network once per seed [default: the recipe's seed, 0 unless the base model
  recorded another].
- budget: each network gets --minutes-per-model of training per seed. Its epochs are calibrated once (not per
  seed) from timed training steps on real batches (the same loader, cache and workers as `train`): epochs =
  floor(budget / estimated epoch time), the same for all its seeds; or --epochs for every network.
- a run whose loss diverges (C3D has no batch norm) is restarted at a tenth of the lr, at most twice, for any
  network; the lr it finished with is reported, and so is a run that ends at chance on its own training clips.
  --lr replaces the recipe's lr for every network run (e.g. `--models c3d --lr 0.01` for a C3D row apart).
- score: `actionrec.scoring`, video = mean softmax of K evenly spaced windows (--clips), the same for every
  network; with 128 test videos one video is 0.8 points. Over n >= 2 seeds a network's score is mean +- sample
  standard deviation; one seed shows the binomial standard error instead.
- verdict: attention minus plain video top-1 on each seed both ran (paired: same seed, same data order), d_1..d_n.
  A difference is called real when a two-sided paired t-test rejects "no difference" at 5 %:
  |t| = |mean d| / (sd d / sqrt n) > t_0.975(n - 1), i.e. 12.71 at 2 seeds, 4.30 at 3, 3.18 at 4, 2.78 at 5;
  otherwise "no real difference at n seeds", with the smallest mean difference that would have counted at the
  spread seen. One seed gives no verdict.
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
MODELS = ("r3d", "r3d-att", "r3d-att34", "dense", "dense-att", "c3d")  # the contenders' keys, in table order
COMPARISONS = (  # (plain, with attention, family): the paired differences and their verdicts
    ("r3d", "r3d-att", "3D ResNet"),
    ("r3d", "r3d-att34", "3D ResNet, attention in stages 3-4 only"),
    ("dense", "dense-att", "3D DenseNet"),
)
# t_0.975(df), df = 1..30: the two-sided 5 % critical value of Student's t (beyond 30: the value at 30, cautious)
T_CRITICAL = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
              2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
              2.045, 2.042)  # fmt: skip


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
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="train every network once per seed")
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


def calibrate(args, recipe: Recipe, who: Contender, data_csv: Path, num_classes: int, runs: Path, quick: bool) -> dict:
    """A network's size and its epochs for the budget: measured once, shared by all its seeds."""
    from actionrec.data import DataLayout, open_dataset
    from actionrec.networks import build, count_parameters, gflops_per_clip

    train_items = open_dataset(data_csv, layout=DataLayout.csv, val_fraction=0.0).train
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
        epochs = int(np.clip(math.floor(args.minutes_per_model * 60 / est_epoch_s), 1, args.max_epochs))
    print(
        f"# {who.name}: {who.arch} {who.arch_args}, {params / 1e6:.2f} M params, {gflops:.2f} GFLOPs/clip; "
        f"epoch ~{est_epoch_s:.1f} s -> {epochs} epoch(s) for every seed",
        file=sys.stderr,
    )
    return {"params": params, "gflops": gflops, "est_epoch_s": est_epoch_s, "epochs": epochs}


def run_one(args, recipe: Recipe, who: Contender, sized: dict, data_csv: Path, split, runs: Path, quick: bool) -> dict:
    """Train with the recipe's seed and the calibrated epochs (restarting at lr / 10 if the loss diverges), evaluate:
    one network's row for one seed."""
    from rich.console import Console

    from actionrec.errors import ActionrecError
    from actionrec.runtime.backends import BackendKind, Precision
    from actionrec.runtime.pipeline import load
    from actionrec.scoring import evaluate
    from actionrec.training import train

    num_classes = len(split.labels)
    budget_s = args.minutes_per_model * 60
    params, gflops, est_epoch_s, epochs = sized["params"], sized["gflops"], sized["est_epoch_s"], sized["epochs"]
    seed = recipe.seed  # set by _bench: one of --seeds
    name = f"{who.name} (seed {seed})"
    lr, notes, result, train_s = recipe.lr, [], None, 0.0
    for attempt in range(MAX_ATTEMPTS):
        out = runs / f"{who.key}-s{seed}-{attempt}"
        config = train_config(recipe, who, data_csv, out, epochs, lr, args.cache_dir)
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
        print(f"# {name}: {notes[-1]}", file=sys.stderr)
        if last_try:
            break
        lr /= 10
    row = {
        "key": who.key,
        "model": who.name,
        "seed": seed,
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
            f"# {name}: {result.epochs_done} epoch(s) in {train_s:.0f} s "
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
    if not chosen:
        print("error: --models names no network", file=sys.stderr)
        return 2

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
    spec, recipe_run = first.preprocessing, _seedless(as_run(recipe, first))
    seeds = list(dict.fromkeys(args.seeds)) if args.seeds else [first.seed]  # default: the recipe's (or 0)
    cache, t0 = FrameCache(args.cache_dir), time.perf_counter()
    for it in train_items:  # decoded once, before any timing: no network pays for decoding
        cache.frames(it.path, spec)
    print(
        f"# {split.summary()}\n# recipe ({recipe.source}): {recipe_run}\n"
        f"# frame cache {args.cache_dir}: ready in {time.perf_counter() - t0:.0f} s; "
        f"{len(chosen)} networks x {len(seeds)} seed(s) x {args.minutes_per_model:g} min; "
        f"load average {load_start:.1f} "
        "(the budget is wall-clock: run it on an otherwise idle machine)",
        file=sys.stderr,
    )
    runs = args.keep or tmp / "runs"
    header = {
        "protocol": __doc__.split("Protocol:")[1].strip(),
        "evaluation": None,
        "data": str(data) if args.data or not args.quick else "tiny rendered benchmark (--quick)",  # parts merge
        "extra_train": [str(p) for p in args.extra_train],
        "train_videos": len(train_items),
        "test_videos": len(split.val),
        "recipe": recipe_run,
        "seeds": seeds,
        "minutes_per_model": args.minutes_per_model,
        "epochs_per_model": args.epochs,  # set: the same epochs for all, instead of the time budget
        "clips_per_video": args.clips,
        "threads": args.threads,
        "load_average_at_start": round(load_start, 2),
        "quick": args.quick,
    }
    rows, sized = [], {}
    for seed in seeds:  # seed-major: a stopped run keeps whole seeds, every network of them paired
        for who in chosen:
            if who.key not in sized:
                sized[who.key] = calibrate(args, recipe, who, data_csv, len(split.labels), runs, args.quick)
            seeded = replace(recipe, seed=seed)
            rows.append(run_one(args, seeded, who, sized[who.key], data_csv, split, runs, args.quick))
            results = with_summary(header, rows, seconds=time.perf_counter() - t_start)
            if args.out is not None:
                write_text_atomic(args.out, json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    if args.out is not None:
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def with_summary(header: dict, rows: list[dict], seconds: float) -> dict:
    """The results file: the run's settings, every (network, seed) row, and what follows from the rows."""
    return {
        **header,
        "evaluation": header.get("evaluation") or next((r["protocol"] for r in rows if r.get("protocol")), None),
        "rows": rows,
        "models": summarize(rows),
        "attention": paired(rows),
        "seconds": round(seconds, 1),
    }


SAME_IN_EVERY_PART = ("data", "recipe", "minutes_per_model", "epochs_per_model", "clips_per_video", "extra_train",
                      "quick")  # fmt: skip


def _seedless(recipe: dict) -> dict:
    return {k: v for k, v in recipe.items() if k != "seed"}


def merge(parts: list[Path], out: Path | None) -> int:
    """One table from the JSON of runs side by side: parts over disjoint models, seeds, or both, with the same data,
    recipe, budget and evaluation (a part from before --seeds counts as its recipe's seed)."""
    from actionrec.io.files import write_text_atomic

    loaded = [json.loads(p.read_text()) for p in parts]
    for part in loaded:
        seed = part["recipe"].get("seed", 0)
        part["rows"] = [{**r, "seed": r.get("seed", seed)} for r in part["rows"]]
        part["recipe"] = _seedless(part["recipe"])
    first = loaded[0]
    for p, other in zip(parts[1:], loaded[1:], strict=True):
        for key in SAME_IN_EVERY_PART:
            if other.get(key) != first.get(key):
                print(f"error: {p}: its {key} differs from {parts[0]}'s", file=sys.stderr)
                return 2
    runs = [(r["key"], r["seed"]) for part in loaded for r in part["rows"]]
    twice = sorted({run for run in runs if runs.count(run) > 1})
    if twice:
        which = ", ".join(f"{key} seed {seed}" for key, seed in twice)
        print(f"error: in more than one part: {which}", file=sys.stderr)
        return 2
    order = {key: i for i, key in enumerate(MODELS)}
    rows = sorted((r for part in loaded for r in part["rows"]), key=lambda r: (order.get(r["key"], 99), r["seed"]))
    header = {k: v for k, v in first.items() if k not in ("rows", "models", "attention", "attention_gain")}
    results = {
        **with_summary(header, rows, seconds=max(part["seconds"] for part in loaded)),
        "seeds": sorted({r["seed"] for r in rows}),
        "parts": [str(p) for p in parts],
        "jobs_side_by_side": len(parts),
    }
    print(markdown(results))
    if out is not None:
        write_text_atomic(out, json.dumps(results, indent=2) + "\n")
        print(f"wrote {out}", file=sys.stderr)
    return 0


# ---- over seeds ----


def mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n - 1); sd None for one value, both None for none."""
    if not values:
        return None, None
    mean = float(np.mean(values))
    return mean, (float(np.std(values, ddof=1)) if len(values) > 1 else None)


def summarize(rows: list[dict]) -> list[dict]:
    """Per network (in table order): its seeds, mean and sd of video and clip top-1 over the seeds that finished,
    the seeds that diverged, and the settings every seed shares (or each seed's, where they differ)."""
    order = {key: i for i, key in enumerate(MODELS)}
    keys = sorted({r["key"] for r in rows}, key=lambda k: (order.get(k, 99), k))
    out = []
    for key in keys:
        mine = sorted((r for r in rows if r["key"] == key), key=lambda r: r["seed"])
        scored = [r for r in mine if r["video_acc"] is not None]
        video, video_sd = mean_sd([r["video_acc"] for r in scored])
        clip, clip_sd = mean_sd([r["clip_acc"] for r in scored])
        train_acc, _ = mean_sd([r["final_train_acc"] for r in scored if r.get("final_train_acc") is not None])
        train_s, _ = mean_sd([r["train_seconds"] for r in mine])
        out.append(
            {
                "key": key,
                "model": mine[0]["model"],
                "attention": mine[0]["attention"],
                "seeds": [r["seed"] for r in mine],
                "n": len(scored),
                "failed_seeds": [r["seed"] for r in mine if r["video_acc"] is None],
                "video_acc_per_seed": [r["video_acc"] for r in mine],
                "video_acc_mean": video,
                "video_acc_sd": video_sd,
                "video_acc_se": scored[0]["video_acc_se"] if len(scored) == 1 else None,  # binomial: one seed only
                "clip_acc_mean": clip,
                "clip_acc_sd": clip_sd,
                "params": mine[0]["params"],
                "gflops_per_clip": mine[0]["gflops_per_clip"],
                "epochs": sorted({r["epochs"] for r in mine}),
                "lrs": sorted({r["lr"] for r in mine}),
                "train_seconds_mean": train_s,
                "final_train_acc_mean": train_acc,
            }
        )
    return out


def t_critical(df: int) -> float:
    """Two-sided 5 % critical value of Student's t with df degrees of freedom (df >= 1)."""
    return T_CRITICAL[min(df, len(T_CRITICAL)) - 1]


def verdict(diffs: list[float]) -> dict:
    """The rule (module docstring, "verdict"): a paired two-sided t-test at 5 % on the per-seed differences."""
    n = len(diffs)
    mean, sd = mean_sd(diffs)
    if n < 2:
        return {"n": n, "mean": mean, "sd": None, "se": None, "t": None, "critical": None, "real": None,
                "verdict": f"no verdict: {n} paired seed(s), no spread to judge by (run --seeds 0 1 2)"}  # fmt: skip
    crit = t_critical(n - 1)
    se = sd / math.sqrt(n)
    t = mean / se if se > 0 else (math.copysign(math.inf, mean) if mean else 0.0)  # equal diffs: sure of the sign
    real = abs(t) > crit
    if real:
        side = "attention better" if mean > 0 else "attention worse"
        text = f"{side} by {100 * mean:+.1f} points: real (|t| = {abs(t):.2f} > {crit:.2f}, {n} seeds)"
    elif se == 0:
        text = f"no difference on any of {n} seeds"
    else:
        text = (
            f"no real difference at {n} seeds ({100 * mean:+.1f} points, |t| = {abs(t):.2f} <= {crit:.2f}; "
            f"at this spread it would take |mean| > {100 * crit * se:.1f} points)"
        )
    t_json = t if math.isfinite(t) else None  # None with a critical value: infinite (JSON has no infinity)
    return {"n": n, "mean": mean, "sd": sd, "se": se, "t": t_json, "critical": crit, "real": real, "verdict": text}


def paired(rows: list[dict]) -> dict[str, dict]:
    """Per comparison of COMPARISONS whose two networks both have rows, keyed by the attention network: the per-seed
    video top-1 differences (attention minus plain, same seed; seeds where either diverged left out) and the
    verdict."""
    acc = {(r["key"], r["seed"]): r["video_acc"] for r in rows}
    keys = {r["key"] for r in rows}
    out = {}
    for plain, att, family in COMPARISONS:
        if plain not in keys or att not in keys:
            continue
        seeds = sorted({s for k, s in acc if k == plain} & {s for k, s in acc if k == att})
        both = [s for s in seeds if acc[(plain, s)] is not None and acc[(att, s)] is not None]
        diffs = [acc[(att, s)] - acc[(plain, s)] for s in both]
        out[att] = {"plain": plain, "family": family, "seeds": both, "diffs": diffs, **verdict(diffs)}
    return out


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def _pm(mean: float | None, sd: float | None, se: float | None = None) -> str:
    """64.1 % +- 2.0 over seeds; one seed: its binomial standard error, marked as such."""
    if mean is None:
        return "-"
    if sd is not None:
        return f"{_pct(mean)} ± {100 * sd:.1f}"
    return _pct(mean) + ("" if se is None else f" +- {100 * se:.1f} (binomial)")


def markdown(results: dict) -> str:
    r = results["recipe"]
    extra = results.get("extra_train") or []
    epochs = results.get("epochs_per_model")
    budget = f"{epochs} epochs" if epochs else f"{results['minutes_per_model']:g} min"
    jobs = results.get("jobs_side_by_side", 1)
    seeds = results.get("seeds") or sorted({row["seed"] for row in results["rows"]})
    lines = [
        f"Table 1 at our scale{' (--quick)' if results['quick'] else ''}: {results['data']}"
        + (f" (+ all of {', '.join(extra)} for training)" if extra else "")
        + ", "
        f"{r['clip_len']} frames (every {r['frame_step']}) x {r['crop']}^2 (resize {r['resize']}), batch "
        f"{r['batch_size']}, lr {r['lr']:g} {r['schedule']}, {budget} per network and seed, "
        f"seeds {', '.join(map(str, seeds))}, {results['threads']} thread(s)"
        + (f", {jobs} runs side by side" if jobs > 1 else ""),
        f"evaluation: {results['evaluation']} ({results['test_videos']} held-out videos)",
        "",
        "| model | attention | seeds | video acc (mean ± sd) | video acc per seed | clip acc (mean ± sd) | params "
        "| GFLOPs/clip | epochs | train time (mean) | train acc (mean) | lr |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for m in results["models"]:
        att = "-" if m["attention"] is None else ("yes" if m["attention"] else "no")
        per_seed = " / ".join("-" if v is None else f"{100 * v:.1f}" for v in m["video_acc_per_seed"])
        train_s = "-" if m["train_seconds_mean"] is None else f"{m['train_seconds_mean']:.0f} s"
        lines.append(
            f"| {m['model']} | {att} | {m['n']} | {_pm(m['video_acc_mean'], m['video_acc_sd'], m['video_acc_se'])} "
            f"| {per_seed} | {_pm(m['clip_acc_mean'], m['clip_acc_sd'])} | {m['params'] / 1e6:.2f} M "
            f"| {m['gflops_per_clip']:.2f} | {', '.join(map(str, m['epochs']))} | {train_s} "
            f"| {_pct(m['final_train_acc_mean'], 0)} | {', '.join(f'{lr:g}' for lr in m['lrs'])} |"
        )
        if len(m["epochs"]) > 1 and not results["quick"]:
            notes.append(
                f"{m['model']}: epochs differ between seeds ({', '.join(map(str, m['epochs']))}): calibrated in "
                "separate runs; pass --epochs when a network's seeds run in separate processes"
            )
        if m["failed_seeds"]:
            notes.append(f"{m['model']}: no score for seed(s) {', '.join(map(str, m['failed_seeds']))} (diverged)")
    if results["attention"]:
        lines += [
            "",
            "Attention minus plain, video accuracy in points, paired by seed; rule: real when a two-sided paired "
            "t-test rejects no difference at 5 % (|mean| / (sd / sqrt n) > t_0.975(n-1): 12.71 at 2 seeds, 4.30 at "
            "3, 3.18 at 4, 2.78 at 5)",
            "",
            "| comparison | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± sd | t (critical) | verdict |",
            "|---|" + "---:|" * len(seeds) + "---:|---:|---|",
        ]
        for att_key, c in results["attention"].items():
            diff = dict(zip(c["seeds"], c["diffs"], strict=True))
            cells = " | ".join("-" if s not in diff else f"{100 * diff[s]:+.1f}" for s in seeds)
            mean = "-" if c["mean"] is None else f"{100 * c['mean']:+.1f}"
            spread = "" if c["sd"] is None else f" ± {100 * c['sd']:.1f}"
            t = "-"
            if c["critical"] is not None:  # t None: infinite, the sign of the mean
                t_value = c["t"] if c["t"] is not None else math.copysign(math.inf, c["mean"])
                t = f"{t_value:+.2f} (±{c['critical']:.2f})"
            if c["real"] is None:
                real = "no verdict"
            elif c["real"]:
                real = "attention better" if c["mean"] > 0 else "attention worse"
            else:
                real = "no real difference"
            lines.append(f"| {c['family']}: {att_key} - {c['plain']} | {cells} | {mean}{spread} | {t} | {real} |")
        lines.append("")
        for att_key, c in results["attention"].items():
            lines.append(f"verdict, {c['family']} ({att_key} - {c['plain']}): {c['verdict']}")
    lines += ["", *notes]
    for row in results["rows"]:
        for note in row["notes"]:
            lines.append(f"{row['model']} (seed {row['seed']}): {note}")
    lines.append(f"total {results['seconds']:.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
