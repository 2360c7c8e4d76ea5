"""Frozen configuration shared by every path: how clips are cut and normalised, and what a model file says about
itself. Torch-free, so that the ONNX Runtime path never imports torch."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

VERSION = "0.1.0"  # the package's version (`actionrec.__version__`; pyproject.toml says the same)
FORMAT_VERSION = 1  # bumped when the metadata layout changes incompatibly
ARCHITECTURES = ("r3d10", "r3d18", "r3d34", "r3d50", "dense3d", "c3d")  # networks.BUILDERS' keys, torch-free


RENAMED_KEYS = {"format": "layout"}  # keys of config.json and model files' recipes written before a field's rename


def with_current_keys(raw: dict[str, Any]) -> dict[str, Any]:
    """A training recipe (`training.TrainConfig` as a dict) from any version: old keys read as the fields they
    became (`RENAMED_KEYS`)."""
    old = {RENAMED_KEYS[k]: v for k, v in raw.items() if k in RENAMED_KEYS and RENAMED_KEYS[k] not in raw}
    return {**{k: v for k, v in raw.items() if k not in RENAMED_KEYS}, **old}


# What a model file's metadata may hold: checked before anything is built or allocated from it.
LIMITS = {
    "labels": 100_000,  # classes (Kinetics-700 has 700)
    "label_chars": 256,
    "clip_len": 512,
    "frame_step": 64,
    "size": 4096,  # resize, crop, resize_to sides, in pixels
    "arch_number": 4096,  # any number among the builder's arguments (width, growth, reduction, ...)
    "text_chars": 100_000,  # description
    "fps": 1000.0,  # the model's sampling rate, frames per second
}

KINETICS_MEAN = (
    0.43216,
    0.394666,
    0.37645,
)  # RGB mean of Kinetics-400, as used by torchvision's video models
KINETICS_STD = (0.22803, 0.22145, 0.216989)
KINETICS_FPS = 15.0  # the frame rate torchvision trains and measures its Kinetics-400 video models at

# The frame rate a model samples at when its file records none: the shipped model's, and UCF-101's (25 fps). A
# Kinetics-400 conversion made before the rate was recorded gets KINETICS_FPS (`ModelMeta.from_json`).
DEFAULT_FPS = 25.0

# Windows start at most this many decoded frames apart unless asked otherwise (0.48 s at 25 fps): segment boundaries
# are placed from the windows' centres, so their spacing bounds how closely (docs/long-video.md).
MAX_DEFAULT_STRIDE = 12


def default_stride(clip_len: int, frame_step: int) -> int:
    """Decoded frames between window starts when none is given: half a window, at most MAX_DEFAULT_STRIDE, and a
    whole number of frame_steps, so that every window samples the same grid of frames."""
    return max(min(clip_len // 2, MAX_DEFAULT_STRIDE // frame_step), 1) * frame_step


@dataclass(frozen=True)
class Preprocessing:
    """How a video becomes the network's input; stored in every model file so that no path can disagree."""

    clip_len: int = 16  # frames per window: the paper's 16-frame clips
    frame_step: int = 1  # sample every n-th decoded frame inside a window (temporal stride)
    resize: int = 128  # short side after resizing, before the crop (crop * 8/7, the usual ratio)
    crop: int = 112  # centre crop side in pixels; the paper uses 224
    mean: tuple[float, float, float] = KINETICS_MEAN  # RGB in [0, 1], subtracted before dividing by std
    std: tuple[float, float, float] = KINETICS_STD
    # (H, W): a fixed-size resize (aspect not kept), as torchvision's video models use (128, 171); None: short
    # side = `resize`
    resize_to: tuple[int, int] | None = None
    # The model's own frame rate: every video is sampled by timestamp on this grid, whatever its own rate, so that
    # a window spans the same seconds as in training (`span_s`). Frame counts below count frames of this grid.
    fps: float = DEFAULT_FPS

    def __post_init__(self) -> None:
        if self.resize_to is not None:  # JSON gives a list
            object.__setattr__(self, "resize_to", tuple(int(v) for v in self.resize_to))
        fits = self.resize >= self.crop if self.resize_to is None else min(self.resize_to) >= self.crop
        bad_size = self.resize_to is not None and len(self.resize_to) != 2
        object.__setattr__(self, "fps", float(self.fps))
        bad_fps = not (0 < self.fps <= LIMITS["fps"])
        if self.clip_len < 1 or self.frame_step < 1 or self.crop < 1 or bad_size or not fits or bad_fps:
            raise ValueError(f"inconsistent preprocessing: {self}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @property
    def span(self) -> int:
        """Decoded frames covered by one window, first sampled frame to last."""
        return (self.clip_len - 1) * self.frame_step + 1

    @property
    def span_s(self) -> float:
        """Seconds covered by one window, from its first sampled frame's start to its last one's end."""
        return self.span / self.fps

    @property
    def stride(self) -> int:
        """Decoded frames between window starts by default (`default_stride`)."""
        return default_stride(self.clip_len, self.frame_step)

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """(C, T, H, W) of one clip as the network takes it."""
        return (3, self.clip_len, self.crop, self.crop)


@dataclass(frozen=True)
class ModelMeta:
    """Everything needed to rebuild and use a model: architecture, labels, preprocessing, provenance."""

    arch: str  # a key of networks.BUILDERS
    arch_args: dict[str, Any]  # keyword arguments of that builder, num_classes excluded
    labels: tuple[str, ...]  # class names in logit order
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    training: dict[str, Any] = field(default_factory=dict)  # how it was trained: data, recipe, accuracy
    description: str = ""  # what the model is for and what it can't do, in a sentence or two, for `info`
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def synthetic(self) -> bool:
        """Trained on rendered figures only (`actionrec synth`), never on real video."""
        return bool(self.training.get("synthetic"))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMeta:
        """Parse and check model-file metadata: types, ranges and counts (`check_metadata`), so that a damaged or
        hostile file is refused before anything is allocated from it. Raises ValueError."""
        raw = json.loads(text)
        check_metadata(raw)
        pre = dict(raw.get("preprocessing") or {})
        pre.setdefault("fps", legacy_fps(raw.get("training") or {}))
        return cls(
            arch=raw["arch"],
            arch_args=dict(raw.get("arch_args") or {}),
            labels=tuple(raw["labels"]),
            preprocessing=Preprocessing(**pre),
            training=dict(raw.get("training") or {}),
            description=str(raw.get("description") or ""),
            format_version=raw.get("format_version", FORMAT_VERSION),
        )


def legacy_fps(training: dict[str, Any]) -> float:
    """The rate of a model file written before files recorded one: KINETICS_FPS for a Kinetics-400 conversion (its
    training data says so), DEFAULT_FPS for everything else."""
    return KINETICS_FPS if str(training.get("data", "")).startswith("Kinetics-400") else DEFAULT_FPS


def check_metadata(raw: Any) -> None:
    """Raise ValueError naming the first field of model-file metadata that is missing, of the wrong type, out of
    range or too large (`LIMITS`)."""
    import math

    if not isinstance(raw, dict) or "arch" not in raw or "labels" not in raw:
        raise ValueError("metadata lacks 'arch' or 'labels'")
    version = raw.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"format_version {version!r}: not an integer")
    if version > FORMAT_VERSION:
        raise ValueError(f"made by a newer actionrec (format {version} > {FORMAT_VERSION})")
    if raw["arch"] not in ARCHITECTURES:
        raise ValueError(f"arch {str(raw['arch'])[:40]!r}: not one of {', '.join(ARCHITECTURES)}")

    def number(name: str, v: Any, low: float, high: float, integer: bool = False) -> None:
        if isinstance(v, bool) or not isinstance(v, int | float) or (integer and not isinstance(v, int)):
            raise ValueError(f"{name} {str(v)[:40]!r}: not {'an integer' if integer else 'a number'}")
        if not math.isfinite(v) or not low <= v <= high:
            raise ValueError(f"{name} {v!r}: outside {low:g}..{high:g}")

    args = raw.get("arch_args") or {}
    if not isinstance(args, dict):
        raise ValueError("arch_args: not an object")
    for key, value in args.items():
        for v in value if isinstance(value, list) else [value]:
            if not isinstance(v, bool) and v is not None:
                number(f"arch_args.{key}", v, 0, LIMITS["arch_number"])
    if "width" in args:
        number("arch_args.width", args["width"], 1, LIMITS["arch_number"], integer=True)

    labels = raw["labels"]
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError("labels: not a list of strings")
    if not 1 <= len(labels) <= LIMITS["labels"]:
        raise ValueError(f"labels: {len(labels)} of them, a model needs 1..{LIMITS['labels']}")
    if any(len(x) > LIMITS["label_chars"] for x in labels):
        raise ValueError(f"labels: a label longer than {LIMITS['label_chars']} characters")

    pre = raw.get("preprocessing") or {}
    if not isinstance(pre, dict):
        raise ValueError("preprocessing: not an object")
    unknown = set(pre) - {f.name for f in dataclasses.fields(Preprocessing)}
    if unknown:
        raise ValueError(f"preprocessing: unknown field {sorted(unknown)[0]!r}")
    for name, high in (("clip_len", "clip_len"), ("frame_step", "frame_step"), ("resize", "size"), ("crop", "size")):
        if name in pre:
            number(f"preprocessing.{name}", pre[name], 1, LIMITS[high], integer=True)
    if "fps" in pre:
        number("preprocessing.fps", pre["fps"], 1e-3, LIMITS["fps"])
    for name, low in (("mean", -1e3), ("std", 1e-6)):
        if name in pre:
            values = pre[name]
            if not isinstance(values, list) or len(values) != 3:
                raise ValueError(f"preprocessing.{name}: not 3 numbers (R, G, B)")
            for v in values:
                number(f"preprocessing.{name}", v, low, 1e3)
    if pre.get("resize_to") is not None:
        size = pre["resize_to"]
        if not isinstance(size, list) or len(size) != 2:
            raise ValueError("preprocessing.resize_to: not [height, width]")
        for v in size:
            number("preprocessing.resize_to", v, 1, LIMITS["size"], integer=True)

    if not isinstance(raw.get("training") or {}, dict):
        raise ValueError("training: not an object")
    description = raw.get("description") or ""
    if not isinstance(description, str) or len(description) > LIMITS["text_chars"]:
        raise ValueError("description: not a string of reasonable length")
