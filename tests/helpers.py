"""What the tests share besides fixtures: the checkout's folders, generated videos (cv2.VideoWriter, PyAV for
variable frame rate), re-encoding at another frame rate, and the small training recipe. Imported as `helpers`
(tests/ is on sys.path: conftest.py puts it there)."""

from __future__ import annotations

import dataclasses
import fractions
from pathlib import Path

import cv2
import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent  # tests/: its subfolders mirror the package
ROOT = TESTS.parent  # the checkout
SHARED = ROOT.parent / "shared" / "data"


def moving_square_frames(n: int, width: int = 96, height: int = 72, seed: int = 0) -> np.ndarray:
    """(n, H, W, 3) RGB uint8: a bright square moving left to right over a noisy background."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 60, size=(n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        x = int((width - 16) * i / max(n - 1, 1))
        frames[i, height // 2 - 8 : height // 2 + 8, x : x + 16] = (230, 40, 40)
    return frames


def write_cv2_video(path: Path, frames: np.ndarray, fps: float = 25.0, fourcc: str = "mp4v") -> Path:
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"cannot write {fourcc} to {path}"
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_vfr_video(path: Path, frames: np.ndarray, pts_ms: list[int]) -> Path:
    """An MPEG-4 .mp4 whose frames carry the given presentation times (variable frame rate)."""
    av = pytest.importorskip("av")
    h, w = frames.shape[1:3]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = fractions.Fraction(1, 1000)
        for f, t in zip(frames, pts_ms, strict=True):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = t, fractions.Fraction(1, 1000)
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def shared_clips() -> list[Path]:
    d = SHARED / "clips"
    return sorted(p for p in d.glob("*") if p.suffix in {".mp4", ".avi"}) if d.is_dir() else []


def tiny(data: Path, out: Path, **changes):
    """A recipe small enough for a test: r3d10 of width 4, 4-frame 32-pixel clips, no flips."""
    from actionrec.runtime.backends import Precision
    from actionrec.training import TrainConfig

    base = TrainConfig(
        data=data,
        out=out,
        arch="r3d10",
        arch_args={"width": 4},
        clip_len=4,
        frame_step=2,
        crop=32,
        resize=36,
        epochs=2,
        batch_size=4,
        lr=0.05,
        hflip=False,
        precision=Precision.fp32,
        device="cpu",
        workers=0,
        val_fraction=0.25,
        val_clips=2,
    )
    return dataclasses.replace(base, **changes)


def reencode_at(src: Path, dst: Path, fps: float, fourcc: str = "mp4v") -> Path:
    """`src` re-encoded at `fps` over the same seconds, each output frame the source frame shown at its time (as
    FFmpeg's fps filter does): what a phone at 30 or 60 fps would have filmed of the same scene."""
    cap = cv2.VideoCapture(str(src))
    src_fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    cap.release()
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for k in range(round(len(frames) / src_fps * fps)):
        writer.write(frames[min(int(k * src_fps / fps + 0.5), len(frames) - 1)])
    writer.release()
    return dst


def random_model_file(path: Path, labels: tuple[str, ...], preprocessing, width: int, **training) -> Path:
    """A self-describing model file at `path`: an r3d10 of `width` with attention, random weights (seed 0), these
    labels and preprocessing; `training` is its metadata's training record."""
    import torch

    from actionrec.io.checkpoint import save_model
    from actionrec.model_meta import ModelMeta
    from actionrec.networks import build

    torch.manual_seed(0)
    meta = ModelMeta(
        arch="r3d10",
        arch_args={"width": width, "attention": True},
        labels=labels,
        preprocessing=preprocessing,
        training=training,
    )
    model = build(meta.arch, num_classes=meta.num_classes, **meta.arch_args).eval()
    return save_model(path, model, meta)
