"""Shared test fixtures: videos generated with cv2.VideoWriter (and PyAV for variable frame rate), small
random-weight model files built through the Python API, and the samples served over loopback HTTP. The helpers
they use, and tests import, live in helpers.py."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

if str(Path(__file__).resolve().parent) not in sys.path:  # --import-mode=importlib: tests/ is not on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import moving_square_frames, random_model_file, write_cv2_video, write_vfr_video

# A run started in the background by a shell without job control (`pytest &`, nohup) inherits SIGINT ignored, and
# so would every command the tests start: the Ctrl-C tests need the default a terminal gives.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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
    from actionrec.model_meta import Preprocessing

    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    spec = Preprocessing(clip_len=8, frame_step=1, resize=36, crop=32)
    return random_model_file(path, ("left", "right", "still"), spec, 8, note="random weights for tests")


@pytest.fixture
def served_samples():
    """The shipped samples over HTTP on 127.0.0.1 (a loopback server on a free port), as a base URL."""
    import functools
    import http.server
    import threading

    from actionrec.samples import path as sample_path

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *_args) -> None:  # no request lines on stderr
            pass

    handler = functools.partial(Quiet, directory=str(sample_path("punch.mp4").parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
