"""What `actionrec watch` reads: a camera index, a stream URL or a video file, parsed from what the user typed,
and opened with OpenCV's FFmpeg."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

import cv2

from ...errors import VideoError
from ...io.video import is_url, open_capture


class SourceKind(str, enum.Enum):
    camera = "camera"  # a camera index: 0 is the first camera
    stream = "stream"  # a URL that OpenCV's FFmpeg opens: rtsp://, http(s)://, udp://, ...
    file = "file"  # a video file, normally paced at its own frame rate (`LiveConfig.realtime`)


@dataclass(frozen=True)
class Source:
    """What to watch, as the user named it."""

    text: str
    kind: SourceKind

    def __str__(self) -> str:
        return f"camera {self.text}" if self.kind == SourceKind.camera else self.text

    def open(self, timeout_s: float) -> cv2.VideoCapture:
        """Open the source; raises VideoError (one line) when it cannot be opened. `timeout_s` bounds a stream's
        opening and each read."""
        if self.kind == SourceKind.camera:
            cap = cv2.VideoCapture(int(self.text))
            if not cap.isOpened():
                raise VideoError(f"{self}: cannot open it (no such camera, no permission, or in use)")
            return cap
        if self.kind == SourceKind.file:  # missing, a folder, unreadable, empty, not a video: its own one-line error
            return open_capture(self.text)  # any file name, UTF-8 or not
        ms = round(timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        cap = cv2.VideoCapture(self.text, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            raise VideoError(f"{self}: cannot open the stream (unreachable, refused, or not a video)")
        return cap


def parse_source(text: str | os.PathLike[str]) -> Source:
    """A camera index ("0"), a URL ("rtsp://...", `io.video.is_url`), or else a file path."""
    if isinstance(text, str) and text.isdigit():
        return Source(text, SourceKind.camera)
    if is_url(text):
        return Source(str(text), SourceKind.stream)
    return Source(str(Path(text)), SourceKind.file)
