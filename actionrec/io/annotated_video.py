"""The annotated video of `predict --render`: every frame of the input with the current segment's label and score
burned in above it and a timeline of the segments below it, encoded through `io.video_writer`, written atomically.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..errors import ActionrecError
from ..results import NO_ACTION
from .files import atomic_path, writing
from .video import iter_windows, probe
from .video_writer import VIDEO_SUFFIXES, VideoCodec, open_video_writer

if TYPE_CHECKING:
    from ..results import Segment

FONT = cv2.FONT_HERSHEY_SIMPLEX
BACKGROUND = (32, 32, 32)  # BGR of the header and of the timeline where no segment is
WHITE = (255, 255, 255)
# One colour per label (BGR), in the label's order in the model: Tableau 10 then its lighter half (as matplotlib's
# tab20), so neighbouring labels differ; a model with more labels reuses them in turn.
PALETTE = (
    (180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148), (75, 86, 140), (194, 119, 227),
    (127, 127, 127), (34, 189, 188), (207, 190, 23), (232, 199, 174), (120, 187, 255), (138, 223, 152),
    (150, 152, 255), (213, 176, 197), (148, 156, 196), (210, 182, 247), (199, 199, 199), (141, 219, 219),
    (229, 218, 158),
)  # fmt: skip


NO_ACTION_COLOUR = (88, 88, 88)  # BGR: a neutral grey for no_action, darker than the palette's greys


@dataclass(frozen=True)
class Layout:
    """Where everything sits in a rendered frame: a header (label and score on the left, the clock on the right),
    the picture (the input frame enlarged `zoom` times) and the timeline under it. Boxes are (x0, y0, x1, y1)."""

    zoom: int
    width: int  # of the rendered frame (the enlarged picture's width)
    header_h: int
    picture_h: int
    timeline_h: int
    text_scale: float

    @property
    def height(self) -> int:
        return self.header_h + self.picture_h + self.timeline_h

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of a rendered frame, as a video writer takes it."""
        return self.width, self.height

    @property
    def label_box(self) -> tuple[int, int, int, int]:
        """The part of the header that shows the current segment: its colour, label and score (the clock is right
        of it)."""
        return 0, 0, self.width * 2 // 3, self.header_h

    @property
    def picture_box(self) -> tuple[int, int, int, int]:
        return 0, self.header_h, self.width, self.header_h + self.picture_h

    @property
    def timeline_box(self) -> tuple[int, int, int, int]:
        return 0, self.header_h + self.picture_h, self.width, self.height


def layout(width: int, height: int, *, min_side: int = 360) -> Layout:
    """The layout for input frames of `width` x `height`: enlarged by a whole factor until the short side reaches
    `min_side` (so that the text stays legible on small clips), the header and timeline sized to the width."""
    zoom = max(1, -(-min_side // max(min(width, height), 1))) if min_side else 1
    w = width * zoom
    scale = max(0.4, min(w / 640.0, 1.2) * 0.7)
    (_, th), base = cv2.getTextSize("Ag", FONT, scale, _thickness(scale))
    header_h = th + base + 2 * _pad(scale)
    header_h += header_h % 2  # even sides for 4:2:0 video
    timeline_h = max(12, header_h)
    timeline_h += timeline_h % 2
    return Layout(zoom, w, header_h, height * zoom, timeline_h, scale)


def _thickness(scale: float) -> int:
    return max(1, round(scale * 1.6))


def _pad(scale: float) -> int:
    return max(3, round(6 * scale))


def label_colour(label: str, labels: Sequence[str]) -> tuple[int, int, int]:
    """The BGR colour of `label`: by its place among the model's `labels` (one not among them: by its name);
    no_action is a neutral grey, whatever its place."""
    if label == NO_ACTION:
        return NO_ACTION_COLOUR
    try:
        index = list(labels).index(label)
    except ValueError:
        index = sum(label.encode()) % len(PALETTE)
    return PALETTE[index % len(PALETTE)]


def clock(t: float) -> str:
    """A time as m:ss.s (h:mm:ss.s from an hour)."""
    t = max(t, 0.0)
    tenths = round(t * 10)
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    seconds = rest / 10
    return f"{hours}:{minutes:02d}:{seconds:04.1f}" if hours else f"{minutes}:{seconds:04.1f}"


class Painter:
    """Draws rendered frames for one video: the timeline and each segment's header are drawn once and copied; per
    frame only the picture, the clock and the timeline's cursor change."""

    def __init__(self, lay: Layout, segments: Sequence[Segment], duration_s: float, labels: Sequence[str]):
        if not segments:
            raise ActionrecError("nothing to render: the video has no segments")
        self.lay = lay
        self.segments = list(segments)
        self.starts = [s.start_s for s in self.segments]
        self.duration_s = max(duration_s, self.segments[-1].end_s, 1e-6)
        self.labels = labels
        self.timeline = self._timeline()
        self.headers: dict[int, np.ndarray] = {}

    def x_of(self, t: float) -> int:
        """The timeline's pixel column of time `t`."""
        return round(min(max(t / self.duration_s, 0.0), 1.0) * (self.lay.width - 1))

    def _timeline(self) -> np.ndarray:
        lay = self.lay
        bar = np.full((lay.timeline_h, lay.width, 3), BACKGROUND, np.uint8)
        scale = lay.text_scale * 0.7
        thick = max(1, _thickness(scale) - 1)
        for seg in self.segments:
            x0, x1 = self.x_of(seg.start_s), self.x_of(seg.end_s)
            colour = label_colour(seg.label, self.labels)
            cv2.rectangle(bar, (x0, 0), (max(x1 - 1, x0), lay.timeline_h - 1), colour, cv2.FILLED)
            (tw, th), _ = cv2.getTextSize(seg.label, FONT, scale, thick)
            if tw + 6 < x1 - x0 and th + 4 < lay.timeline_h:  # the label's name where it fits
                org = (x0 + 3, (lay.timeline_h + th) // 2)
                cv2.putText(bar, seg.label, org, FONT, scale, (0, 0, 0), thick + 1, cv2.LINE_AA)
                cv2.putText(bar, seg.label, org, FONT, scale, WHITE, thick, cv2.LINE_AA)
        for seg in self.segments[1:]:  # a thin dark line at each boundary
            x = self.x_of(seg.start_s)
            cv2.line(bar, (x, 0), (x, lay.timeline_h - 1), BACKGROUND, 1)
        return bar

    def _header(self, k: int) -> np.ndarray:
        """The header of segment k (without the clock): its colour, label and score."""
        if k not in self.headers:
            lay = self.lay
            seg = self.segments[k]
            head = np.full((lay.header_h, lay.width, 3), BACKGROUND, np.uint8)
            pad = _pad(lay.text_scale)
            side = lay.header_h - 2 * pad
            cv2.rectangle(head, (pad, pad), (pad + side, pad + side), label_colour(seg.label, self.labels), cv2.FILLED)
            text = f"{seg.label} {seg.score:.2f}"
            _text(head, text, (2 * pad + side + pad, lay.header_h - pad), lay.text_scale, lay.label_box[2])
            self.headers[k] = head
        return self.headers[k]

    def frame(self, picture_rgb: np.ndarray, t: float) -> np.ndarray:
        """The rendered BGR frame for input frame `picture_rgb` (RGB, the input's size) shown at time `t`."""
        lay = self.lay
        k = max(bisect.bisect_right(self.starts, t) - 1, 0)
        out = np.empty((lay.height, lay.width, 3), np.uint8)
        out[: lay.header_h] = self._header(k)
        x0, y0, x1, y1 = lay.picture_box
        picture = cv2.cvtColor(picture_rgb, cv2.COLOR_RGB2BGR)
        if picture.shape[:2] != (y1 - y0, x1 - x0):
            picture = cv2.resize(picture, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        out[y0:y1] = picture
        x0, y0, x1, y1 = lay.timeline_box
        out[y0:y1] = self.timeline
        x = self.x_of(t)
        cv2.line(out, (x, y0), (x, y1 - 1), (0, 0, 0), 3)  # the cursor: white on a dark outline
        cv2.line(out, (x, y0), (x, y1 - 1), WHITE, 1)
        pad = _pad(lay.text_scale)
        text = f"{clock(t)} / {clock(self.duration_s)}"
        (tw, _), _ = cv2.getTextSize(text, FONT, lay.text_scale * 0.8, _thickness(lay.text_scale * 0.8))
        left = max(lay.label_box[2], lay.width - pad - tw)
        _text(out, text, (left, lay.header_h - pad), lay.text_scale * 0.8, lay.width)
        return out


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, right: int) -> None:
    """White text at baseline `org`, cut short (ending in '..') where it would pass column `right`."""
    thick = _thickness(scale)
    while text and cv2.getTextSize(text, FONT, scale, thick)[0][0] > right - org[0]:
        text = text[:-3] + ".." if len(text) > 3 else ""
    if text:
        cv2.putText(img, text, org, FONT, scale, WHITE, thick, cv2.LINE_AA)


@dataclass(frozen=True)
class RenderResult:
    """What `render_video` wrote."""

    out: Path
    codec: VideoCodec  # how it was encoded (and whether browsers play it)
    frames: int
    size: tuple[int, int]  # (width, height) of its frames


def render_video(
    video: str | os.PathLike[str],
    segments: Sequence[Segment],
    out: str | os.PathLike[str],
    *,
    labels: Sequence[str] = (),
    duration_s: float | None = None,
    min_side: int = 360,
    progress: Callable[[int], None] | None = None,
) -> RenderResult:
    """Write `video` to `out` annotated with its `segments` (in time order, tiling the video): above each frame
    the colour, label and score of the segment it falls in and the clock, below it the timeline of all segments
    (one colour per label, by its place in the model's `labels`) with a cursor at the frame's time. Frames are
    enlarged by a whole factor until the short side reaches `min_side`.

    out: .mp4 as H.264 where an encoder is at hand (browsers play it), else MPEG-4 Part 2; .avi as Motion JPEG.
    Written atomically: on any error nothing is left at `out`; one that writing it meets (disk full, ...) is one
    line naming `out`. Memory holds one frame.
    """
    out = Path(out)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise ActionrecError(f"{out}: the annotated video must be {' or '.join(VIDEO_SUFFIXES)}")
    info = probe(video)
    fps = info.fps if info.fps > 0 else 25.0
    duration = duration_s if duration_s is not None else (segments[-1].end_s if segments else 0.0)
    lay: Layout | None = None
    painter: Painter | None = None
    writer = None
    codec: VideoCodec | None = None
    frames = 0
    with writing(out), atomic_path(out) as tmp:
        try:
            for window in iter_windows(video, clip_len=1, stride=1):  # every decoded frame once, in order
                picture = window.frames[0]
                if painter is None:
                    lay = layout(picture.shape[1], picture.shape[0], min_side=min_side)
                    painter = Painter(lay, segments, duration, labels)
                    writer, codec = open_video_writer(tmp, out, fps, lay.size)
                writer.write(painter.frame(picture, window.start_s))
                frames += 1
                if progress is not None:
                    progress(frames)
        finally:
            if writer is not None:
                writer.release()
    assert lay is not None and codec is not None  # iter_windows raises on a video without frames
    return RenderResult(out, codec, frames, lay.size)
