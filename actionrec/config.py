"""Frozen configuration shared by every path: how clips are cut and normalised, and what a model file says about
itself. Torch-free, so that the ONNX Runtime path never imports torch."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 1  # bumped when the metadata layout changes incompatibly

KINETICS_MEAN = (
    0.43216,
    0.394666,
    0.37645,
)  # RGB mean of Kinetics-400, as used by torchvision's video models
KINETICS_STD = (0.22803, 0.22145, 0.216989)


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

    def __post_init__(self) -> None:
        if self.resize_to is not None:  # JSON gives a list
            object.__setattr__(self, "resize_to", tuple(int(v) for v in self.resize_to))
        fits = self.resize >= self.crop if self.resize_to is None else min(self.resize_to) >= self.crop
        bad_size = self.resize_to is not None and len(self.resize_to) != 2
        if self.clip_len < 1 or self.frame_step < 1 or self.crop < 1 or bad_size or not fits:
            raise ValueError(f"inconsistent preprocessing: {self}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @property
    def span(self) -> int:
        """Decoded frames covered by one window, first sampled frame to last."""
        return (self.clip_len - 1) * self.frame_step + 1

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
        """Trained on rendered figures only (`actionrec synth`): its labels mean little on real video."""
        return bool(self.training.get("synthetic"))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMeta:
        raw = json.loads(text)
        if not isinstance(raw, dict) or "arch" not in raw or "labels" not in raw:
            raise ValueError("metadata lacks 'arch' or 'labels'")
        if raw.get("format_version", 1) > FORMAT_VERSION:
            raise ValueError(f"made by a newer actionrec (format {raw['format_version']} > {FORMAT_VERSION})")
        pre = raw.get("preprocessing") or {}
        return cls(
            arch=raw["arch"],
            arch_args=dict(raw.get("arch_args") or {}),
            labels=tuple(raw["labels"]),
            preprocessing=Preprocessing(**pre),
            training=dict(raw.get("training") or {}),
            description=str(raw.get("description") or ""),
            format_version=raw.get("format_version", FORMAT_VERSION),
        )
