"""Window planning, the one definition: where windows start in a video of N frames (every stride plus the tail, or a
count spread evenly), which frames a window samples (looped in a short video), and which frames the causal grid of a
live stream samples. Frames are counted on the model's clock (`io.video.FrameGrid`); plain arithmetic, no decoding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..model_meta import Preprocessing, default_stride


def plan_starts(n_frames: int, span: int, stride: int) -> list[int]:
    """First frames of the sliding windows of `span` frames: every `stride` frames, plus one aligned to the end for
    the tail; [0] for a video no longer than one window."""
    if stride < 1:
        raise ValueError("stride must be at least 1")
    if n_frames <= span:
        return [0]
    starts = list(range(0, n_frames - span + 1, stride))
    if starts[-1] != n_frames - span:
        starts.append(n_frames - span)
    return starts


def uniform_starts(n_frames: int, span: int, count: int) -> list[int]:
    """`count` window starts spread evenly over the video (the usual video-level evaluation protocol): the first at
    0 and the last at the end; one window: the middle one; fewer when starts coincide in a short video."""
    if n_frames <= span or count <= 1:
        return [max((n_frames - span) // 2, 0)] if count == 1 else [0]
    return sorted({round(v) for v in np.linspace(0, n_frames - span, count)})


@dataclass(frozen=True)
class WindowPlan:
    """Windows of `clip_len` frames taken `frame_step` apart, starting every `stride` frames."""

    clip_len: int
    frame_step: int = 1
    stride: int = 1

    def __post_init__(self) -> None:
        if self.clip_len < 1 or self.frame_step < 1 or self.stride < 1:
            raise ValueError(f"clip_len, frame_step and stride must be at least 1: {self}")

    @classmethod
    def of(cls, clip_len: int, frame_step: int = 1, stride: int | None = None) -> WindowPlan:
        """The plan with `stride`, or by default `model_meta.default_stride` (half a window, in whole frame steps)."""
        return cls(clip_len, frame_step, stride or default_stride(clip_len, frame_step))

    @classmethod
    def for_spec(cls, spec: Preprocessing, stride: int | None = None) -> WindowPlan:
        """The plan of a model's preprocessing (`stride` None: `spec.stride`)."""
        return cls.of(spec.clip_len, spec.frame_step, stride)

    @property
    def span(self) -> int:
        """Frames covered by one window, first sampled frame to last."""
        return (self.clip_len - 1) * self.frame_step + 1

    # ---- offline: a video of known length ----

    def starts(self, n_frames: int) -> list[int]:
        """Window starts of a video of `n_frames` frames: every stride, plus the end-aligned tail (`plan_starts`)."""
        return plan_starts(n_frames, self.span, self.stride)

    def spread(self, n_frames: int, count: int) -> list[int]:
        """`count` window starts spread evenly over a video of `n_frames` frames (`uniform_starts`)."""
        return uniform_starts(n_frames, self.span, count)

    def last_start(self, n_frames: int) -> int:
        """The latest start whose window fits in the video (0 for a video shorter than one window)."""
        return max(n_frames - self.span, 0)

    def indices(self, n_frames: int, start: int) -> list[int]:
        """Frame indices the window starting at `start` samples; a video shorter than one window is looped from 0."""
        if n_frames < self.span:
            return [(k * self.frame_step) % n_frames for k in range(self.clip_len)]
        return [start + k * self.frame_step for k in range(self.clip_len)]

    def samples(self, start: int, i: int) -> bool:
        """Whether the window starting at `start` samples frame `i` (a video at least one window long)."""
        return 0 <= i - start < self.span and (i - start) % self.frame_step == 0

    def sampled_by(self, i: int, starts: Iterable[int]) -> bool:
        """Whether a window of `starts` (sorted) samples frame `i`."""
        for s in starts:
            if s > i:
                return False
            if self.samples(s, i):
                return True
        return False

    # ---- causal: a live stream, one window every stride frames from frame 0, no end known ----

    def causal_sampled(self, i: int) -> bool:
        """Whether frame `i` (counted from the grid's origin) is sampled by some window of the causal grid, whose
        windows start at 0, stride, 2 stride, ..."""
        if i < 0:
            return False
        first = max(0, -(-(i - self.span + 1) // self.stride))  # the first start whose window reaches frame i
        return any(self.samples(k * self.stride, i) for k in range(first, i // self.stride + 1))

    def causal_completed(self, i: int) -> int | None:
        """The start of the causal-grid window whose last frame is `i`, or None if no window ends there."""
        start = i - self.span + 1
        return start if start >= 0 and start % self.stride == 0 else None
