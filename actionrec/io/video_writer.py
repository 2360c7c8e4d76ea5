"""Writing a video of BGR frames: .mp4 as H.264 where an encoder is at hand (PyAV's libx264, else OpenCV's avc1),
else MPEG-4 Part 2; .avi as Motion JPEG (`open_video_writer`), and which one was used (`VideoCodec`)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import ActionrecError

VIDEO_SUFFIXES = (".mp4", ".avi")  # .mp4: H.264 where an encoder is at hand, else MPEG-4 Part 2; .avi: Motion JPEG


@dataclass(frozen=True)
class VideoCodec:
    """How a written video was encoded, and whether web browsers play it."""

    name: str  # "H.264", "MPEG-4 Part 2", "Motion JPEG"
    fourcc: str  # the FourCC it is written with ("h264", "avc1", "mp4v", "MJPG")
    encoder: str  # what wrote it: "PyAV libx264", "OpenCV avc1", "OpenCV mp4v", "OpenCV MJPG"
    browsers: bool  # plays in web browsers (H.264 in MP4 does; MPEG-4 Part 2 and AVI mostly do not)

    def describe(self) -> str:
        """One line for the user: the codec, and what to do where browsers will not play it."""
        if self.browsers:
            return f"{self.name}, {self.encoder}; plays in browsers"
        if self.fourcc == "MJPG":
            return f"{self.name} in AVI, {self.encoder}; browsers do not play it (write .mp4 for them)"
        return (
            f"{self.name} ({self.fourcc}), {self.encoder}: no H.264 encoder here, so browsers may not play it "
            "(install PyAV, `pip install av`, for H.264)"
        )


H264 = VideoCodec("H.264", "h264", "PyAV libx264", browsers=True)
H264_OPENCV = VideoCodec("H.264", "avc1", "OpenCV avc1", browsers=True)
MPEG4 = VideoCodec("MPEG-4 Part 2", "mp4v", "OpenCV mp4v", browsers=False)
MJPG = VideoCodec("Motion JPEG", "MJPG", "OpenCV MJPG", browsers=False)


class _AvWriter:
    """H.264 (libx264, yuv420p, moov atom first) in MP4 through PyAV: what browsers play. Odd frame sides are
    padded by one edge pixel (4:2:0 chroma needs even ones)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        import av

        self._av = av
        self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        try:
            self.stream = self.container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            width, height = size
            self.stream.width, self.stream.height = width + width % 2, height + height % 2
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"crf": "20", "preset": "veryfast"}
        except Exception:
            self.container.close()
            raise
        self.pad = (height % 2, width % 2)
        self.count = 0

    def write(self, image: np.ndarray) -> None:
        if any(self.pad):
            image = cv2.copyMakeBorder(image, 0, self.pad[0], 0, self.pad[1], cv2.BORDER_REPLICATE)
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts = self.count
        self.count += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def release(self) -> None:
        try:
            for packet in self.stream.encode():  # flush the encoder's delayed frames
                self.container.mux(packet)
        finally:
            self.container.close()


@functools.cache
def _pyav_h264() -> bool:
    """PyAV is installed and its FFmpeg has the libx264 encoder."""
    try:
        import av

        av.codec.Codec("libx264", "w")
    except Exception:  # not installed, or an FFmpeg built without libx264
        return False
    return True


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (FFmpeg's and OpenCV's native messages while an encoder is tried)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real descriptor 2
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@functools.cache
def _opencv_h264() -> bool:
    """OpenCV's FFmpeg can write H.264 ("avc1") into MP4, and the file it writes decodes: tried once on 8 frames.
    (The pip wheels of OpenCV cannot: their FFmpeg has no H.264 encoder.)"""
    with tempfile.TemporaryDirectory() as d, _quiet_stderr():
        path = os.path.join(d, "probe.mp4")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"avc1"), 25.0, (64, 64))
        if not writer.isOpened():
            return False
        for i in range(8):
            writer.write(np.full((64, 64, 3), 30 * i, np.uint8))
        writer.release()
        cap = cv2.VideoCapture(path)
        decoded = 0
        while cap.read()[0]:
            decoded += 1
        cap.release()
        return decoded == 8


def _opencv_writer(tmp: Path, out: Path, codec: VideoCodec, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    with _quiet_stderr():
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec.fourcc), fps, size)
    if not writer.isOpened():
        raise ActionrecError(f"{out}: cannot open a {codec.name} ({codec.encoder}) video writer")
    return writer


def open_video_writer(tmp: Path, out: Path, fps: float, size: tuple[int, int]):
    """A writer of BGR frames (`write`, `release`) into `tmp` for `out` and the codec it uses: .mp4 as H.264
    (PyAV's libx264, else OpenCV's avc1 where its build can), else MPEG-4 Part 2 (mp4v); .avi as Motion JPEG."""
    if out.suffix.lower() == ".avi":
        return _opencv_writer(tmp, out, MJPG, fps, size), MJPG
    if _pyav_h264():
        try:
            return _AvWriter(tmp, fps, size), H264
        except Exception:  # libx264 listed but refusing this size or rate: the next encoder
            pass
    if _opencv_h264():
        return _opencv_writer(tmp, out, H264_OPENCV, fps, size), H264_OPENCV
    return _opencv_writer(tmp, out, MPEG4, fps, size), MPEG4
