"""The result objects every output is written from: a video's label scores, windows and segments, and the one
rounding rule of their JSON records. Plain data (no numpy, no torch), so writers and readers sit below `runtime`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

NO_ACTION = "no_action"  # the label of "nothing happening": empty scenes, people standing about


@dataclass(frozen=True)
class Segment:
    """A stretch of the video given one label."""

    start_s: float
    end_s: float
    label: str
    score: float  # mean probability of `label` over the segment's windows

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


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
