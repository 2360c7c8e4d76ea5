"""Synthetic action benchmark: articulated figures doing everyday actions in cluttered scenes, moving camera.

actors (who), poses and actions (what they do), kinematics, scenes and camera (where, seen how), difficulty
(how hard), raster and renderer (clips), writers, benchmark (the UCF-101-style data set), samples (the shipped
clips) and sequences (multi-action videos with per-frame truth).
"""

from .actions import ACTIONS, CLASSES, MOTION_PAIRS, ActionSpec, action_track, frames_range
from .actors import Actor, make_actor
from .benchmark import (
    SYNTH_CARD,
    SYNTH_DATA,
    BenchmarkSummary,
    benchmark_groups,
    clip_rng,
    is_transition_clip,
    write_benchmark,
)
from .difficulty import DEFAULT_CONFIG, SynthConfig
from .kinematics import skeleton
from .poses import mirror_track
from .renderer import render_clip, render_sequence, render_transition
from .samples import SAMPLE_CLIPS, SAMPLE_SEQUENCE, write_samples
from .scenes import PLAIN_BACKGROUND
from .sequences import (
    ACTIONS_PER_SEQUENCE,
    SEQUENCES_VERSION,
    SequencePlan,
    SequenceTruth,
    plan_sequence,
    read_truth,
    write_sequences,
)
from .writers import write_video

__all__ = [
    "ACTIONS",
    "ACTIONS_PER_SEQUENCE",
    "CLASSES",
    "DEFAULT_CONFIG",
    "MOTION_PAIRS",
    "PLAIN_BACKGROUND",
    "SAMPLE_CLIPS",
    "SAMPLE_SEQUENCE",
    "SEQUENCES_VERSION",
    "SYNTH_CARD",
    "SYNTH_DATA",
    "ActionSpec",
    "Actor",
    "BenchmarkSummary",
    "SequencePlan",
    "SequenceTruth",
    "SynthConfig",
    "action_track",
    "benchmark_groups",
    "clip_rng",
    "frames_range",
    "is_transition_clip",
    "make_actor",
    "mirror_track",
    "plan_sequence",
    "read_truth",
    "render_clip",
    "render_sequence",
    "render_transition",
    "skeleton",
    "write_benchmark",
    "write_samples",
    "write_sequences",
    "write_video",
]
