"""Inputs shared by the prediction benches: long generated videos (made once, kept in a cache folder) and the
model to run (the shipped one, else a random stand-in of the same configuration)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from actionrec.io.files import atomic_path
from actionrec.runtime.pipeline import default_model_path

CACHE = Path(tempfile.gettempdir()) / "actionrec-bench"


def long_video(seconds: float, *, fps: float = 25.0, size: tuple[int, int] = (320, 240), cache: Path = CACHE) -> Path:
    """An mp4v video of moving shapes over a still noisy background, `seconds` long, written once per size."""
    width, height = size
    path = cache / f"shapes-{width}x{height}-{fps:g}fps-{seconds:g}s.mp4"
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    background = rng.integers(0, 80, size=(height, width, 3), dtype=np.uint8)
    frames = round(seconds * fps)
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise RuntimeError(f"{tmp}: OpenCV cannot write mp4v here")
        for i in range(frames):
            frame = background.copy()
            x = int((width - 40) * (0.5 + 0.5 * np.sin(i / 20)))  # a square sliding back and forth
            cv2.rectangle(frame, (x, height // 3), (x + 40, height // 3 + 40), (40, 40, 230), -1)
            y = int((height - 30) * (0.5 + 0.5 * np.cos(i / 13)))  # a disc bobbing up and down
            cv2.circle(frame, (width // 4 + i % (width // 2), y + 15), 15, (40, 220, 40), -1)
            writer.write(frame)
        writer.release()
    return path


def model_file(model: Path | None, work: Path) -> Path:
    """`model` when given; else the shipped default model; else a random r3d10 width 16 model at 16x64x64 (the
    shipped configuration) written into `work`."""
    if model is not None:
        return model
    shipped = default_model_path()
    if shipped.exists():
        return shipped
    import torch

    from actionrec.io.checkpoint import save_model
    from actionrec.model_meta import ModelMeta, Preprocessing
    from actionrec.networks import build

    torch.manual_seed(0)
    meta = ModelMeta(
        arch="r3d10",
        arch_args={"width": 16, "attention": True},
        labels=tuple(f"class{i}" for i in range(16)),
        preprocessing=Preprocessing(clip_len=16, resize=73, crop=64),
    )
    net = build(meta.arch, num_classes=meta.num_classes, **meta.arch_args)
    return save_model(work / "random-r3d10-w16.safetensors", net, meta)
