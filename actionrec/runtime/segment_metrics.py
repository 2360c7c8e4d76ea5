"""Action segmentation metrics, as the field reports them (MS-TCN's evaluation): frame-wise accuracy, the
segmental edit score and F1@k (a predicted segment is a hit when its IoU with an unmatched true segment of the
same label reaches k), computed on per-frame labels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .segments import Segment

OVERLAPS = (0.10, 0.25, 0.50)  # the F1@{10,25,50} every action segmentation paper reports


def frame_labels(segments: Sequence[Segment], frames: int, fps: float) -> list[str]:
    """Each frame's label: that of the segment holding the frame's centre, (i + 0.5) / fps; frames past the last
    segment's end take its label. Segments in time order, tiling the video."""
    if not segments:
        raise ValueError("no segments")
    ends = np.array([s.end_s for s in segments[:-1]])
    centres = (np.arange(frames) + 0.5) / fps
    return [segments[k].label for k in np.searchsorted(ends, centres, side="right")]


def runs(labels: Sequence[str]) -> list[tuple[str, int, int]]:
    """The runs of equal labels in a per-frame sequence: (label, first frame, end frame exclusive)."""
    out: list[tuple[str, int, int]] = []
    for i, label in enumerate(labels):
        if out and out[-1][0] == label:
            out[-1] = (label, out[-1][1], i + 1)
        else:
            out.append((label, i, i + 1))
    return out


def frame_accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """The share of frames whose predicted label is the true one."""
    return _correct(predicted, truth) / len(truth)


def edit_score(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """1 - the Levenshtein distance between the two sequences of segment labels / the longer one's length: 1 when
    the segments come in the true order, however long each is; over-segmentation lowers it."""
    _check(predicted, truth)
    p, y = [r[0] for r in runs(predicted)], [r[0] for r in runs(truth)]
    d = np.zeros((len(p) + 1, len(y) + 1))
    d[:, 0], d[0, :] = np.arange(len(p) + 1), np.arange(len(y) + 1)
    for i in range(1, len(p) + 1):
        for j in range(1, len(y) + 1):
            d[i, j] = d[i - 1, j - 1] if p[i - 1] == y[j - 1] else 1 + min(d[i - 1, j], d[i, j - 1], d[i - 1, j - 1])
    return 1.0 - d[-1, -1] / max(len(p), len(y))


@dataclass(frozen=True)
class HitCounts:
    """Segment hits at one IoU threshold: true positives, false positives, false negatives (missed segments)."""

    tp: int
    fp: int
    fn: int

    def __add__(self, other: HitCounts) -> HitCounts:
        return HitCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0


def hit_counts(predicted: Sequence[str], truth: Sequence[str], overlap: float) -> HitCounts:
    """Each predicted segment, in order, is a hit when its best-IoU true segment of the same label reaches
    `overlap` and is not matched yet; otherwise a false positive. True segments never matched are misses."""
    _check(predicted, truth)
    true_runs = runs(truth)
    matched = [False] * len(true_runs)
    tp = fp = 0
    for label, start, end in runs(predicted):
        ious = [
            (min(end, e) - max(start, s)) / (max(end, e) - min(start, s)) if label == y else 0.0
            for y, s, e in true_runs
        ]
        best = int(np.argmax(ious))
        if ious[best] >= overlap and not matched[best]:
            tp, matched[best] = tp + 1, True
        else:
            fp += 1
    return HitCounts(tp, fp, len(true_runs) - sum(matched))


@dataclass(frozen=True)
class SegmentationScores:
    """Scores over a set of videos: frame accuracy over all their frames, the mean edit score, and F1@k from the
    hits summed over the videos (as MS-TCN's evaluation does). All in [0, 1]."""

    videos: int
    frames: int
    frame_accuracy: float
    edit: float
    f1: dict[float, float]  # overlap -> F1


def score_videos(
    videos: Iterable[tuple[Sequence[str], Sequence[str]]], overlaps: Sequence[float] = OVERLAPS
) -> SegmentationScores:
    """Score (predicted, true) per-frame label sequences, one pair per video."""
    n = frames = correct = 0
    edits = 0.0
    hits = {k: HitCounts(0, 0, 0) for k in overlaps}
    for predicted, truth in videos:
        n, frames = n + 1, frames + len(truth)
        correct += _correct(predicted, truth)
        edits += edit_score(predicted, truth)
        hits = {k: hits[k] + hit_counts(predicted, truth, k) for k in overlaps}
    if n == 0:
        raise ValueError("no videos to score")
    return SegmentationScores(n, frames, correct / frames, edits / n, {k: h.f1 for k, h in hits.items()})


def _correct(predicted: Sequence[str], truth: Sequence[str]) -> int:
    _check(predicted, truth)
    return sum(p == t for p, t in zip(predicted, truth, strict=True))


def _check(predicted: Sequence[str], truth: Sequence[str]) -> None:
    if len(predicted) != len(truth) or not truth:
        raise ValueError(f"predicted and true labels differ in length or are empty: {len(predicted)}, {len(truth)}")
