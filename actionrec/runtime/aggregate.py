"""Window scores -> video results: softmax, each window's top-k, and the video's ranking (mean of the windows'
probabilities). Also the result objects that every output format is written from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float  # softmax probability in [0, 1]


@dataclass(frozen=True)
class WindowResult:
    start_s: float  # container timestamp of the window's first frame
    end_s: float  # where its last frame ends
    top: list[LabelScore]


@dataclass
class VideoResult:
    """One video's answer, or its error. Field names are the JSON schema documented in the README."""

    video: str
    frames: int = 0  # frames decoded
    fps: float = 0.0  # nominal frame rate from the container
    duration_s: float = 0.0  # end of the last frame, from container timestamps
    label: str | None = None  # top-1 of the video ranking
    score: float | None = None
    top: list[LabelScore] = field(default_factory=list)  # video ranking: mean of window probabilities
    windows: list[WindowResult] = field(default_factory=list)
    error: str | None = None  # set (and everything else empty) when the video could not be read

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("duration_s", "score"):
            if d[key] is not None:
                d[key] = round(d[key], 6)
        d["fps"] = round(d["fps"], 6)
        return d


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
