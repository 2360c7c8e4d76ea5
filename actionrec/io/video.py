"""Video decoding with OpenCV: probing, and streaming the sliding windows a model needs with container timestamps.

Memory is bounded by one window's span of frames, whatever the video's length.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import VideoError
from ..tuning import SINGLE_THREAD_DECODE_MAX_PIXELS
from .window_plan import WindowPlan
from .window_plan import plan_starts as plan_starts  # where the window planning lived: still importable here
from .window_plan import uniform_starts as uniform_starts

log = logging.getLogger(__name__)

# What a folder scan picks up: the containers OpenCV's FFmpeg decodes (animated GIF included). A file named on the
# command line is tried whatever its name.
VIDEO_EXTENSIONS = frozenset(
    {
        ".3g2", ".3gp", ".asf", ".avi", ".dv", ".f4v", ".flv", ".gif", ".m2t", ".m2ts", ".m2v", ".m4v", ".mj2",
        ".mjpeg", ".mjpg", ".mkv", ".mov", ".mp4", ".mpe", ".mpeg", ".mpg", ".mts", ".mxf", ".nut", ".ogm",
        ".ogv", ".qt", ".rm", ".rmvb", ".ts", ".vob", ".webm", ".wmv", ".y4m",
    }
)  # fmt: skip

FrameTransform = Callable[[np.ndarray], np.ndarray]  # per frame, channel-blind (a resize): runs before BGR -> RGB


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (frame count and duration may be estimates until decoded)."""

    path: str
    frames: int  # frame count reported by the container (0 when unknown)
    fps: float  # nominal frame rate; timestamps come from the container, not from this
    duration_s: float  # frames / fps as reported; refined by decoding
    width: int
    height: int
    codec: str  # FourCC, e.g. "mp4v", "MJPG", "h264"


def quiet_decoder_logs() -> None:
    """Silence FFmpeg's and OpenCV's own messages ("moov atom not found") on stderr for this process, unless the
    environment already sets them: errors then reach the user only as `VideoError`, one line naming the file. The
    command line calls it; a program using the library may. Takes effect for videos opened afterwards."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read when FFmpeg first opens a video
    if "OPENCV_LOG_LEVEL" not in os.environ:  # read when cv2 is imported, which has happened: set it directly too
        os.environ["OPENCV_LOG_LEVEL"] = "OFF"
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


@dataclass(frozen=True)
class Window:
    """One window of decoded frames and where it lies in the video."""

    index: int  # order of the window in the video
    start_frame: int  # index of its first sampled frame on the model's clock (`FrameGrid`)
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    start_s: float  # container timestamp of the first frame
    end_s: float  # timestamp where the last frame ends
    video_frames: int = 0  # frames decoded in the whole video; set on the last window only
    times: tuple[float, ...] = ()  # timestamp of each of its frames (a looped short video repeats them)


class FrameGrid:
    """The frames a model sees, on its own clock: decoded frames mapped by timestamp onto a grid of `rate` frames a
    second (the model's `Preprocessing.fps`), so that a window spans the same seconds at 25, 30 or 60 fps.

    Grid frame j lies at `t0 + j / rate` (t0: the first decoded frame's time) and takes the decoded frame nearest to
    it: the first one whose time plus half its own interval passes it. A decoded frame may stand for no grid frame
    (a faster video), one, or several (a slower one). `rate=None`: every decoded frame is one grid frame at its own
    time. Streaming: each frame is placed as it arrives, before the next one is read."""

    def __init__(self, rate: float | None, interval_s: float, first: int = 0):
        self.rate = rate
        self.interval_s = interval_s  # the first frame's interval: the container's nominal one
        self.t0: float | None = None
        self.last_ts: float | None = None
        self.first = first  # the grid frame at t0 (a live source's reconnection goes on counting)
        self.next = first  # the first grid frame not placed yet

    def take(self, ts: float) -> range:
        """The grid frames that the decoded frame at `ts` seconds stands for (times must increase)."""
        if self.rate is None:
            self.next += 1
            self.last_ts = ts
            return range(self.next - 1, self.next)
        if self.t0 is None:
            self.t0 = ts
        interval = ts - self.last_ts if self.last_ts is not None else self.interval_s
        self.last_ts = ts
        first, bound = self.next, ts + interval / 2
        while self.time(self.next, ts) < bound:
            self.next += 1
        return range(first, self.next)

    def time(self, j: int, ts: float) -> float:
        """Seconds of grid frame `j`, which decoded frame `ts` stands for."""
        return ts if self.rate is None or self.t0 is None else self.t0 + (j - self.first) / self.rate

    def count(self, frames: int, fps: float) -> int:
        """Grid frames of a video of `frames` decoded frames at `fps` (an estimate, as the container's count is)."""
        if self.rate is None or fps <= 0:
            return frames
        return round(frames * self.rate / fps)


def is_url(path: str | os.PathLike[str]) -> bool:
    """A stream or remote file FFmpeg opens itself (http://, https://, rtsp://, ...), not a path on this machine."""
    return isinstance(path, str) and _URL.match(path) is not None


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def open_capture(path: str | os.PathLike[str], threads: int = 0) -> cv2.VideoCapture:
    """Open a video with FFmpeg, checking the file first (a URL: FFmpeg alone); threads: decoder threads (0:
    FFmpeg's choice)."""
    params = [cv2.CAP_PROP_N_THREADS, threads] if threads else []
    if is_url(path):
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            raise VideoError(f"{path}: cannot open: unreachable, or not a video")
        return cap
    p = Path(path)
    try:
        _check_file(p)
        with _openable_name(p) as name:
            cap = cv2.VideoCapture(name, cv2.CAP_FFMPEG, params)  # FFmpeg alone: the fallback parsers print to stderr
    except OSError as e:  # a name the system refuses (too long, a loop of links): this file's own error
        raise VideoError(f"{p}: cannot open: {e.strerror or e}") from None
    if not cap.isOpened():
        raise VideoError(f"{p}: cannot open: not a video, or corrupt/truncated container")
    return cap


def _check_file(p: Path) -> None:
    """The reasons a file on this machine cannot be a video, each as one VideoError line."""
    if not p.exists():
        if p.is_symlink():
            raise VideoError(f"{p}: a broken symbolic link (its target {os.readlink(p)} does not exist)")
        raise VideoError(f"{p}: no such file")
    if p.is_dir():
        raise VideoError(f"{p}: is a folder, not a video")
    if not os.access(p, os.R_OK):
        raise VideoError(f"{p}: permission denied")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: empty file (0 bytes)")


@contextlib.contextmanager
def _openable_name(p: Path) -> Iterator[str]:
    """A name OpenCV can open `p` by. OpenCV takes UTF-8 text (a name holding bytes that are not UTF-8, which
    Python keeps as lone surrogates, crashes it): such a file is opened here and handed over as /proc/self/fd/N,
    kept open until FFmpeg has opened it too."""
    try:
        str(p).encode("utf-8")
        yield str(p)
        return
    except UnicodeEncodeError:
        pass
    if not Path("/proc/self/fd").is_dir():
        raise VideoError(f"{p}: its name is not valid UTF-8, which OpenCV cannot open here; rename the file")
    fd = os.open(p, os.O_RDONLY)
    try:
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _fourcc(cap: cv2.VideoCapture) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text.strip("\x00 ") if text.isprintable() else f"{code:#x}"


def nominal_fps(cap: cv2.VideoCapture) -> float:
    """The container's frame rate, or 0.0 where it is missing or absurd (below 1 or above 1000 fps: a damaged
    header, which would otherwise stretch one frame over minutes)."""
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    return fps if np.isfinite(fps) and 1.0 <= fps <= 1000.0 else 0.0


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Read the container's header: frame count, fps, duration, size and codec. Decodes nothing."""
    cap = open_capture(path)
    try:
        frames = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        fps = nominal_fps(cap)
        return VideoInfo(
            path=str(path),
            frames=frames,
            fps=fps,
            duration_s=frames / fps if fps > 0 else 0.0,
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            codec=_fourcc(cap),
        )
    finally:
        cap.release()


class _Frames:
    """Sequential decoder that yields (grid index, timestamp_s, retrieve) for each frame of the `FrameGrid` at
    `rate` (None: every decoded frame), converting only the frames whose `retrieve` is called (once each).

    Small frames decode on one thread (`tuning.SINGLE_THREAD_DECODE_MAX_PIXELS`): FFmpeg's frame threads cost more
    CPU than they save there, CPU that predict's network needs beside it. Larger videos keep FFmpeg's choice (opened
    a second time: once more for the videos whose decoding costs the most, instead of for every small clip).
    """

    def __init__(self, path: str | os.PathLike[str], transform: FrameTransform | None, rate: float | None = None):
        self.path = path
        self.cap = open_capture(path, threads=1)
        pixels = self.cap.get(cv2.CAP_PROP_FRAME_WIDTH) * self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
        if pixels > SINGLE_THREAD_DECODE_MAX_PIXELS:
            self.cap.release()
            self.cap = open_capture(path)
        self.fps = nominal_fps(self.cap) or 25.0
        self.decoded_hint = max(int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)  # the container's frame count
        self.grid = FrameGrid(rate, 1.0 / self.fps)
        self.count_hint = self.grid.count(self.decoded_hint, self.fps)  # in grid frames
        self.transform = transform
        self.decoded = 0  # frames decoded so far
        self.end_s = 0.0  # where the last decoded frame ends
        self.last_ts = -1.0

    def __iter__(self) -> Iterator[tuple[int, float, Callable[[], np.ndarray]]]:
        interval = 1.0 / self.fps
        try:
            while self.cap.grab():
                ts = self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if not np.isfinite(ts) or ts <= self.last_ts:  # no usable container time: fall back to fps
                    ts = self.last_ts + 1.0 / self.fps if self.last_ts >= 0 else 0.0
                if self.decoded:
                    interval = ts - self.last_ts
                self.last_ts, self.end_s = ts, ts + interval
                self.decoded += 1
                retrieve = _Once(self._retrieve)
                for j in self.grid.take(ts):
                    yield j, self.grid.time(j, ts), retrieve
        finally:
            self.cap.release()

    def _retrieve(self) -> np.ndarray:
        ok, bgr = self.cap.retrieve()
        if not ok or bgr is None:
            raise VideoError(f"{self.path}: frame could not be decoded (corrupt stream)")
        if self.transform is not None:  # channel-blind (a resize): first, so that the colour swap runs on fewer pixels
            bgr = self.transform(bgr)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class _Once:
    """A frame's `retrieve`, run at most once: grid frames that share a decoded frame share its pixels."""

    def __init__(self, retrieve: Callable[[], np.ndarray]):
        self.retrieve = retrieve
        self.frame: np.ndarray | None = None

    def __call__(self) -> np.ndarray:
        if self.frame is None:
            self.frame = self.retrieve()
        return self.frame


def iter_windows(
    path: str | os.PathLike[str],
    *,
    clip_len: int,
    frame_step: int = 1,
    stride: int | None = None,
    num_windows: int | None = None,
    transform: FrameTransform | None = None,
    fps: float | None = None,
) -> Iterator[Window]:
    """Stream the windows of a video in order, decoding it once and holding at most one window's frames.

    Frames are counted on the model's clock: with `fps` (the model's `Preprocessing.fps`) the video is sampled by
    timestamp at that rate (`FrameGrid`), so a window covers the same seconds whatever the video's own rate; None
    takes every decoded frame. Windows start every `stride` frames (default: `model_meta.default_stride`, a whole number
    of frame_steps, so that every start falls on the same frame_step grid and only those frames are converted), plus
    one aligned to the end so the tail is covered; or, with `num_windows`, that many evenly spaced. A video shorter
    than one window is looped. `transform` is applied to each frame once, as it is decoded (channel-blind, e.g. the
    short-side resize).
    """
    plan = WindowPlan.of(clip_len, frame_step, stride)
    span, stride = plan.span, plan.stride
    source = _Frames(path, transform, fps)
    n_hint = source.count_hint  # the container's count: a plan, checked against what actually decodes
    if num_windows is not None:
        pending = plan.spread(n_hint, num_windows) if n_hint else [0]
    else:
        pending = plan.starts(n_hint) if n_hint else []

    def needed(i: int) -> bool:
        if not n_hint or i >= n_hint - span - stride:  # unknown length, or near an end the count may misplace
            return True
        return plan.sampled_by(i, pending)  # a start leaves `pending` once its window is complete: only open ones

    ring: deque[tuple[int, float, np.ndarray | None]] = deque(maxlen=span)  # the last `span` grid frames
    waiting: deque[tuple[int, np.ndarray, tuple[float, ...]]] = deque()  # complete windows waiting for their end
    count, last_start = 0, -1
    for i, ts, retrieve in source:
        while waiting:  # this frame's timestamp is where the previous window ends
            start, frames, times = waiting.popleft()
            yield Window(count, start, frames, times[0], ts, times=times)
            count += 1
        ring.append((i, ts, retrieve() if needed(i) else None))
        if not n_hint and num_windows is None and (grid_start := plan.causal_completed(i)) is not None:
            pending.append(grid_start)  # unknown length: the windows of the stride grid, as each completes
        if pending and pending[0] + span - 1 == i:
            start = pending.pop(0)
            waiting.append((start, *_take(ring, plan, start, path)))
            last_start = start
    end_s = source.end_s
    n = len(ring) and ring[-1][0] + 1
    if n == 0:
        raise VideoError(f"{path}: no frames could be decoded (empty or corrupt stream)")
    listed = source.decoded_hint  # a container's count may be off by a frame or two
    truncated = listed > 0 and source.decoded < listed - 1 - listed // 50
    if truncated:
        log.warning(
            "warning: %s: truncated: %d of the %d frames its container lists decode", path, source.decoded, listed
        )
    if n < span:  # shorter than one window: loop its frames so that it still gets a label
        if truncated:
            held = [(t, f) for (_, t, f) in ring if f is not None]
        else:
            picked = [(t, f) for (_, t, f) in ring]
            if any(f is None for _, f in picked):
                raise VideoError(f"{path}: frames could not be decoded (corrupt stream)")
            held = picked
        if not held:
            raise VideoError(f"{path}: no frames could be decoded (empty or corrupt stream)")
        loop = plan if not truncated else WindowPlan(clip_len)  # a cut video: only the frames that were converted
        looped = [held[k] for k in loop.indices(len(held), 0)]
        waiting.append((0, np.stack([f for _, f in looped]), tuple(t for t, _ in looped)))
    elif last_start < 0 or (last_start + span < n and (num_windows is None or pending)):
        # The tail is not covered (or the container's count was wrong): one window aligned to the end. In a cut
        # video some of its frames were skipped as not needed: the tail's frames at hand, spread over the window.
        tail = [(t, f) for (i, t, f) in ring if plan.samples(n - span, i)]
        available = [(t, f) for (_, t, f) in ring if f is not None]
        if all(f is not None for _, f in tail):
            picked = tail
        elif truncated and available:
            picked = [available[k] for k in np.linspace(0, len(available) - 1, clip_len).round().astype(int)]
        else:
            raise VideoError(f"{path}: frames could not be decoded (corrupt stream)")
        waiting.append((n - span, np.stack([f for _, f in picked]), tuple(t for t, _ in picked)))
    for k, (start, frames, times) in enumerate(waiting):
        last = k == len(waiting) - 1
        yield Window(count + k, start, frames, times[0], end_s, video_frames=source.decoded if last else 0, times=times)


def _take(ring, plan: WindowPlan, start: int, path) -> tuple[np.ndarray, tuple[float, ...]]:
    """Stack the ring's frames that the window starting at `start` samples, with their times."""
    picked = [(t, f) for (i, t, f) in ring if plan.samples(start, i)]
    if any(f is None for _, f in picked):
        raise VideoError(f"{path}: frames could not be decoded (corrupt stream)")
    return np.stack([f for _, f in picked]), tuple(t for t, _ in picked)


def read_frames(
    path: str | os.PathLike[str],
    indices: Sequence[int],
    transform: FrameTransform | None = None,
    fps: float | None = None,
) -> np.ndarray:
    """Decode the frames at `indices` (on the grid of `fps` frames a second, `FrameGrid`; None: decoded frames) in
    one sequential pass: (len(indices), H, W, 3) RGB uint8.

    Indices past the real end (a container's count can be off) take the last frame read.
    """
    wanted = set(indices)
    last = max(wanted)
    got: dict[int, np.ndarray] = {}
    tail: np.ndarray | None = None
    for i, _, retrieve in _Frames(path, transform, fps):
        if i in wanted:
            got[i] = tail = retrieve()
        if i >= last:
            break
    if tail is None:
        raise VideoError(f"{path}: no frames could be decoded (empty or corrupt stream)")
    return np.stack([got.get(i, tail) for i in indices])


def read_all(
    path: str | os.PathLike[str], transform: FrameTransform | None = None, fps: float | None = None
) -> np.ndarray:
    """Every frame of the video on the grid of `fps` frames a second (None: every decoded frame): (N, H, W, 3)."""
    frames = [retrieve() for _, _, retrieve in _Frames(path, transform, fps)]
    if not frames:
        raise VideoError(f"{path}: no frames could be decoded (empty or corrupt stream)")
    return np.stack(frames)


def grid_frames(info: VideoInfo, fps: float | None) -> int:
    """Frames of the video on the grid of `fps` frames a second, from its container's count (an estimate)."""
    return FrameGrid(fps, 0.0).count(info.frames, info.fps)


@dataclass
class VideoScan:
    """What `scan_videos` found: the videos to label, in order, and what the folder scan left out."""

    videos: list[Path]
    skipped: list[Path]  # files (and folders named like videos) inside the given folders, not taken as videos
    empty_folders: list[Path]  # folders given that hold no video file


def scan_videos(paths: Sequence[str | os.PathLike[str]]) -> VideoScan:
    """Expand folders recursively to the video files inside them (by extension, `VIDEO_EXTENSIONS`), noting what
    was left out; anything else given (a file, a missing path, a folder named like a video) is kept as given, so
    that it is labelled or gets its own error."""
    scan = VideoScan([], [], [])
    for raw in paths:
        p = Path(raw)
        try:
            folder = p.is_dir() and p.suffix.lower() not in VIDEO_EXTENSIONS
        except OSError:  # a name the system refuses: kept as given, to get its own error
            folder = False
        if folder:
            found, skipped = [], []
            for f in sorted(p.rglob("*")):
                if f.suffix.lower() in VIDEO_EXTENSIONS and (f.is_file() or (f.is_symlink() and not f.exists())):
                    found.append(f)  # a broken link named like a video: labelled, so that it gets its own error
                elif f.is_file() or f.suffix.lower() in VIDEO_EXTENSIONS:  # a folder "x.mp4" is no video either
                    skipped.append(f)
            scan.videos.extend(found)
            scan.skipped.extend(skipped)
            if not found:
                scan.empty_folders.append(p)
        else:
            scan.videos.append(p)
    return scan
