"""Live input (`actionrec watch`): a camera, a stream URL or a file paced at its own frame rate, read on a capture
thread into causal windows; the network labels the newest complete window (an older one still waiting is dropped,
so the queue never grows), `OnlineSegmenter` keeps the current segment, and the run's statistics are counted.
"""

from __future__ import annotations

import enum
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..config import Preprocessing
from ..errors import ActionrecError, VideoError
from ..io.video import is_url, probe
from ..transforms import frame_resizer, preprocess
from .aggregate import LabelScore, ranked, softmax
from .segments import OnlineSegmenter, Segment, SegmentConfig

# ---- sources ----


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
        if self.kind == SourceKind.file:
            probe(self.text)  # missing, a folder, unreadable, empty, not a video: its own one-line error
            params = []
        else:
            ms = round(timeout_s * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        cap = cv2.VideoCapture(self.text, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            what = "the stream (unreachable, refused, or not a video)" if self.kind == SourceKind.stream else "it"
            raise VideoError(f"{self}: cannot open {what}")
        return cap


def parse_source(text: str | os.PathLike[str]) -> Source:
    """A camera index ("0"), a URL ("rtsp://...", `io.video.is_url`), or else a file path."""
    if isinstance(text, str) and text.isdigit():
        return Source(text, SourceKind.camera)
    if is_url(text):
        return Source(str(text), SourceKind.stream)
    return Source(str(Path(text)), SourceKind.file)


# ---- configuration, results, statistics ----


@dataclass(frozen=True)
class LiveConfig:
    """How `Watcher` reads and labels a live source."""

    stride: int | None = None  # source frames between window starts [default: half a window, as predict]
    realtime: bool = False  # pace the source at its own frame rate (a file delivered as a camera would)
    top_k: int = 5  # labels per window
    pending: int = 1  # complete windows waiting for the network at most: a newer one replaces the oldest
    reconnect: int = 0  # attempts to reopen a source that disconnected or would not open (0: none, fail at once)
    backoff_s: float = 1.0  # wait before the first reconnection attempt, doubled after each failed one ...
    backoff_max_s: float = 10.0  # ... up to this
    timeout_s: float = 10.0  # a stream that sends nothing this long is disconnected (and opening it too)
    segments: SegmentConfig = field(default_factory=SegmentConfig)


@dataclass(frozen=True)
class LiveLabel:
    """One window's answer, given as soon as the window is complete."""

    window: int  # the window's number since the start (skipped windows count too)
    start_s: float  # the window's first frame, in seconds since the source's first frame
    end_s: float  # where its last frame ends
    top: list[LabelScore]
    segment: Segment  # the current segment (causal: it may still grow or change label)
    latency_s: float  # from the window's last frame arriving to this label
    dropped_frames: int  # so far

    @property
    def label(self) -> str:
        return self.top[0].label

    @property
    def score(self) -> float:
        return self.top[0].score

    def to_dict(self) -> dict[str, Any]:
        """The JSON Lines record of `watch --format jsonl`."""
        segment = asdict(self.segment)
        for key in ("start_s", "end_s", "score"):
            segment[key] = round(segment[key], 6)
        return {
            "window": self.window,
            "start_s": round(self.start_s, 6),
            "end_s": round(self.end_s, 6),
            "label": self.label,
            "score": round(self.score, 6),
            "top": [{"label": t.label, "score": round(t.score, 6)} for t in self.top],
            "segment": segment,
            "latency_s": round(self.latency_s, 6),
            "dropped_frames": self.dropped_frames,
        }


class LatencyHistogram:
    """Latencies in 1 ms bins up to `limit_s` (and the exact maximum): percentiles in fixed memory, however long
    the run."""

    def __init__(self, limit_s: float = 30.0):
        self.bins = np.zeros(int(limit_s * 1000) + 1, np.int64)  # the last bin: limit_s and over
        self.count = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        self.bins[min(max(int(seconds * 1000), 0), len(self.bins) - 1)] += 1
        self.count += 1
        self.max = max(self.max, seconds)

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0-100), to the millisecond (the bin's upper edge, at most the maximum)."""
        if not self.count:
            return None
        k = int(np.searchsorted(np.cumsum(self.bins), q / 100 * self.count))
        return self.max if k >= len(self.bins) - 1 else min((k + 1) / 1000, self.max)  # the last bin: past limit_s


@dataclass(frozen=True)
class LiveStats:
    """How a watch went so far."""

    frames: int  # read from the source
    windows: int  # labelled
    skipped_windows: int  # complete but dropped: a newer one was ready before the network took them
    dropped_frames: int  # frames of skipped windows that no labelled window holds (so far: known to be dropped)
    reconnects: int
    seconds: float  # from the first frame's arrival to the latest's
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_max_s: float | None


class _Coverage:
    """Frames dropped: those of skipped windows that no labelled window holds. Windows are decided (labelled or
    skipped) in order; a skipped window's frames past the labelled ones wait in `gap` until the next labelled
    window shows which of them it holds, so that the count only ever grows."""

    def __init__(self):
        self.labelled_until = 0  # one past the last frame of the labelled windows so far
        self.gap: list[list[int]] = []  # skipped windows' frames past labelled_until: disjoint [first, stop) runs
        self.dropped = 0  # frames known to be dropped

    def decide(self, start: int, end: int, labelled: bool) -> None:
        if labelled:
            self.dropped += sum(max(0, min(b, start) - max(a, self.labelled_until)) for a, b in self.gap)
            self.gap = [[max(a, end), b] for a, b in self.gap if b > end]
            self.labelled_until = max(self.labelled_until, end)
            return
        first = max(start, self.labelled_until)
        if end <= first:
            return
        if self.gap and first <= self.gap[-1][1]:
            self.gap[-1][1] = max(self.gap[-1][1], end)
        else:
            self.gap.append([first, end])

    @property
    def pending(self) -> int:
        """Frames of skipped windows that a later labelled window may still hold (dropped if none comes)."""
        return sum(b - a for a, b in self.gap)


# ---- windows ----


@dataclass(frozen=True)
class LiveWindow:
    """A complete causal window, with when its last frame arrived."""

    index: int
    start_frame: int  # source frame numbers, counted since the start (over reconnections too)
    end_frame: int  # one past its last frame
    frames: np.ndarray  # (clip_len, H, W, 3) RGB uint8, resized for the model
    start_s: float
    end_s: float
    arrived: float  # time.monotonic() of its last frame's arrival


class WindowAssembler:
    """Causal windows over a stream of frames: one starts every `stride` frames and is complete when its last
    sampled frame arrives; only the last span of frames is held, and only the frames some window samples are
    converted. `reset` starts a new grid (after a gap: windows never span one)."""

    def __init__(self, spec: Preprocessing, stride: int | None = None):
        self.clip_len, self.frame_step = spec.clip_len, spec.frame_step
        self.span = (spec.clip_len - 1) * spec.frame_step + 1
        self.stride = stride or max(spec.clip_len // 2, 1) * spec.frame_step
        self.ring: deque[tuple[int, float, np.ndarray | None]] = deque(maxlen=self.span)
        self.origin = 0  # the frame number where the current grid starts
        self.count = 0  # windows completed
        self.last_dt = 0.0  # the latest frame interval, for the end of a window's last frame

    def reset(self, origin: int) -> None:
        self.ring.clear()
        self.origin = origin

    def needed(self, i: int) -> bool:
        """Whether frame number `i` is sampled by some window of the grid."""
        rel = i - self.origin
        first = max(0, -(-(rel - self.span + 1) // self.stride))
        return any((rel - k * self.stride) % self.frame_step == 0 for k in range(first, rel // self.stride + 1))

    def push(self, i: int, t: float, frame: np.ndarray | None, arrived: float) -> LiveWindow | None:
        """Add frame number `i` at time `t` (None where not `needed`); the window it completes, if any."""
        if self.ring:
            self.last_dt = max(t - self.ring[-1][1], 1e-6)
        self.ring.append((i, t, frame))
        rel = i - self.origin
        if rel < self.span - 1 or (rel - self.span + 1) % self.stride:
            return None
        start = i - self.span + 1
        picked = [(ts, f) for (j, ts, f) in self.ring if j >= start and (j - start) % self.frame_step == 0]
        window = LiveWindow(
            index=self.count,
            start_frame=start,
            end_frame=i + 1,
            frames=np.stack([f for _, f in picked]),
            start_s=picked[0][0],
            end_s=t + (self.last_dt or 0.04),
            arrived=arrived,
        )
        self.count += 1
        return window


class LatestQueue:
    """At most `size` windows waiting for the network, oldest first: a put on a full queue drops the oldest. Every
    window is decided, in order, under the queue's lock: taken (to be labelled) or dropped."""

    def __init__(self, size: int, decided: Callable[[LiveWindow, bool], None]):
        self.items: deque[LiveWindow] = deque()
        self.size = max(size, 1)
        self.decided = decided
        self.cond = threading.Condition()
        self.closed = False

    def put(self, item: LiveWindow) -> bool:
        """Queue `item`; True when an older window was dropped to make room."""
        with self.cond:
            dropped = len(self.items) >= self.size
            if dropped:
                self.decided(self.items.popleft(), False)
            self.items.append(item)
            self.cond.notify()
            return dropped

    def get(self, timeout: float) -> LiveWindow | None:
        """The oldest waiting window, or None after `timeout` seconds or once closed and empty."""
        with self.cond:
            if not self.items and not self.closed:
                self.cond.wait(timeout)
            if not self.items:
                return None
            item = self.items.popleft()
            self.decided(item, True)
            return item

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    @property
    def finished(self) -> bool:
        with self.cond:
            return self.closed and not self.items


# ---- capture ----


class _Clock:
    """Frame times of one connection, in seconds since the watch's first frame: the source's own timestamps where
    they increase, else the frame rate's spacing; a reconnection continues from `offset`."""

    def __init__(self, offset: float, fps: float):
        self.offset, self.fps = offset, fps
        self.first: float | None = None
        self.last = offset - 1.0 / fps

    def time(self, pos_ms: float) -> float:
        if self.first is None and np.isfinite(pos_ms):
            self.first = pos_ms
        t = self.offset + (pos_ms - self.first) / 1000.0 if self.first is not None and np.isfinite(pos_ms) else -1.0
        if not t > self.last:  # no usable timestamp: the frame rate's spacing
            t = self.last + 1.0 / self.fps
        self.last = t
        return t


class Capture(threading.Thread):
    """Reads the source on its own thread, paces a `realtime` source, assembles windows and queues them; reopens a
    source that disconnects (`LiveConfig.reconnect`). Its error, if any, is in `error` once it has finished."""

    def __init__(
        self,
        source: Source,
        spec: Preprocessing,
        config: LiveConfig,
        queue: LatestQueue,
        notify: Callable[[str], None],
    ):
        super().__init__(name="actionrec-capture", daemon=True)  # a read blocked in FFmpeg must not hold the exit
        self.source, self.config, self.queue, self.notify = source, config, queue, notify
        self.assembler = WindowAssembler(spec, config.stride)
        self.resize = frame_resizer(spec)
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.frames = 0  # read from the source, over all connections
        self.reconnects = 0
        self.first_arrival: float | None = None  # time.monotonic() of the first frame's arrival
        self.last_arrival = 0.0  # and of the latest's
        self.last_t = 0.0  # the latest frame's time (seconds since the first)
        self.ended = ""  # why reading ended: "end of file", "end of stream", or empty while running

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        try:
            self._run()
        except BaseException as e:  # handed to the consumer
            self.error = e
        finally:
            self.queue.close()

    def _run(self) -> None:
        failures = 0
        while not self.stop_event.is_set():
            try:
                cap = self.source.open(self.config.timeout_s)
            except VideoError as e:
                if self.source.kind == SourceKind.file:  # a file does not come back
                    raise
                failures += 1
                self._retry_or_raise(failures, str(e), e)
                continue
            try:
                before = self.frames
                total = self._read(cap)
            finally:
                cap.release()
            if self.frames > before:
                failures = 0
            if self.stop_event.is_set():
                return
            if self.source.kind == SourceKind.file:
                self.ended = "end of file"
                return
            if total > 0 and self.frames - before >= total - 1 - total // 50:  # a stream of known length, all read
                self.ended = "end of stream"
                return
            failures += 1
            got = self.frames - before
            what = f"disconnected after {got} frames" if got else "opened but sent no frames"
            self._retry_or_raise(failures, f"{self.source}: {what}", None)

    def _retry_or_raise(self, failures: int, message: str, cause: BaseException | None) -> None:
        limit = self.config.reconnect
        if failures > limit:
            if limit:
                message += f"; gave up after {limit} reconnection attempt{'s' if limit > 1 else ''}"
            raise VideoError(message) from cause
        wait = min(self.config.backoff_s * 2 ** (failures - 1), self.config.backoff_max_s)
        self.notify(f"warning: {message}; reconnecting in {wait:g} s (attempt {failures} of {limit})")
        self.stop_event.wait(wait)
        self.reconnects += 1
        self.assembler.reset(self.frames)  # no window spans the gap

    def _read(self, cap: cv2.VideoCapture) -> int:
        """Read frames until the source ends, fails or `stop`; returns the frame count it announced (0: unknown)."""
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 0.0
        fps = fps if np.isfinite(fps) and 0 < fps <= 1000 else 25.0
        total = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        total = int(total) if np.isfinite(total) and 0 < total < 1e9 else 0
        offset = 0.0
        if self.first_arrival is not None:  # a reconnection: the clock goes on, by the wall time since the start
            offset = max(time.monotonic() - self.first_arrival, self.last_t + 1.0 / fps)
        clock = _Clock(offset, fps)
        paced_from: tuple[float, float] | None = None  # (monotonic, frame time) of this connection's first frame
        while not self.stop_event.is_set() and cap.grab():
            t = clock.time(cap.get(cv2.CAP_PROP_POS_MSEC))
            now = time.monotonic()
            arrived = now
            if self.config.realtime:  # deliver it when its time comes, as a camera would; late: when it was due
                if paced_from is None:
                    paced_from = (now, t)
                arrived = paced_from[0] + (t - paced_from[1])
                if arrived > now and self.stop_event.wait(arrived - now):
                    return total
            if self.first_arrival is None:
                self.first_arrival = arrived
            self.last_arrival, self.last_t = arrived, t
            i = self.frames
            self.frames += 1
            frame = None
            if self.assembler.needed(i):
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    raise VideoError(f"{self.source}: a frame could not be decoded (corrupt stream)")
                frame = cv2.cvtColor(self.resize(bgr), cv2.COLOR_BGR2RGB)
            window = self.assembler.push(i, t, frame, arrived)
            if window is not None:
                self.queue.put(window)
        return total


# ---- the watcher ----


class Watcher:
    """Label a live source window by window: `labels()` yields a `LiveLabel` as each window completes, until the
    source ends (a file, or a stream of known length), `stop()` is called or the caller stops iterating (Ctrl-C);
    a source that disconnects (after `reconnect` attempts) raises VideoError from `labels()`. `stats()` and
    `segments()` tell how it went, whenever asked. Use as a context manager, which stops the capture thread."""

    def __init__(
        self,
        recognizer,
        source: Source | str | os.PathLike[str],
        config: LiveConfig | None = None,
        *,
        notify: Callable[[str], None] | None = None,
    ):
        self.recognizer = recognizer
        self.meta = recognizer.meta
        self.source = source if isinstance(source, Source) else parse_source(source)
        self.config = config or LiveConfig()
        self.coverage = _Coverage()
        self.skipped = 0
        self.queue = LatestQueue(self.config.pending, self._decided)
        self.capture = Capture(
            self.source, self.meta.preprocessing, self.config, self.queue, notify or (lambda m: None)
        )
        self.segmenter = OnlineSegmenter(self.meta.labels, self.config.segments)
        self.latency = LatencyHistogram()
        self.labelled = 0

    def _decided(self, window: LiveWindow, labelled: bool) -> None:  # under the queue's lock
        self.coverage.decide(window.start_frame, window.end_frame, labelled)
        if not labelled:
            self.skipped += 1

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, wait_s: float = 2.0) -> None:
        """Stop reading: the capture thread ends after its current frame and releases the source; wait up to
        `wait_s` for that, so that no decoder is left mid-read when the process exits (a read blocked in a stalled
        stream is left to time out on its daemon thread)."""
        self.capture.stop()
        self.queue.close()
        if self.capture.is_alive() and threading.current_thread() is not self.capture:
            self.capture.join(wait_s)

    def labels(self) -> Iterator[LiveLabel]:
        """Each window's label and the current segment, in order, as the windows complete."""
        spec = self.meta.preprocessing
        if self.capture.ident is None:  # not started: a first network call (its one-off set-up costs) before
            self.recognizer.backend(np.zeros((1, 3, spec.clip_len, spec.crop, spec.crop), np.float32))
            self.capture.start()
        while True:
            window = self.queue.get(timeout=0.1)  # a short wait: Ctrl-C reaches the main thread promptly
            if window is None:
                if self.queue.finished:
                    break
                continue
            probs = softmax(self.recognizer.backend(preprocess(window.frames, spec)))[0]
            if not np.isfinite(probs).all():
                raise ActionrecError(
                    f"{self.source}: the network gave non-finite scores (NaN or infinity): a damaged model file?"
                )
            segment = self.segmenter.push(window.start_s, window.end_s, probs)
            latency = time.monotonic() - window.arrived
            self.latency.add(latency)
            self.labelled += 1
            yield LiveLabel(
                window=window.index,
                start_s=window.start_s,
                end_s=window.end_s,
                top=ranked(probs, self.meta.labels, self.config.top_k),
                segment=segment,
                latency_s=latency,
                dropped_frames=self.coverage.dropped,
            )
        self.capture.join(1.0)
        if self.capture.error is not None:
            raise self.capture.error

    @property
    def ended(self) -> str:
        """Why the source stopped sending: "end of file", "end of stream", or "" (still running, stopped, or
        disconnected)."""
        return self.capture.ended

    def segments(self) -> list[Segment]:
        """The segments so far (the last one still open)."""
        return self.segmenter.segments()

    def stats(self) -> LiveStats:
        """The run so far; once the source has ended or the watch stopped, skipped windows after the last
        labelled one count as dropped too."""
        first, last = self.capture.first_arrival, self.capture.last_arrival
        dropped = self.coverage.dropped + (self.coverage.pending if self.queue.finished else 0)
        return LiveStats(
            frames=self.capture.frames,
            windows=self.labelled,
            skipped_windows=self.skipped,
            dropped_frames=dropped,
            reconnects=self.capture.reconnects,
            seconds=last - first if first is not None else 0.0,
            latency_p50_s=self.latency.percentile(50),
            latency_p95_s=self.latency.percentile(95),
            latency_max_s=self.latency.max if self.latency.count else None,
        )
