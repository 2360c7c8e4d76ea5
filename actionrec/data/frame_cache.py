"""Decoded, resized frames of whole videos (`decode_all`) and their on-disk cache (`FrameCache`): decode once,
read memory-mapped uint8 frames afterwards."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io.files import atomic_path
from ..io.video import read_all
from ..model_meta import Preprocessing
from ..transforms import frame_resizer

log = logging.getLogger(__name__)


def decode_all(path: Path, spec: Preprocessing) -> np.ndarray:
    """Every frame of a video on the model's clock (`spec.fps`, `io.video.FrameGrid`), resized as `preprocess`
    expects: (N, H, W, 3) uint8 RGB."""
    return read_all(path, frame_resizer(spec), spec.fps)


class FrameCache:
    """Decoded, resized frames of each video as one uint8 `.npy` file, memory-mapped on read.

    Keyed by the video's absolute path, modification time, size, the resize and the model's frame rate, so that a
    changed video, another resize or another rate never reads stale frames. Files are written atomically:
    concurrent workers are safe.
    """

    VERSION = 1  # part of the key: bump when the stored layout changes

    def __init__(self, directory: Path):
        """A DataError names a folder that cannot be created or written (read-only, under a file)."""
        self.directory = Path(directory)
        self.writable = True  # False once a write failed (a full disk): from then on frames are decoded each time
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".write-test-"):
                pass
        except OSError as e:
            raise DataError(f"{self.directory}: cannot write the frame cache folder ({e.strerror or e})") from None

    def file_for(self, path: Path, spec: Preprocessing) -> Path:
        st = Path(path).stat()
        size = f"{spec.resize}|{spec.resize_to}|{spec.fps}"
        key = f"{Path(path).resolve()}|{st.st_mtime_ns}|{st.st_size}|{size}|{self.VERSION}"
        return self.directory / f"{hashlib.sha1(key.encode()).hexdigest()}.npy"

    def frames(self, path: Path, spec: Preprocessing) -> np.ndarray:
        """All frames of the video (N, H, W, 3) uint8, decoded once and read from disk afterwards."""
        target = self.file_for(path, spec)
        try:
            return np.load(target, mmap_mode="r")
        except FileNotFoundError:
            pass
        except (ValueError, OSError):  # unreadable (e.g. a disk that filled up): decode again
            with contextlib.suppress(OSError):
                target.unlink(missing_ok=True)
        frames = decode_all(path, spec)
        if not self.writable:
            return frames
        try:
            with atomic_path(target) as tmp, open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(frames))
            return np.load(target, mmap_mode="r")
        except OSError as e:  # a full disk, a folder made read-only: go on without the cache, saying so once
            self.writable = False
            log.warning(
                "frame cache %s: cannot write (%s); frames are decoded without it", self.directory, e.strerror or e
            )
            return frames
