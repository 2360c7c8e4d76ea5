"""A training run's recipe: `TrainConfig`, the from-scratch and fine-tuning defaults that fill what the user left
open (`SCRATCH`, `FINE_TUNE`, `fine_tune_epochs`), the architecture options (`arch_args_for`) and the checks."""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..choices import DataLayout, Optimizer, Precision, Schedule, TrainDevice
from ..errors import ActionrecError
from ..model_meta import ModelMeta, Preprocessing, with_current_keys
from ..networks import BUILDERS, NETWORKS


@dataclass(frozen=True)
class TrainConfig:
    """One training run's recipe. Defaults follow the paper: SGD, Nesterov momentum 0.9, lr 0.1 decayed by 10,
    weight decay 1e-4, batches of 8 16-frame clips, 112-pixel crops (224 the paper's larger option)."""

    data: Path  # data folder (folder per class, UCF-101, HMDB-51) or a .csv list
    out: Path  # run folder: model files, metrics, plots, resume state
    layout: DataLayout = DataLayout.auto  # how the data set is laid out; auto-detected from the folder
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
    workers: int | None = None  # decoding processes per training process; default `loaders.default_workers`
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
        """Normalise the types only (paths, enums, tuples): no file is read; `resolve` fills what was left open."""
        for name in ("data", "out", "csv", "resume", "init", "cache_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        for name, kind in _CHOICES.items():  # JSON's strings (config.json) as the choices they name
            if getattr(self, name) is not None:
                object.__setattr__(self, name, kind(getattr(self, name)))
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        object.__setattr__(self, "crop_scales", tuple(float(s) for s in self.crop_scales))
        if self.arch_args is not None:
            object.__setattr__(self, "arch_args", dict(self.arch_args))
        if self.resize_to is not None:
            object.__setattr__(self, "resize_to", tuple(int(v) for v in self.resize_to))

    @property
    def fine_tune(self) -> bool:
        """Starting from weights (`init`): the FINE_TUNE recipe's defaults apply."""
        return self.init is not None

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
        return cls(**{k: v for k, v in with_current_keys(raw).items() if k in names})


_CHOICES = {
    "layout": DataLayout,
    "schedule": Schedule,
    "optimizer": Optimizer,
    "precision": Precision,
    "device": TrainDevice,
}


@dataclass(frozen=True)
class ResolvedConfig(TrainConfig):
    """A recipe with what the user left open filled in (`resolve`): the network, the clip settings and the
    optimizer's recipe are set; `epochs` stays None only for a fine-tuning run, which settles it from the data."""

    arch: str = field(kw_only=True)
    arch_args: dict[str, Any] = field(kw_only=True)
    clip_len: int = field(kw_only=True)
    frame_step: int = field(kw_only=True)
    crop: int = field(kw_only=True)
    lr: float = field(kw_only=True)
    optimizer: Optimizer = field(kw_only=True)
    weight_decay: float = field(kw_only=True)
    schedule: Schedule = field(kw_only=True)
    cache: bool = field(kw_only=True)

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


def resolve(config: TrainConfig) -> ResolvedConfig:
    """`config` with what it left open filled in (as timm's resolve_data_config): `init` resolved to a file (an
    installed name becomes its path), the network and preprocessing of its actionrec model file where the user gave
    none, then the fine-tuning or from-scratch recipe. Reads `init`'s model file; an unreadable one is one line
    (ActionrecError). A resolved config is returned as it is."""
    if isinstance(config, ResolvedConfig):
        return config
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return ResolvedConfig(**{**values, **_open_fields(config)})


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
            init = resolve_model(config.init, option="init")  # a file, or an installed name ("default", ...)
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
    allowed = NETWORKS[arch].options
    wrong = [k for k, v in given.items() if v is not None and k not in allowed]
    if wrong:
        opts = ", ".join("--" + k.replace("_", "-") for k in wrong)
        raise ActionrecError(f"{opts}: not an option of --arch {arch} (it takes {', '.join(sorted(allowed))})")
    args = {k: v for k, v in given.items() if v is not None}
    if "spatial_kernel" in args:
        args["spatial_kernel"] = list(args["spatial_kernel"])  # JSON form; build() turns lists back into tuples
    return args


def check_config(config: ResolvedConfig, processes: int) -> None:
    """Refuse, in one line, a recipe no run can follow (with `processes` training processes sharing each batch)."""
    checks = [
        (config.epochs is None or config.epochs >= 1, f"epochs {config.epochs}: must be at least 1"),
        (config.batch_size >= 1, f"batch size {config.batch_size}: must be at least 1"),
        (config.lr > 0, f"learning rate {config.lr}: must be positive"),
        (config.val_clips >= 1, f"val clips {config.val_clips}: must be at least 1"),
        (config.warmup_epochs >= 0, f"warmup epochs {config.warmup_epochs}: must not be negative"),
        (
            config.batch_size % processes == 0,
            f"batch size {config.batch_size}: must divide among the {processes} processes",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ActionrecError(message)
    if config.arch not in BUILDERS:
        raise ActionrecError(f"unknown architecture {config.arch!r}; known: {', '.join(BUILDERS)}")
    config.preprocessing  # noqa: B018  (validates the clip settings)
