"""Shared test fixtures: videos generated with cv2.VideoWriter (and PyAV for variable frame rate) and small
random-weight model files built through the Python API."""

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


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> dict[str, Path]:
    """A small zoo of good and bad videos."""
    d = tmp_path_factory.mktemp("videos")
    out = {
        "mp4": write_cv2_video(d / "square.mp4", moving_square_frames(60), 25.0, "mp4v"),
        "avi": write_cv2_video(d / "square.avi", moving_square_frames(45, 80, 64, seed=1), 30.0, "MJPG"),
        "short": write_cv2_video(d / "short.mp4", moving_square_frames(5, seed=2), 25.0, "mp4v"),
    }
    pts = [0, 33, 66, 100, 133, 166, 200, 233, 266, 300] + [400 + 100 * i for i in range(20)]
    out["vfr"] = write_vfr_video(d / "vfr.mp4", moving_square_frames(len(pts), 64, 48, seed=3), pts)
    (d / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    out["corrupt"] = d / "corrupt.mp4"
    (d / "empty.avi").write_bytes(b"")
    out["empty"] = d / "empty.avi"
    good = out["mp4"].read_bytes()
    (d / "truncated.mp4").write_bytes(good[: len(good) // 2])
    out["truncated"] = d / "truncated.mp4"
    (d / "notes.mkv").write_text("this is not a video\n" * 50)
    out["text"] = d / "notes.mkv"
    out["missing"] = d / "missing.mp4"
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A random-weight r3d10 (width 8, attention on) saved as a self-describing model file: 3 labels, 8x32x32."""
    import torch

    from actionrec.config import ModelMeta, Preprocessing
    from actionrec.io.checkpoint import save_model
    from actionrec.networks import build

    torch.manual_seed(0)
    meta = ModelMeta(
        arch="r3d10",
        arch_args={"width": 8, "attention": True},
        labels=("left", "right", "still"),
        preprocessing=Preprocessing(clip_len=8, frame_step=1, resize=36, crop=32),
        training={"note": "random weights for tests"},
    )
    model = build(meta.arch, num_classes=meta.num_classes, **meta.arch_args).eval()
    return save_model(tmp_path_factory.mktemp("models") / "tiny.safetensors", model, meta)


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


@pytest.fixture
def served_samples():
    """The shipped samples over HTTP on 127.0.0.1 (a loopback server on a free port), as a base URL."""
    import functools
    import http.server
    import threading

    from actionrec.samples import path as sample_path

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(sample_path("punch.mp4").parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


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
