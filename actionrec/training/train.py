"""Training: the recipe (`TrainConfig`), the loop (SGD with Nesterov momentum, step or cosine schedule with warmup,
bf16 autocast where the hardware has it, channels_last_3d), per-epoch validation (clip and video accuracy), the run
folder (model files, metrics, plots, resume state) and DistributedDataParallel under torchrun. `actionrec train`
calls `train`.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import json
import math
import multiprocessing
import multiprocessing.context
import os
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from ..config import ModelMeta, Optimizer, Preprocessing, Schedule, TrainDevice
from ..cpu import auto_bf16, cache_root, cpu_bf16_verdict
from ..data import (
    ClipDataset,
    DataFormat,
    DataSplit,
    EpochSampler,
    FrameCache,
    VideoItem,
    open_dataset,
    skipped_video,
)
from ..errors import ActionrecError, require_extra
from ..io.checkpoint import save_model
from ..io.files import atomic_path, write_text_atomic
from ..networks import BUILDERS, attention_as_identity, build, zero_init_residuals
from ..runtime.backends import Precision

STATE_FILE = "state.pt"  # resume state: weights, optimizer, scheduler, RNG states, history
CONFIG_FILE = "config.json"  # the recipe, as run
METRICS_FILE = "metrics.jsonl"  # one JSON line per finished epoch
STATE_VERSION = 1
PLOT_MODULES = ("matplotlib",)  # pyproject's [plot] extra: loss.png and accuracy.png


@dataclass(frozen=True)
class TrainConfig:
    """One training run's recipe. Defaults follow the paper: SGD, Nesterov momentum 0.9, lr 0.1 decayed by 10,
    weight decay 1e-4, batches of 8 16-frame clips, 112-pixel crops (224 the paper's larger option)."""

    data: Path  # data folder (folder per class, UCF-101, HMDB-51) or a .csv list
    out: Path  # run folder: model files, metrics, plots, resume state
    format: DataFormat = DataFormat.auto  # data layout; auto-detected from the folder
    split: int = 1  # official split of UCF-101 / HMDB-51
    val_fraction: float = 0.2  # held-out share for folder/CSV data (the paper's 80/20)
    group_regex: str | None = None  # file-name regex whose first group is the person/source: split by it
    csv: Path | None = None  # a path,label list when DATA is a folder the paths are relative to
    # None below: taken from `init`'s model file when it has one (its network and preprocessing), else from
    # SCRATCH; the recipe (optimizer, lr, ...) from FINE_TUNE when starting from weights, else from SCRATCH.
    arch: str | None = None  # a key of networks.BUILDERS
    arch_args: dict[str, Any] | None = None  # builder arguments (width, attention, growth, ...)
    clip_len: int | None = None  # frames per clip: the paper's 16-frame clips
    frame_step: int | None = None  # temporal stride inside a clip
    crop: int | None = None  # crop side; the paper also reports 224
    resize: int | None = None  # short side before cropping; default crop * 8/7, rounded
    epochs: int | None = None  # total epochs of the run
    batch_size: int = 8  # clips per optimizer step, over all processes
    lr: float | None = None  # peak learning rate
    momentum: float = 0.9
    nesterov: bool = True
    optimizer: Optimizer | None = None  # sgd (the paper) or adamw (momentum -> beta1, nesterov ignored)
    weight_decay: float | None = None
    schedule: Schedule | None = None
    milestones: tuple[int, ...] = ()  # step schedule: epochs where lr *= gamma; default half and three quarters
    gamma: float = 0.1  # step schedule decay factor
    warmup_epochs: float = 0.0  # linear warmup from ~0 to lr, counted in epochs
    precision: Precision = Precision.auto  # auto: bf16 where faster than fp32 (cpu.auto_bf16)
    device: TrainDevice = TrainDevice.auto
    workers: int | None = None  # decoding processes per training process; default `default_workers`
    seed: int = 0  # model initialisation, data order and augmentation all follow from it
    resume: Path | None = None  # a run folder to continue (its state.pt)
    init: Path | None = None  # weights to start from (pretrained.load_pretrained): a file or an installed name
    hflip: bool = True  # random horizontal flips; off for direction-dependent classes (walk left / right)
    crop_scales: tuple[float, ...] = (1.0, 0.875, 0.75, 0.66)  # multi-scale crop: crop side / short side choices
    color_jitter: float = 0.0  # brightness, contrast, saturation jitter per clip (0.3: factors 0.7..1.3); 0 off
    channel_shuffle: bool = False  # random RGB order per clip: when colours (clothes) never tell the class
    zero_init_residual: bool = False  # from scratch: last BN of each residual branch starts at 0 (blocks = identity)
    identity_attention: bool = True  # from scratch: attention starts as the identity; trains as fast as plain
    val_clips: int = 3  # evenly spaced clips per validation video; video score = mean of their probabilities
    cache: bool | None = None  # keep decoded, resized frames on disk after the first epoch (uint8, one .npy per
    # video); default: on when fine-tuning (small data, many epochs), off from scratch
    cache_dir: Path | None = None  # where; default $XDG_CACHE_HOME/actionrec/frames
    resize_to: tuple[int, int] | None = None  # fixed (H, W) resize instead of the short side (torchvision's models)

    def __post_init__(self) -> None:
        for name in ("data", "out", "csv", "resume", "init", "cache_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        for name, value in _open_fields(self).items():  # what the user left open, from init's model or a recipe
            object.__setattr__(self, name, value)
        object.__setattr__(self, "format", DataFormat(self.format))
        object.__setattr__(self, "schedule", Schedule(self.schedule))
        object.__setattr__(self, "optimizer", Optimizer(self.optimizer))
        object.__setattr__(self, "precision", Precision(self.precision))
        object.__setattr__(self, "device", TrainDevice(self.device))
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        object.__setattr__(self, "crop_scales", tuple(float(s) for s in self.crop_scales))
        object.__setattr__(self, "arch_args", dict(self.arch_args))
        if self.resize_to is not None:
            object.__setattr__(self, "resize_to", tuple(int(v) for v in self.resize_to))

    @property
    def fine_tune(self) -> bool:
        """Starting from weights (`init`): the FINE_TUNE recipe's defaults apply."""
        return self.init is not None

    @property
    def preprocessing(self) -> Preprocessing:
        resize = self.resize if self.resize is not None else round(self.crop * 8 / 7)
        extra = {"resize_to": self.resize_to} if self.resize_to is not None else {}
        try:
            return Preprocessing(
                clip_len=self.clip_len, frame_step=self.frame_step, resize=resize, crop=self.crop, **extra
            )
        except ValueError:
            raise ActionrecError(
                f"clip settings: clip_len {self.clip_len}, frame_step {self.frame_step}, crop {self.crop} and "
                f"resize {resize} must be positive with resize >= crop"
            ) from None

    @property
    def step_milestones(self) -> tuple[int, ...]:
        return self.milestones or tuple(sorted({max(self.epochs // 2, 1), max(self.epochs * 3 // 4, 1)}))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: paths as strings, enums as their values."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = str(v) if isinstance(v, Path) else v.value if isinstance(v, enum.Enum) else v
        out["milestones"] = list(self.milestones)
        out["crop_scales"] = list(self.crop_scales)
        out["resize_to"] = list(self.resize_to) if self.resize_to is not None else None
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})


# What a run uses where the user gave nothing. From scratch: the paper's recipe (SGD, Nesterov momentum 0.9, lr 0.1
# decayed by 10, weight decay 1e-4, 16-frame clips, 112-pixel crops). Fine-tuning (`init`): the recipe measured on
# the real few-shot sets (bench/bench_fewshot.py): AdamW at a small lr, cosine decay, decoded frames cached.
SCRATCH: dict[str, Any] = {
    "arch": "r3d18",
    "clip_len": 16,
    "frame_step": 1,
    "crop": 112,
    "epochs": 40,
    "lr": 0.1,
    "optimizer": Optimizer.sgd,
    "weight_decay": 1e-4,
    "schedule": Schedule.step,
    "cache": False,
}
FINE_TUNE: dict[str, Any] = {
    "epochs": None,  # from the data: fine_tune_epochs()
    "lr": 5e-4,
    "optimizer": Optimizer.adamw,
    "weight_decay": 0.05,
    "schedule": Schedule.cosine,
    "cache": True,
}
FINE_TUNE_STEPS = 150  # optimizer steps a fine-tuning run takes at least, however few its clips
FINE_TUNE_MIN_EPOCHS = 15


def fine_tune_epochs(clips: int, batch_size: int) -> int:
    """Epochs of a fine-tuning run left open: 15, or more for a small set so that it still takes 150 steps (one
    person's 8 clips: 150 epochs of one step, about 20 s on 2 cores; 15 epochs reached 81 % on Weizmann, 150
    97.6 %: docs/fine-tuning.md)."""
    steps_per_epoch = max(math.ceil(clips / batch_size), 1)
    return max(FINE_TUNE_MIN_EPOCHS, math.ceil(FINE_TUNE_STEPS / steps_per_epoch))


def _open_fields(config: TrainConfig) -> dict[str, Any]:
    """Values for the fields left as None: the network and preprocessing of `init`'s model file (when it is an
    actionrec file and the user kept its architecture), then the fine-tuning or from-scratch recipe."""
    given = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    out: dict[str, Any] = {}
    open_net = any(given[k] is None for k in ("arch", "arch_args", "clip_len", "frame_step", "crop"))
    if config.init is not None:
        from ..hub import resolve_model

        try:
            init = resolve_model(config.init)  # a file, or an installed name ("default", "kinetics400-r3d18")
        except ActionrecError:
            if open_net:
                raise
            init = Path(config.init)  # all given (a resumed run): a file gone since does not matter yet
        out["init"] = init
        meta = _init_meta(init) if open_net else None
        if meta is not None and given["arch"] in (None, meta.arch):
            out["arch"] = meta.arch
            out["arch_args"] = {**meta.arch_args, **(given["arch_args"] or {})}
            spec = meta.preprocessing  # the model's input, field by field, where the user gave none
            out.update({k: getattr(spec, k) for k in ("clip_len", "frame_step", "crop") if given[k] is None})
            if all(given[k] is None for k in ("crop", "resize", "resize_to")):  # the resize goes with the crop
                out.update(resize=spec.resize, resize_to=spec.resize_to)
    recipe = {**SCRATCH, **(FINE_TUNE if config.init is not None else {})}
    for name, value in recipe.items():
        if given[name] is None and name not in out and value is not None:
            out[name] = value
    if given["arch_args"] is None and "arch_args" not in out:
        out["arch_args"] = {}
    for name in ("clip_len", "frame_step", "crop"):  # no model file to take them from: the from-scratch input
        if given[name] is None and out.get(name) is None:
            out[name] = SCRATCH[name]
    return out


def _init_meta(path: Path) -> ModelMeta | None:
    """The metadata of an actionrec model file; None for foreign weights (torchvision, 3D-ResNets .pth)."""
    from ..io.checkpoint import read_meta

    if path.suffix.lower() != ".safetensors":
        return None
    return read_meta(path)


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best: Path  # best.safetensors: highest validation video accuracy (last epoch without validation data)
    last: Path  # last.safetensors: the weights after the last epoch
    best_epoch: int  # 1-based
    best_val_clip_acc: float | None
    best_val_video_acc: float | None
    epochs_done: int
    history: tuple[dict[str, Any], ...]  # the metrics.jsonl records


def arch_args_for(
    arch: str,
    *,
    width: int | None = None,
    growth: int | None = None,
    attention: bool | None = None,
    reduction: int | None = None,
    spatial_kernel: tuple[int, int, int] | None = None,
    dropout: float | None = None,
) -> dict[str, Any]:
    """Builder arguments for `arch` from the options a user gave (None: the builder's default); options that the
    architecture does not have raise ActionrecError."""
    if arch not in BUILDERS:
        raise ActionrecError(f"unknown architecture {arch!r}; known: {', '.join(BUILDERS)}")
    given = {
        "width": width,
        "growth": growth,
        "attention": attention,
        "reduction": reduction,
        "spatial_kernel": spatial_kernel,
        "dropout": dropout,
    }
    allowed = {"width", "attention", "reduction", "spatial_kernel", "dropout"}
    if arch == "dense3d":
        allowed = {"growth", "attention", "reduction", "spatial_kernel", "dropout"}
    elif arch == "c3d":
        allowed = {"width", "dropout"}
    wrong = [k for k, v in given.items() if v is not None and k not in allowed]
    if wrong:
        opts = ", ".join("--" + k.replace("_", "-") for k in wrong)
        raise ActionrecError(f"{opts}: not an option of --arch {arch} (it takes {', '.join(sorted(allowed))})")
    args = {k: v for k, v in given.items() if v is not None}
    if "spatial_kernel" in args:
        args["spatial_kernel"] = list(args["spatial_kernel"])  # JSON form; build() turns lists back into tuples
    return args


def resume_config(run_dir: Path, *, epochs: int | None = None, workers: int | None = None) -> TrainConfig:
    """The recipe a run folder was started with, set to continue it (optionally to more epochs)."""
    run_dir = Path(run_dir)
    if not (run_dir / STATE_FILE).is_file():
        raise ActionrecError(
            f"{run_dir}: no resume state ({STATE_FILE}); not a run folder, or it was stopped before its first epoch"
        )
    try:
        raw = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        config = TrainConfig.from_dict(raw)
    except (OSError, ValueError, TypeError) as e:
        raise ActionrecError(f"{run_dir / CONFIG_FILE}: cannot read the run's recipe ({e})") from None
    changes: dict[str, Any] = {"resume": run_dir, "out": run_dir}
    if epochs is not None:
        changes["epochs"] = epochs
    if workers is not None:
        changes["workers"] = workers
    return dataclasses.replace(config, **changes)


# ---- learning rate ----


def training_clips(items: Sequence[VideoItem], config: TrainConfig, cache: FrameCache | None) -> ClipDataset:
    """The training clips of `items` with the recipe's augmentation (random window, crop scales, flips, colour)."""
    return ClipDataset(
        items,
        config.preprocessing,
        train=True,
        seed=config.seed,
        cache=cache,
        hflip=config.hflip,
        scales=config.crop_scales,
        color_jitter=config.color_jitter,
        channel_shuffle=config.channel_shuffle,
    )


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == Optimizer.adamw:
        return torch.optim.AdamW(
            model.parameters(), lr=config.lr, betas=(config.momentum, 0.999), weight_decay=config.weight_decay
        )
    return torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov and config.momentum > 0,
        weight_decay=config.weight_decay,
    )


def lr_factor(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Multiplier of the peak lr at optimizer step `step` (0-based, counted over the whole run)."""
    warm = config.warmup_epochs * steps_per_epoch
    if step < warm:
        return (step + 1) / warm
    epoch = step / steps_per_epoch
    if config.schedule == Schedule.cosine:
        span = max(config.epochs - config.warmup_epochs, 1e-9)
        return 0.5 * (1 + math.cos(math.pi * min((epoch - config.warmup_epochs) / span, 1.0)))
    return config.gamma ** sum(int(epoch) >= m for m in config.step_milestones)


# ---- the run ----


@dataclass
class _Context:
    """Where this process runs: device, precision, and its place among the distributed processes."""

    device: torch.device
    bf16: bool
    rank: int = 0
    world: int = 1
    owns_group: bool = False  # this call initialised the process group (and tears it down)
    skipped: set[Path] = dataclasses.field(default_factory=set)  # videos that did not decode, reported once each

    def report_skipped(self, dataset: ClipDataset, labels: torch.Tensor, say: Any) -> None:
        """Name each video behind a negative label once per run (on the main process)."""
        for label in labels[labels < 0].tolist():
            path = dataset.items[skipped_video(int(label))].path
            if path not in self.skipped:
                self.skipped.add(path)
                if self.main:
                    say(f"[yellow]skipped:[/] {path}: cannot decode the video; the run goes on without it")

    @property
    def main(self) -> bool:
        return self.rank == 0


def train(
    config: TrainConfig,
    *,
    progress: bool = True,
    console: Console | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Train (or continue, with `config.resume`) a model; returns where the best and last model files are.

    `stop_after` ends the call after that many epochs in total, exactly as if the process had been killed at an
    epoch boundary (the run stays resumable). Under torchrun, every process calls this; only rank 0 writes.
    """
    require_extra(f"{config.out}: drawing the loss and accuracy plots", "plot", PLOT_MODULES)  # before any work
    ctx = _setup(config)
    try:
        result = _run(config, ctx, progress and ctx.main, console or Console(stderr=True), stop_after)
        if ctx.world > 1:  # every process reaches the teardown together: one leaving early could abort in gloo
            dist.barrier()
        return result
    except ActionrecError as e:  # a DataLoader worker's error arrives with its traceback: keep the last line
        lines = str(e).strip().splitlines()
        if len(lines) > 1:
            raise type(e)(re.sub(r"^[\w.]+Error: ", "", lines[-1])) from None
        raise
    finally:
        if ctx.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _setup(config: TrainConfig) -> _Context:
    if config.device == TrainDevice.cuda and not torch.cuda.is_available():
        raise ActionrecError("--device cuda: no CUDA device is available to torch here")
    cuda = config.device == TrainDevice.cuda or (config.device == TrainDevice.auto and torch.cuda.is_available())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    ctx = _Context(device=torch.device("cpu"), bf16=False)
    if world > 1:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")
            ctx.owns_group = True
        ctx.rank, ctx.world = dist.get_rank(), dist.get_world_size()
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        ctx.device = torch.device("cuda", local)
    if config.precision == Precision.bf16:
        if not cuda and not cpu_bf16_verdict().trainable:
            raise ActionrecError(
                f"--precision bf16: this CPU's bf16 convolution gradients are wrong with torch {torch.__version__} "
                "(see actionrec.cpu.bf16_gradient_error); train with --precision fp32 or auto"
            )
        ctx.bf16 = True
    elif config.precision == Precision.auto:
        ctx.bf16 = auto_bf16(ctx.device.type, training=True)
    return ctx


def _check_config(config: TrainConfig, ctx: _Context) -> None:
    checks = [
        (config.epochs is None or config.epochs >= 1, f"epochs {config.epochs}: must be at least 1"),
        (config.batch_size >= 1, f"batch size {config.batch_size}: must be at least 1"),
        (config.lr > 0, f"learning rate {config.lr}: must be positive"),
        (config.val_clips >= 1, f"val clips {config.val_clips}: must be at least 1"),
        (config.warmup_epochs >= 0, f"warmup epochs {config.warmup_epochs}: must not be negative"),
        (
            config.batch_size % ctx.world == 0,
            f"batch size {config.batch_size}: must divide among the {ctx.world} processes",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ActionrecError(message)
    if config.arch not in BUILDERS:
        raise ActionrecError(f"unknown architecture {config.arch!r}; known: {', '.join(BUILDERS)}")
    config.preprocessing  # noqa: B018  (validates the clip settings)


def _prepare_out(config: TrainConfig) -> None:
    out = config.out
    if out.exists() and not out.is_dir():
        raise ActionrecError(f"{out}: exists and is not a folder; choose another --output")
    if config.resume is None and (out / STATE_FILE).exists():
        raise ActionrecError(f"{out}: already holds a run; continue it with --resume {out} or choose another --output")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe_file = out / f".write-test-{os.getpid()}"
        probe_file.write_bytes(b"")
        probe_file.unlink()
    except OSError as e:
        raise ActionrecError(f"{out}: run folder not writable ({e.strerror or e})") from None


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _run(config: TrainConfig, ctx: _Context, show: bool, console: Console, stop_after: int | None) -> TrainResult:
    if config.resume is not None:
        config = dataclasses.replace(config, out=Path(config.resume))
        if not (config.out / STATE_FILE).is_file():
            raise ActionrecError(f"{config.out}: no resume state ({STATE_FILE}); not a run folder, or not started")
    _check_config(config, ctx)
    spec = config.preprocessing
    split = open_dataset(
        config.data,
        fmt=config.format,
        split=config.split,
        val_fraction=config.val_fraction,
        group_regex=config.group_regex,
        seed=config.seed,
        csv_path=config.csv,
        verify=True,
    )
    _prepare_out(config)
    log = console.print if show else (lambda *a, **k: None)
    log(split.summary(), highlight=False, soft_wrap=True)
    if config.epochs is None:  # a fine-tuning run left it open: long enough for the data at hand
        config = dataclasses.replace(config, epochs=fine_tune_epochs(len(split.train), config.batch_size))
        log(f"{config.epochs} epochs ({FINE_TUNE_STEPS}+ steps of {config.batch_size} clips)", highlight=False)

    _seed_everything(config.seed)
    try:
        model = build(config.arch, num_classes=len(split.labels), **config.arch_args)
    except TypeError as e:
        raise ActionrecError(f"--arch {config.arch}: bad architecture options ({e})") from None
    state = _load_state(config.out) if config.resume is not None else None
    if state is not None:
        _load_weights(model, state["model"], config.out / STATE_FILE)
    elif config.init is not None:
        from ..hub.foreign import load_pretrained  # starts the attention the file lacks as the identity itself

        report = load_pretrained(model, config.init)
        log(report.summary(), highlight=False, soft_wrap=True)
    else:  # from scratch
        if config.identity_attention:  # random gates halve the branch twice: measured 2x slower from scratch
            attention_as_identity(model)
        if config.zero_init_residual:
            zero_init_residuals(model)
    # channels_last_3d on every device: the convolution backward passes run faster in it. Measured on this 2-core AVX2
    # EPYC, one fp32 training step: the shipped r3d10 w16 8x64x64 1.64x, r3d18 w64 16x112x112 1.23x, dense3d 1.21x,
    # c3d 1.17x; on GPUs it is the layout cuDNN's fast kernels want.
    model = model.to(ctx.device, memory_format=torch.channels_last_3d)
    net: nn.Module = model
    if ctx.world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[ctx.device] if ctx.device.type == "cuda" else None)

    workers = config.workers if config.workers is not None else min(8, max((os.cpu_count() or 1) // ctx.world, 1))
    cache = FrameCache(config.cache_dir or _default_cache_dir()) if config.cache else None
    train_set = training_clips(split.train, config, cache)
    sampler = EpochSampler(  # the epoch travels with each index: persistent workers' datasets never see set_epoch
        DistributedSampler(train_set, num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=config.seed)
    )
    loader_args = {
        "num_workers": workers,
        "pin_memory": ctx.device.type == "cuda",
        "worker_init_fn": functools.partial(_worker_init, os.getpid()),
        "prefetch_factor": 4 if workers else None,
        "persistent_workers": workers > 0,  # started once per run, not once per epoch (about 2 s each time)
        "multiprocessing_context": _worker_context() if workers else None,
    }
    train_loader = DataLoader(train_set, batch_size=config.batch_size // ctx.world, sampler=sampler, **loader_args)
    val_loader = None
    if split.val:
        val_set = ClipDataset(
            split.val, spec, train=False, clips_per_video=config.val_clips, cache=cache, with_index=True
        )
        mine = list(range(ctx.rank, len(val_set), ctx.world))  # every process a share, no padding
        val_loader = DataLoader(val_set, batch_size=config.batch_size // ctx.world, sampler=mine, **loader_args)

    optimizer = make_optimizer(model, config)
    steps = len(train_loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(config, step, steps))

    history: list[dict[str, Any]] = []
    best = {"epoch": 0, "val_video_acc": None, "val_clip_acc": None}
    start = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = [dict(h) for h in state["history"]]
        best = dict(state["best"])
        start = int(state["epoch"])
        _set_rng(state["rng"])  # last: everything above may draw from the generators
        log(f"resuming {config.out} after epoch {start} of {config.epochs}", highlight=False)
    elif ctx.main:
        write_text_atomic(config.out / CONFIG_FILE, json.dumps(config.to_dict(), indent=2) + "\n")

    end = config.epochs if stop_after is None else min(config.epochs, stop_after)
    columns = [
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, disable=not show) as bar:
        for epoch in range(start, end):
            t0 = time.perf_counter()
            sampler.set_epoch(epoch)
            train_set.set_epoch(epoch)
            lr = optimizer.param_groups[0]["lr"]
            task = bar.add_task(f"epoch {epoch + 1}/{config.epochs}", total=steps, stats="")
            loss, acc, seconds = _train_epoch(net, train_loader, optimizer, scheduler, ctx, bar, task, epoch)
            record: dict[str, Any] = {
                "epoch": epoch + 1,
                "lr": lr,
                "train_loss": loss,
                "train_acc": acc,
                "val_loss": None,
                "val_clip_acc": None,
                "val_video_acc": None,
                "clips_per_s": round(len(train_set) / seconds, 2),
                "time": 0.0,
            }
            if val_loader is not None:
                bar.update(task, stats=bar.tasks[-1].fields["stats"] + " | validating")
                record.update(_validate(model, val_loader, config.val_clips, ctx, bar.console.print))
            record["time"] = round(time.perf_counter() - t0, 2)
            improved = _improved(record, best)
            if improved:
                best = {key: record[key] for key in ("epoch", "val_video_acc", "val_clip_acc")}
            history.append(record)
            if ctx.main:
                _save_epoch(config, model, optimizer, scheduler, split, spec, history, best, improved, ctx)
            summary = f"train loss {loss:.4f} acc {acc:.1%} {record['clips_per_s']:.1f} clips/s"
            if record["val_video_acc"] is not None:
                summary += f" | val clip {record['val_clip_acc']:.1%} video {record['val_video_acc']:.1%}"
            bar.update(task, stats=summary + (" *" if improved else ""))
    if ctx.main and history:
        write_plots(config.out, history)
    return TrainResult(
        run_dir=config.out,
        best=config.out / "best.safetensors",
        last=config.out / "last.safetensors",
        best_epoch=best["epoch"],
        best_val_clip_acc=best["val_clip_acc"],
        best_val_video_acc=best["val_video_acc"],
        epochs_done=len(history),
        history=tuple(history),
    )


def _default_cache_dir() -> Path:
    return cache_root() / "frames"


def _worker_init(trainer: int, _worker_id: int) -> None:
    """Decoding workers: one thread each, so that N workers use N cores and not N x cores; each ends when the
    training process `trainer` is gone (even after SIGKILL), and with its forkserver parent."""
    import cv2

    from .children import die_with_parent, exit_when_gone

    die_with_parent()
    exit_when_gone(trainer)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers start from a clean server process: forking a process whose OpenCV/OpenMP thread pools are running
    can deadlock the child (seen when training runs inside a process that decoded video before). The server dies
    with this process (`_forkserver_child`)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["actionrec.training._forkserver_child"])
    return context


def _autocast(ctx: _Context):
    return torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=ctx.bf16)


def _train_epoch(
    net: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    ctx: _Context,
    bar: Progress,
    task,
    epoch: int,
) -> tuple[float, float, float]:
    """One pass over the training clips; returns (mean loss, accuracy, seconds) over all processes."""
    net.train()
    totals = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, clips
    t0 = time.perf_counter()
    for step, (x, y) in enumerate(loader):
        if (y < 0).any():  # clips of videos that did not decode: dropped, named once
            ctx.report_skipped(loader.dataset, y, bar.console.print)
            x, y = x[y >= 0], y[y >= 0]
            if len(y) == 0:
                bar.update(task, advance=1)
                continue
        x = x.to(ctx.device, non_blocking=True)  # (B, 3, T, crop, crop)
        x = x.contiguous(memory_format=torch.channels_last_3d)  # the model's layout
        y = y.to(ctx.device, non_blocking=True)
        with _autocast(ctx):
            logits = net(x)  # (B, num_classes)
        loss = F.cross_entropy(logits.float(), y)
        if not torch.isfinite(loss):
            raise ActionrecError(f"the loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}: lower --lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        n = len(y)
        totals += torch.tensor([loss.item() * n, (logits.argmax(1) == y).sum().item(), n], dtype=torch.float64)
        rate = totals[2].item() * ctx.world / max(time.perf_counter() - t0, 1e-9)
        bar.update(
            task,
            advance=1,
            stats=f"loss {totals[0] / totals[2]:.4f} acc {totals[1] / totals[2]:.1%} {rate:.1f} clips/s",
        )
    seconds = time.perf_counter() - t0
    if ctx.world > 1:
        dist.all_reduce(totals)
    return totals[0].item() / max(totals[2].item(), 1), totals[1].item() / max(totals[2].item(), 1), seconds


@torch.no_grad()
def clip_probabilities(
    model: nn.Module, loader: DataLoader, ctx: _Context | None = None, say: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities of each clip a loader of `ClipDataset(with_index=True)` yields: (indices, probs).
    Clips of videos that did not decode are left out (and named once through `say`)."""
    ctx = ctx or _Context(device=next(model.parameters()).device, bf16=False)
    model.eval()
    indices, probs = [], []
    for x, y, index in loader:
        if (y < 0).any():
            ctx.report_skipped(loader.dataset, y, say or (lambda *a, **k: None))
            x, index = x[y >= 0], index[y >= 0]
            if len(index) == 0:
                continue
        x = x.to(ctx.device, non_blocking=True)  # (B, 3, T, crop, crop)
        x = x.contiguous(memory_format=torch.channels_last_3d)  # the layout training keeps the model in
        with _autocast(ctx):
            logits = model(x)  # (B, num_classes)
        probs.append(torch.softmax(logits.float(), 1).cpu().numpy())
        indices.append(index.numpy())
    if not probs:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    return np.concatenate(indices), np.concatenate(probs)


def _validate(
    model: nn.Module, loader: DataLoader, clips_per_video: int, ctx: _Context, say: Any = None
) -> dict[str, float | None]:
    """Clip accuracy, video accuracy (mean of a video's clip probabilities) and clip loss, over all processes and
    over the videos that decoded."""
    indices, probs = clip_probabilities(model, loader, ctx, say)
    if ctx.world > 1:
        parts: list[Any] = [None] * ctx.world
        dist.all_gather_object(parts, (indices, probs))
        indices = np.concatenate([p[0] for p in parts])
        probs = np.concatenate([p[1] for p in parts if len(p[1])]) if any(len(p[1]) for p in parts) else probs
    dataset: ClipDataset = loader.dataset
    labels = np.array([it.label for it in dataset.items])
    scored = np.zeros(len(labels) * clips_per_video, bool)
    scored[indices] = True
    whole = scored.reshape(len(labels), clips_per_video).all(1)  # videos with every clip scored
    if not whole.any():
        return {"val_loss": None, "val_clip_acc": None, "val_video_acc": None}
    table = np.zeros((len(scored), probs.shape[1]), np.float32)
    table[indices] = probs
    probs = table.reshape(len(labels), clips_per_video, -1)[whole]  # (videos, clips, C)
    labels = labels[whole]
    clip_probs, clip_labels = probs.reshape(-1, probs.shape[-1]), np.repeat(labels, clips_per_video)
    picked = clip_probs[np.arange(len(clip_probs)), clip_labels]
    return {
        "val_loss": float(-np.log(np.clip(picked, 1e-12, None)).mean()),
        "val_clip_acc": float((clip_probs.argmax(1) == clip_labels).mean()),
        "val_video_acc": float((probs.mean(1).argmax(1) == labels).mean()),
    }


def _improved(record: dict[str, Any], best: dict[str, Any]) -> bool:
    if record["val_video_acc"] is None:
        return True  # no validation data: the latest is the best we know
    if best["val_video_acc"] is None:
        return True
    now = (record["val_video_acc"], record["val_clip_acc"])
    return now > (best["val_video_acc"], best["val_clip_acc"])


# ---- run folder ----


def _meta(
    config: TrainConfig,
    split: DataSplit,
    spec: Preprocessing,
    history: list[dict[str, Any]],
    best: dict[str, Any],
    ctx: _Context,
) -> ModelMeta:
    last = history[-1]
    from .. import __version__

    training = {
        "data": split.source,
        "data_path": str(Path(config.data).resolve()),  # `evaluate` on this data scores the run's own split
        "synthetic": split.synthetic,
        "train_videos": len(split.train),
        "val_videos": len(split.val),
        "skipped_videos": len(split.skipped),
        "recipe": {k: v for k, v in config.to_dict().items() if k not in ("out", "resume", "data", "cache_dir")},
        "epoch": last["epoch"],
        "epochs": config.epochs,
        "val_clip_acc": last["val_clip_acc"],
        "val_video_acc": last["val_video_acc"],
        "best_epoch": best["epoch"],
        "best_val_clip_acc": best["val_clip_acc"],
        "best_val_video_acc": best["val_video_acc"],
        "seed": config.seed,
        "processes": ctx.world,
        "precision": "bf16" if ctx.bf16 else "fp32",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "actionrec": __version__,
    }
    return ModelMeta(
        config.arch,
        config.arch_args,
        split.labels,
        preprocessing=spec,
        training=training,
        description=SYNTHETIC_DESCRIPTION.format(n=len(split.labels)) if split.synthetic else "",
    )


SYNTHETIC_DESCRIPTION = (
    "A demo model: {n} synthetic actions learned from rendered figures (actionrec synth), not from real "
    "people. On real video its labels mean little; use it as a starting point for fine-tuning on your own clips "
    "(actionrec train DATA --init MODEL), or pull a real-world model (actionrec pull kinetics400-r3d18)."
)


def _save_epoch(
    config: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    split: DataSplit,
    spec: Preprocessing,
    history: list[dict[str, Any]],
    best: dict[str, Any],
    improved: bool,
    ctx: _Context,
) -> None:
    """Model files, metrics, then the resume state last: a kill at any point loses at most this epoch."""
    out = config.out
    meta = _meta(config, split, spec, history, best, ctx)
    save_model(out / "last.safetensors", model, meta)
    if improved:
        save_model(out / "best.safetensors", model, meta)
    write_text_atomic(out / METRICS_FILE, "".join(json.dumps(h) + "\n" for h in history))
    state = {
        "version": STATE_VERSION,
        "epoch": len(history),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": _get_rng(),
        "best": best,
        "history": history,
        "config": json.dumps(config.to_dict()),
    }
    with atomic_path(out / STATE_FILE) as tmp:
        torch.save(state, tmp)


def _load_state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / STATE_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file: torch raises several types
        raise ActionrecError(f"{path}: unreadable resume state ({str(e).strip().splitlines()[0][:200]})") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise ActionrecError(f"{path}: not an actionrec resume state (version {STATE_VERSION})")
    return state


def _load_weights(model: nn.Module, weights: dict[str, torch.Tensor], path: Path) -> None:
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        first = " ".join(str(e).strip().splitlines()[:2])
        raise ActionrecError(f"{path}: its weights do not fit the configured model ({first})") from None


def _get_rng() -> dict[str, Any]:
    version, words, gauss = random.getstate()
    _, key, pos, has_gauss, cached = np.random.get_state()
    rng = {
        "python": [version, list(words), gauss],
        "numpy": {
            "key": torch.from_numpy(key.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def _set_rng(rng: dict[str, Any]) -> None:
    version, words, gauss = rng["python"]
    random.setstate((version, tuple(words), gauss))
    n = rng["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(rng["cuda"])


def write_plots(out: Path, history: list[dict[str, Any]]) -> list[Path]:
    """loss.png and accuracy.png: training and validation curves per epoch (matplotlib, no display needed)."""
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    written = []
    panels = {
        "loss.png": ("loss", [("train_loss", "train"), ("val_loss", "validation (clips)")]),
        "accuracy.png": (
            "accuracy",
            [("train_acc", "train"), ("val_clip_acc", "validation clips"), ("val_video_acc", "validation videos")],
        ),
    }
    for name, (ylabel, series) in panels.items():
        fig = Figure(figsize=(6, 4), dpi=100)
        ax = fig.add_subplot()
        for key, label in series:
            points = [(e, h[key]) for e, h in zip(epochs, history, strict=True) if h.get(key) is not None]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        with atomic_path(out / name) as tmp:
            fig.savefig(tmp, format="png")
        written.append(out / name)
    return written
