"""Window scores -> video results: softmax, each window's top-k, the video's ranking (mean of the windows'
probabilities) and its label (the action its segments cover longest; `no_action` only when nothing else happens).
Also the result objects that every output format is written from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .segments import Segment

NO_ACTION = "no_action"  # the label of "nothing happening": empty scenes, people standing about


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
    fps: float | None = None  # nominal frame rate from the container (None: the video could not be read)
    duration_s: float | None = None  # end of the last frame, from container timestamps (None: not read)
    label: str | None = None  # `video_label`: the action its segments cover longest (no_action: nothing else)
    score: float | None = None  # that label's mean probability over its segments
    top: list[LabelScore] = field(default_factory=list)  # video ranking: mean of window probabilities
    segments: list[Segment] = field(default_factory=list)  # the actions in time order, tiling [0, duration_s]
    windows: list[WindowResult] = field(default_factory=list)
    error: str | None = None  # set (and everything else empty) when the video could not be read

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """The JSON record: every float in it (times, rate, scores) `rounded` by the one rule."""
        return rounded(asdict(self))


DECIMALS = 6  # every float of a result record (times, frame rate, scores) is rounded to this many decimals


def rounded(value: Any) -> Any:
    """`value` with each float in it, nested in dicts and lists too, rounded to `DECIMALS` decimals."""
    if isinstance(value, float):
        return round(float(value), DECIMALS)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


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
