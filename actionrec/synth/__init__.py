"""Synthetic action benchmark: an articulated figure doing 16 actions in cluttered scenes, moving camera.

actors (who), poses and actions (what they do), kinematics, scenes and camera (where, seen how), drawing and
render (clips), writers, benchmark (the UCF-101-style data set) and samples (the shipped clips).
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
from .writers import write_video

__all__ = [
    "ACTIONS",
    "CLASSES",
    "DEFAULT_CONFIG",
    "MOTION_PAIRS",
    "PLAIN_BACKGROUND",
    "SAMPLE_CLIPS",
    "SAMPLE_SEQUENCE",
    "SYNTH_CARD",
    "SYNTH_DATA",
    "ActionSpec",
    "Actor",
    "BenchmarkSummary",
    "SynthConfig",
    "action_track",
    "benchmark_groups",
    "clip_rng",
    "make_actor",
    "mirror_track",
    "render_clip",
    "render_sequence",
    "skeleton",
    "write_benchmark",
    "write_samples",
    "write_video",
]
