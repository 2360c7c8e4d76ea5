"""Window scores -> video results: softmax, each window's top-k, the video's ranking (mean of the windows'
probabilities) and its label (the action its segments cover longest; `no_action` only when nothing else happens).
The result objects themselves are `actionrec.results`' (re-exported here)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..results import DECIMALS, NO_ACTION, LabelScore, Segment, VideoResult, WindowResult, rounded

__all__ = [
    "DECIMALS",
    "NO_ACTION",
    "LabelScore",
    "Segment",
    "VideoResult",
    "WindowResult",
    "ranked",
    "rounded",
    "softmax",
    "video_label",
    "video_ranking",
]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def ranked(probs: np.ndarray, labels: tuple[str, ...], k: int) -> list[LabelScore]:
    order = np.argsort(-probs, kind="stable")[: max(1, min(k, len(labels)))]
    return [LabelScore(labels[i], float(probs[i])) for i in order]


def video_ranking(window_probs: np.ndarray) -> np.ndarray:
    """The video's class probabilities: the mean over its windows."""
    return window_probs.mean(axis=0)


def video_label(segments: Sequence[Segment]) -> LabelScore | None:
    """The label of a video from its segments: the action they give the most time (a tie goes to the higher score),
    scored with its mean probability over those segments (each segment's score weighted by its duration). A video
    of one action: that action and its mean probability over the windows; several: the longest-running one, never
    an average over unrelated actions. `NO_ACTION` is the label only of a video with no other segment: someone who
    jogs through an otherwise empty scene makes a `run` video, however long the empty stretches. None without
    segments."""
    time: dict[str, float] = {}
    mass: dict[str, float] = {}
    for s in segments:
        time[s.label] = time.get(s.label, 0.0) + s.duration_s
        mass[s.label] = mass.get(s.label, 0.0) + s.duration_s * s.score
    if not time:
        return None

    def score(label: str) -> float:
        return mass[label] / time[label] if time[label] > 0 else 0.0

    actions = [k for k in time if k != NO_ACTION] or list(time)
    label = max(actions, key=lambda k: (time[k], score(k)))
    return LabelScore(label, score(label))
