"""Multi-action sequences with their ground truth, to measure segmentation: held-out actors of the benchmark doing
3-6 actions in a row, each at its natural length as the benchmark's clips show it, with stretches of standing about
(no_action) before, between and after them, each video's per-frame truth in a JSON beside it (the format of
samples/sequence.json)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io.files import write_text_atomic
from ..results import NO_ACTION
from .actions import ACTION_CLASSES, PAIRS, WALK_DIRECTION, WALK_FRAMES, frames_range
from .actors import make_actor
from .benchmark import benchmark_groups
from .difficulty import DEFAULT_CONFIG, SynthConfig
from .renderer import render_sequence
from .writers import write_video

ACTIONS_PER_SEQUENCE = (3, 6)  # inclusive, no_action stretches not counted
# How likely a stretch of no_action is at the start, between two actions (never inside a `PAIRS` pair: the actor is
# seated or has the arms up there), and at the end of a sequence.
IDLE_CHANCE = {"start": 0.6, "between": 0.35, "end": 0.6}
# All walks of a sequence together stay within one clip's walk: the actor's travel, counted in frames of walking
# at the fastest walking speed, never spans more than this, so the actor stays where a clip's walk keeps it.
WALK_SPAN_FRAMES = 48
SEQUENCES_VERSION = 3  # bumped when the same plan renders differently (1: every action 64-128 frames; 2: no no_action)
_SEQUENCE_STREAM = 0x5E9  # keeps a sequence's draws apart from the benchmark clips' of the same seed


@dataclass(frozen=True)
class SequencePlan:
    """What one sequence shows: which actor does which actions, each for how many frames."""

    index: int  # 0-based
    actions: tuple[str, ...]  # in order, no action twice in a row (no_action stretches included)
    action_frames: tuple[int, ...]  # frames of each action, in order
    actor_group: int  # a held-out (test) actor group of the benchmark of the same seed

    @property
    def name(self) -> str:
        """The file stem: seq01, seq02, ..."""
        return f"seq{self.index + 1:02d}"

    @property
    def frames(self) -> int:
        """The sequence's length in frames."""
        return sum(self.action_frames)


@dataclass(frozen=True)
class SequenceTruth:
    """A sequence's ground truth: (label, start frame, end frame exclusive) back to back from frame 0."""

    fps: float
    segments: tuple[tuple[str, int, int], ...]

    @property
    def frames(self) -> int:
        return self.segments[-1][2]

    def frame_labels(self) -> list[str]:
        """The true label of every frame."""
        return [label for label, start, end in self.segments for _ in range(start, end)]


def _rng(seed: int, index: int, stream: int) -> np.random.Generator:
    """Sequence `index`'s generator: stream 0 plans it, stream 1 renders it (its scene, motion and noise)."""
    return np.random.default_rng([seed, _SEQUENCE_STREAM, index, stream])


def plan_sequence(index: int, *, seed: int = 0, clips_per_class: int = 240) -> SequencePlan:
    """Sequence `index` (0-based) of seed `seed`: a function of (seed, index) only. Its actor is one of the test
    actors of `actionrec synth --seed SEED --clips-per-class N` (by default the shipped model's benchmark), taken
    in turn; its 3-6 actions are drawn uniformly from the benchmark's action classes, never the same twice in a row,
    each lasting a length drawn from `frames_range`. The first action of a `PAIRS` pair comes with its second (drawn
    again when only one place is left), which is never drawn alone. A walk is cut short to keep all walks within
    `WALK_SPAN_FRAMES`, or drawn again when less than `WALK_FRAMES[0]` is left in its direction. Stretches of
    no_action come before, between and after the actions (`IDLE_CHANCE`)."""
    _, n_test_groups = benchmark_groups(clips_per_class)
    rng = _rng(seed, index, 0)
    count = int(rng.integers(ACTIONS_PER_SEQUENCE[0], ACTIONS_PER_SEQUENCE[1] + 1))
    units: list[tuple[tuple[str, ...], list[int]]] = []
    at = lo = hi = 0  # where the walks have taken the actor, in frames of walking: now, leftmost, rightmost
    drawn_count = 0
    while drawn_count < count:
        drawn = ACTION_CLASSES[int(rng.integers(len(ACTION_CLASSES)))]
        unit = (drawn, PAIRS[drawn]) if drawn in PAIRS else (drawn,)
        last = units[-1][0][-1] if units else None
        if drawn in PAIRS.values() or drawn == last or drawn_count + len(unit) > count:
            continue
        n = [int(rng.integers(first, last_ + 1)) for first, last_ in map(frames_range, unit)]
        if drawn in WALK_DIRECTION:
            direction = WALK_DIRECTION[drawn]
            room = WALK_SPAN_FRAMES - (hi - at if direction < 0 else at - lo)
            if room < WALK_FRAMES[0]:
                continue
            n = [min(n[0], room)]
            at += direction * n[0]
            lo, hi = min(lo, at), max(hi, at)
        units.append((unit, n))
        drawn_count += len(unit)
    actions: list[str] = []
    lengths: list[int] = []

    def idle(where: str) -> None:
        if rng.random() < IDLE_CHANCE[where]:
            actions.append(NO_ACTION)
            lengths.append(int(rng.integers(frames_range(NO_ACTION)[0], frames_range(NO_ACTION)[1] + 1)))

    idle("start")
    for k, (unit, n) in enumerate(units):
        if k:
            idle("between")
        actions.extend(unit)
        lengths.extend(n)
    idle("end")
    return SequencePlan(index, tuple(actions), tuple(lengths), index % n_test_groups + 1)


def render_planned(
    plan: SequencePlan,
    *,
    seed: int = 0,
    size: tuple[int, int] = (128, 128),
    fps: float = 25.0,
    config: SynthConfig = DEFAULT_CONFIG,
) -> tuple[np.ndarray, SequenceTruth, int]:
    """Render a planned sequence: (frames (T, H, W, 3) uint8 RGB, its truth, the JPEG quality to write it at)."""
    rng = _rng(seed, plan.index, 1)
    frames, _, segments = render_sequence(
        plan.actions,
        rng=rng,
        size=size,
        frames=plan.action_frames,
        fps=fps,
        actor=make_actor(plan.actor_group, seed),
        config=config,
    )
    quality = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
    return frames, SequenceTruth(fps, tuple(segments)), quality


def truth_dict(truth: SequenceTruth, plan: SequencePlan | None = None) -> dict:
    """The truth as samples/sequence.json writes it (fps and segments), with the actor group when planned."""
    d: dict = {"fps": truth.fps}
    if plan is not None:
        d["actor_group"] = plan.actor_group
    d["segments"] = [{"label": a, "start_frame": s, "end_frame": e} for a, s, e in truth.segments]
    return d


def read_truth(path: str | Path) -> SequenceTruth:
    """A sequence's truth from its JSON (what `write_sequences` writes, and samples/sequence.json)."""
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    segments = tuple((s["label"], int(s["start_frame"]), int(s["end_frame"])) for s in d["segments"])
    if not segments or segments[0][1] != 0 or any(a[2] != b[1] for a, b in itertools.pairwise(segments)):
        raise ValueError(f"{path}: segments must run back to back from frame 0")
    return SequenceTruth(float(d["fps"]), segments)


def write_sequences(
    out: Path,
    count: int,
    *,
    seed: int = 0,
    clips_per_class: int = 240,
    size: tuple[int, int] = (128, 128),
    fps: float = 25.0,
    progress: Callable[[int, int], None] | None = None,
    config: SynthConfig = DEFAULT_CONFIG,
) -> list[Path]:
    """Render `count` sequences (`plan_sequence`) into `out`: seqNN.avi (MJPG, as the benchmark's clips) and
    seqNN.json (its truth), each written atomically. Returns the videos' paths."""
    if count < 1:
        raise ValueError("count must be at least 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(count):
        plan = plan_sequence(index, seed=seed, clips_per_class=clips_per_class)
        frames, truth, quality = render_planned(plan, seed=seed, size=size, fps=fps, config=config)
        video = out / f"{plan.name}.avi"
        write_video(video, frames, fps, quality)
        write_text_atomic(out / f"{plan.name}.json", json.dumps(truth_dict(truth, plan), indent=1) + "\n")
        written.append(video)
        if progress is not None:
            progress(index + 1, count)
    return written
