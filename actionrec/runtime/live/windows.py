"""Causal windows from a live frame stream (`WindowAssembler`) and the bounded queue that hands the newest complete
window to the network (`LatestQueue`: a newer window replaces one still waiting, so it never grows)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...io.window_plan import WindowPlan
from ...model_meta import Preprocessing


@dataclass(frozen=True)
class LiveWindow:
    """A complete causal window, with when its last frame arrived."""

    index: int
    start_frame: int  # source frame numbers (the source's own frames, not the model's clock), counted since the
    end_frame: int  # start over reconnections too; end: one past its last frame
    frames: np.ndarray  # (clip_len, H, W, 3) RGB uint8, resized for the model
    start_s: float
    end_s: float
    arrived: float  # time.monotonic() of its last frame's arrival


class WindowAssembler:
    """Causal windows over a stream of frames on the model's clock (`io.video.FrameGrid`'s frames): one starts
    every `stride` frames and is complete when its last sampled frame arrives; only the last span of frames is held,
    and only the frames some window samples are converted (the grid: `io.window_plan.WindowPlan`'s causal one).
    `reset` starts a new grid (after a gap: windows never span one)."""

    def __init__(self, spec: Preprocessing, stride: int | None = None):
        self.plan = WindowPlan.for_spec(spec, stride)
        self.ring: deque[tuple[int, float, np.ndarray | None, int]] = deque(maxlen=self.plan.span)
        self.origin = 0  # the frame number where the current grid starts
        self.count = 0  # windows completed
        self.last_dt = 0.0  # the latest frame interval, for the end of a window's last frame

    def reset(self, origin: int) -> None:
        self.ring.clear()
        self.origin = origin

    def needed(self, i: int) -> bool:
        """Whether frame number `i` is sampled by some window of the grid."""
        return self.plan.causal_sampled(i - self.origin)

    def push(
        self, i: int, t: float, frame: np.ndarray | None, arrived: float, source: int | None = None
    ) -> LiveWindow | None:
        """Add frame number `i` at time `t` (None where not `needed`), taken from the source's frame number
        `source` (default `i`); the window it completes, if any."""
        if self.ring:
            self.last_dt = max(t - self.ring[-1][1], 1e-6)
        self.ring.append((i, t, frame, i if source is None else source))
        if self.plan.causal_completed(i - self.origin) is None:
            return None
        start = i - self.plan.span + 1
        picked = [(ts, f, n) for (j, ts, f, n) in self.ring if self.plan.samples(start, j)]
        window = LiveWindow(
            index=self.count,
            start_frame=picked[0][2],
            end_frame=self.ring[-1][3] + 1,
            frames=np.stack([f for _, f, _ in picked]),
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
