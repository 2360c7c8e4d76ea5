"""The capture thread: reads the source, paces a real-time file, assembles windows and queues them, and reopens a
source that disconnects."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

from ...errors import VideoError
from ...io.video import FrameGrid
from ...model_meta import Preprocessing
from ...transforms import frame_resizer
from .records import LiveConfig
from .sources import Source, SourceKind
from .windows import LatestQueue, WindowAssembler


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
        self.rate = spec.fps  # frames are sampled by time on the model's clock (`io.video.FrameGrid`)
        self.grid_next = 0  # the next frame number on that clock, over reconnections too
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
        self.assembler.reset(self.grid_next)  # no window spans the gap

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
        grid = FrameGrid(self.rate, 1.0 / fps, first=self.grid_next)
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
            placed = grid.take(t)  # the model-clock frames this one stands for: none, one or several
            self.grid_next = grid.next
            if any(self.assembler.needed(j) for j in placed):
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    raise VideoError(f"{self.source}: a frame could not be decoded (corrupt stream)")
                frame = cv2.cvtColor(self.resize(bgr), cv2.COLOR_BGR2RGB)
            for j in placed:
                window = self.assembler.push(j, grid.time(j, t), frame, arrived, source=i)
                if window is not None:
                    self.queue.put(window)
        return total
