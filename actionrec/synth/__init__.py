"""Synthetic action benchmark: an articulated figure doing 16 actions in cluttered scenes, moving camera.

actors (who), poses and actions (what they do), kinematics, scenes and camera (where, seen how), drawing and
render (clips), writers, benchmark (the UCF-101-style data set), samples (the shipped clips) and sequences
(multi-action videos with per-frame truth).
"""

from .actions import ACTIONS, CLASSES, MOTION_PAIRS, ActionSpec, action_track
from .actors import Actor, make_actor
from .benchmark import SYNTH_CARD, SYNTH_DATA, BenchmarkSummary, benchmark_groups, clip_rng, write_benchmark
from .config import DEFAULT_CONFIG, SynthConfig
from .kinematics import skeleton
from .poses import mirror_track
from .render import render_clip, render_sequence
from .samples import SAMPLE_CLIPS, SAMPLE_SEQUENCE, write_samples
from .scenes import PLAIN_BACKGROUND
from .sequences import (
    ACTIONS_PER_SEQUENCE,
    SEQUENCES_VERSION,
    SequencePlan,
    SequenceTruth,
    frames_range,
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
    "make_actor",
    "mirror_track",
    "plan_sequence",
    "read_truth",
    "render_clip",
    "render_sequence",
    "skeleton",
    "write_benchmark",
    "write_samples",
    "write_sequences",
    "write_video",
]
