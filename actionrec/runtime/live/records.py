"""How a live run is configured (`LiveConfig`), what it yields per window (`LiveLabel`) and what it counts
(`LatencyHistogram`, `LiveStats`, the frames its windows covered or dropped)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..aggregate import LabelScore
from ..segments import Segment, SegmentConfig


@dataclass(frozen=True)
class LiveConfig:
    """How `Watcher` reads and labels a live source."""

    stride: int | None = None  # source frames between window starts [default: as predict, Preprocessing.stride]
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


class Coverage:
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
