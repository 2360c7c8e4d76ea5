"""Window probabilities -> action segments: a Viterbi pass with a switch penalty, a minimum duration, and each
boundary placed between the centres of the windows on either side, so that the segments tile the video in time
order. `OnlineSegmenter` does the same causally, one window at a time, for live input; `segment` is it run over a
whole video."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..results import Segment
from .segment_config import DEFAULT_SEGMENT_CONFIG, SegmentConfig

# A refined boundary lies on one of this many steps between two window centres (0.06 s apart at predict's default
# stride of 12 frames at 25 fps): finer is noise next to the boundaries' 0.15 s error, and a back end that rounds
# probabilities a little differently (bf16, ONNX) then seldom moves a boundary.
REFINE_STEPS = 8


@dataclass(frozen=True)
class _Run:
    """One label's run of windows on a Viterbi path, linked to the path before it (paths share their pasts)."""

    label: int
    first: int  # index of its first window
    prev: _Run | None


class OnlineSegmenter:
    """Segments as windows arrive, in time order. `push` returns the current segment (the last one of the best
    path through the windows so far: causal, it may relabel as evidence comes in, never looking ahead; it starts
    midway between the centres of its first window and the one before); `segments` the final ones, exactly what
    `segment` gives for the same windows, each boundary placed as `SegmentConfig.refine` says.

    A segment's label is the one with the highest mean probability over its windows (so a video of one segment is
    labelled as the mean of its windows ranks it), its score that mean. Memory: each window's probabilities are
    kept (windows x labels floats) for the segments' scores."""

    def __init__(self, labels: Sequence[str], config: SegmentConfig = DEFAULT_SEGMENT_CONFIG):
        if not labels:
            raise ValueError("no labels")
        self.labels = tuple(labels)
        self.config = config
        self._probs = np.zeros((64, len(self.labels)))  # rows 0..n-1 hold the windows' probabilities
        self._n = 0
        self._centres: list[float] = []
        self._weights: list[float] = []
        self._end_s = 0.0
        self._scores = np.zeros(len(self.labels))
        self._runs: list[_Run] = []
        # The floor of a new segment's first window: boundary_floor when smoothing, else the plain floor.
        self._entry = max(config.floor, config.boundary_floor) if config.smooths else config.floor

    def __len__(self) -> int:
        return self._n

    def push(self, start_s: float, end_s: float, probs_row: np.ndarray) -> Segment:
        """Add the next window (its start, end and class probabilities); return the current segment so far."""
        row = np.asarray(probs_row, dtype=np.float64).reshape(-1)
        if row.shape != (len(self.labels),):
            raise ValueError(f"expected {len(self.labels)} probabilities, got {row.shape}")
        centre = 0.5 * (start_s + end_s)
        previous = self._centres[-1] if self._centres else 0.0
        if centre < previous:
            raise ValueError(f"windows must come in time order: centre {centre:.3f} s after {previous:.3f} s")
        weight = centre - previous  # the seconds this window's evidence stands for
        evidence = weight * np.log(np.maximum(row, self.config.floor))
        t = self._n
        if t == 0:
            self._scores = evidence
            self._runs = [_Run(c, 0, None) for c in range(len(self.labels))]
        else:
            best = int(np.argmax(self._scores))
            kept = self._scores + evidence
            switched = self._scores[best] - self.config.switch_penalty + weight * np.log(np.maximum(row, self._entry))
            stay = kept >= switched
            stay[best] = True  # the best label so far goes on; a switch comes from it
            before = self._runs[best]
            self._runs = [run if stay[c] else _Run(c, t, before) for c, run in enumerate(self._runs)]
            self._scores = np.where(stay, kept, switched)
        if t == len(self._probs):
            self._probs = np.concatenate([self._probs, np.zeros_like(self._probs)])
        self._probs[t] = row
        self._n += 1
        self._centres.append(centre)
        self._weights.append(weight)
        self._end_s = max(self._end_s, end_s)
        first = self._runs[int(np.argmax(self._scores))].first
        start = self._boundary(first)
        label, score = self._top(first, self._n)
        return Segment(start, max(self._end_s, start), self.labels[label], score)

    def segments(self, duration_s: float | None = None) -> list[Segment]:
        """The final segments of the windows pushed so far, tiling [0, duration_s] (default: the last window's
        end); none before the first window."""
        if not self._n:
            return []
        end = duration_s if duration_s is not None else self._end_s
        runs = self._relabel(self._merge_short(self._best_path(), end))
        spans = self._spans(runs, end)
        return [
            Segment(start, stop, self.labels[label], self._top(first, last)[1])
            for (label, first, last), (start, stop) in zip(runs, spans, strict=True)
        ]

    # -- internals: a run is (label, first window, stop window), windows first..stop-1 -------------------------

    def _boundary(self, first: int) -> float:
        """Where a segment whose first window is `first` starts: midway between that window's centre and the
        previous one's (0 for the first window)."""
        return 0.0 if first == 0 else 0.5 * (self._centres[first - 1] + self._centres[first])

    def _top(self, first: int, stop: int) -> tuple[int, float]:
        """The label with the highest mean probability over windows first..stop-1, and that mean."""
        mean = self._probs[first:stop].mean(axis=0)
        label = int(np.argmax(mean))
        return label, float(mean[label])

    def _best_path(self) -> list[tuple[int, int, int]]:
        """The best path's runs in time order."""
        starts: list[tuple[int, int]] = []
        run: _Run | None = self._runs[int(np.argmax(self._scores))]
        while run is not None:
            starts.append((run.label, run.first))
            run = run.prev
        starts.reverse()
        stops = [first for _, first in starts[1:]] + [self._n]
        return [(label, first, stop) for (label, first), stop in zip(starts, stops, strict=True)]

    def _split(self, before: int, after: int, first: int) -> float:
        """Where a segment labelled `after` whose first window is `first` starts, after one labelled `before`:
        between the centres of windows first-1 and first, never on the first (its window stays in the earlier
        segment). Midway unless refining: there, where log p(before) - log p(after), interpolated between the two
        centres, crosses zero, to the nearest REFINE_STEPS-th of the way; at the second centre when that window
        still leans to `before`; midway when the first already leans to `after`."""
        c0, c1 = self._centres[first - 1], self._centres[first]
        if not (self.config.refine and self.config.smooths):
            return 0.5 * (c0 + c1)
        p = np.log(np.maximum(self._probs[first - 1 : first + 1][:, [before, after]], self.config.refine_floor))
        d0, d1 = p[0, 0] - p[0, 1], p[1, 0] - p[1, 1]
        if d1 >= 0:
            return c1
        if d0 <= 0:
            return 0.5 * (c0 + c1)
        x = max(round(float(REFINE_STEPS * d0 / (d0 - d1))), 1) / REFINE_STEPS
        return c1 if x >= 1 else c0 + x * (c1 - c0)

    def _spans(self, runs: list[tuple[int, int, int]], end_s: float) -> list[tuple[float, float]]:
        """Each run's (start, end) in seconds: back to back from 0 to `end_s` (or the last start, if later)."""
        starts = [0.0] + [self._split(a[0], b[0], b[1]) for a, b in itertools.pairwise(runs)]
        stops = [*starts[1:], max(end_s, starts[-1])]
        return list(zip(starts, stops, strict=True))

    def _fit(self, label: int, first: int, stop: int) -> float:
        """How well `label` explains windows first..stop-1: their weighted log-probability."""
        p = np.maximum(self._probs[first:stop, label], self.config.floor)
        return float(np.dot(self._weights[first:stop], np.log(p)))

    def _merge_short(self, runs: list[tuple[int, int, int]], end_s: float) -> list[tuple[int, int, int]]:
        """Relabel the shortest run under min_duration_s as whichever neighbour explains it better, until none is
        left (or one run remains)."""
        while len(runs) > 1:
            seconds = [stop - start for start, stop in self._spans(runs, end_s)]
            k = min(range(len(runs)), key=seconds.__getitem__)
            if seconds[k] >= self.config.min_duration_s:
                break
            _, first, stop = runs[k]
            neighbours = [runs[i][0] for i in (k - 1, k + 1) if 0 <= i < len(runs)]
            label = max(neighbours, key=lambda c: self._fit(c, first, stop))
            runs = _joined([*runs[:k], (label, first, stop), *runs[k + 1 :]])
        return runs

    def _relabel(self, runs: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        """Label each run with its windows' top mean probability, joining neighbours that then agree."""
        while True:
            relabelled = _joined([(self._top(first, stop)[0], first, stop) for _, first, stop in runs])
            if relabelled == runs:
                return runs
            runs = relabelled


def _joined(runs: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Runs with neighbours of one label joined into one."""
    out: list[tuple[int, int, int]] = []
    for label, first, stop in runs:
        if out and out[-1][0] == label:
            out[-1] = (label, out[-1][1], stop)
        else:
            out.append((label, first, stop))
    return out


def segment(
    probs: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    labels: Sequence[str],
    config: SegmentConfig = DEFAULT_SEGMENT_CONFIG,
    duration_s: float | None = None,
) -> list[Segment]:
    """The segments of a video from its windows' class probabilities (W, C) and their start and end times:
    they tile [0, duration_s] (default: the last window's end) in time order, with no gaps or overlaps. A boundary
    lies between the centres of the last window of one segment and the first of the next: where the two labels'
    interpolated log-probability ratio crosses zero (`SegmentConfig.refine`, the default), else midway."""
    probs = np.asarray(probs)
    starts, ends = np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(labels) or len(starts) != len(probs) or len(ends) != len(probs):
        raise ValueError(
            f"expected probabilities (W, {len(labels)}) and W starts and ends, got {probs.shape}, "
            f"{starts.shape}, {ends.shape}"
        )
    segmenter = OnlineSegmenter(labels, config)
    for i in np.argsort(starts + ends, kind="stable"):
        segmenter.push(float(starts[i]), float(ends[i]), probs[i])
    return segmenter.segments(duration_s)
