"""Files of the benchmark: clips as videos, each clip's actor boxes as JSON, and the UCF-101 split files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..io.files import atomic_path, write_text_atomic


def write_video(path: str | Path, frames_rgb: np.ndarray, fps: float, quality: int = 90) -> None:
    """Write (T, H, W, 3) uint8 RGB frames as an MJPG .avi (every frame a JPEG: no inter-frame artefacts
    that could leak the direction of time), atomically."""
    frames_rgb = np.asarray(frames_rgb)
    if frames_rgb.ndim != 4 or frames_rgb.shape[-1] != 3 or frames_rgb.dtype != np.uint8:
        raise ValueError(f"expected (T, H, W, 3) uint8 frames, got {frames_rgb.shape} {frames_rgb.dtype}")
    h, w = frames_rgb.shape[1:3]
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        if not writer.isOpened():
            raise OSError(f"{path}: cannot open an MJPG writer")
        try:
            writer.set(cv2.VIDEOWRITER_PROP_QUALITY, float(quality))
            for frame in frames_rgb:
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        finally:
            writer.release()


def write_mp4(path: Path, frames_rgb: np.ndarray, fps: float) -> Path:
    """Write (T, H, W, 3) uint8 RGB frames as an MPEG-4 part 2 .mp4 (small: the shipped samples), atomically."""
    h, w = frames_rgb.shape[1:3]
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        for frame in frames_rgb:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
    return path


def write_boxes(path: Path, size: tuple[int, int], fps: float, boxes: np.ndarray) -> None:
    """Write a clip's actor boxes (T, 4) as compact JSON {width, height, fps, boxes}, atomically."""
    w, h = size
    meta = {"width": w, "height": h, "fps": fps, "boxes": boxes.tolist()}
    write_text_atomic(path, json.dumps(meta, separators=(",", ":")))


def write_splits(out: Path, classes: Sequence[str], train: Sequence[tuple[str, int]], test: Sequence[str]) -> None:
    """Write classInd.txt, trainlist01.txt (video path and 1-based label) and testlist01.txt (video path) in `out`."""
    write_text_atomic(out / "classInd.txt", "".join(f"{i} {c}\n" for i, c in enumerate(classes, start=1)))
    write_text_atomic(out / "trainlist01.txt", "".join(f"{rel} {label}\n" for rel, label in train))
    write_text_atomic(out / "testlist01.txt", "".join(f"{rel}\n" for rel in test))
