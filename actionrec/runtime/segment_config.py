"""How window probabilities become segments: the settings of the segmenter (`runtime.segments`), free of numpy so
that the command line reads their defaults for its options without loading what computes them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentConfig:
    """How window probabilities become segments. The defaults were picked on a grid (all five fields) by F1@50, then
    frame accuracy, on 24 synthetic sequences of seed 2, a set apart from the seed-0 ones that docs/long-video.md
    reports (`python bench/bench_segments.py --seed 2 --tune`). A switch penalty of 0 smooths nothing: each window
    keeps its own top label, boundaries fall midway between window centres, and `boundary_floor` and `refine` do
    nothing (the bench's raw windows)."""

    # Cost of changing label, in nats x seconds: each window adds log(probability of its label) weighted by the
    # seconds since the previous window's centre, and a label change must gain more than this. 0: every window's
    # own top label; higher: fewer, longer segments.
    switch_penalty: float = 2.0
    # A segment shorter than this (seconds) merges into the neighbour that explains its windows better. 0: none.
    min_duration_s: float = 1.0
    # Probabilities below this count as this: a window that is sure and wrong costs at most -log(floor) per second.
    floor: float = 0.01
    # The first window of a new segment straddles the change, so it often looks like neither action (raise arms
    # then lower them looks like a clap): there, the new label's probability counts as at least this. <= floor: off.
    boundary_floor: float = 0.3
    # Place each boundary where the two labels' log-probability ratio, interpolated between the centres of the
    # windows on either side, crosses zero (at the second centre when that window still leans to the old label).
    # False: midway between the two centres.
    refine: bool = True
    # Probabilities below this count as this where a boundary is refined. Near a change both labels are often below
    # `floor` (which bounds one window's weight in the Viterbi pass), and cut there their log-ratio says little.
    refine_floor: float = 1e-6

    def __post_init__(self) -> None:
        if self.switch_penalty < 0:
            raise ValueError(f"switch_penalty must be at least 0, got {self.switch_penalty}")
        if self.min_duration_s < 0:
            raise ValueError(f"min_duration_s must be at least 0, got {self.min_duration_s}")
        if not 0 < self.floor < 1:
            raise ValueError(f"floor must lie in (0, 1), got {self.floor}")
        if not 0 <= self.boundary_floor < 1:
            raise ValueError(f"boundary_floor must lie in [0, 1), got {self.boundary_floor}")
        if not 0 < self.refine_floor < 1:
            raise ValueError(f"refine_floor must lie in (0, 1), got {self.refine_floor}")

    @property
    def smooths(self) -> bool:
        """Whether any smoothing happens (a switch penalty above 0)."""
        return self.switch_penalty > 0


DEFAULT_SEGMENT_CONFIG = SegmentConfig()
