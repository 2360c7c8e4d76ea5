"""The action library: the 18 classes, how each is animated or derived, and sampling one clip's pose track."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import tau as TAU

import numpy as np

from . import poses
from .poses import DX, TS, YAW, Params, ease, mirror_track

PoseFn = Callable[[np.ndarray, np.ndarray, Params], np.ndarray]
ParamFn = Callable[[np.random.Generator], Params]


def _amp(rng: np.random.Generator) -> Params:
    return {"amp": rng.uniform(0.85, 1.15)}


@dataclass(frozen=True)
class ActionSpec:
    """How to animate one class: a pose function of phase, its timing, and how it derives from another."""

    name: str
    pose: PoseFn | None  # (phase or progress, seconds, params) -> pose track; None for derived classes
    params: ParamFn = _amp  # per-clip style: amplitude, side, depth...
    cycles_hz: tuple[float, float] | None = None  # cyclic actions: cycles per second; None: one-shot progress
    base: str | None = None  # derived classes render their base's track...
    derive: str | None = None  # ...mirrored ("mirror") or played backwards ("reverse"): same draws, same rng
    stool: bool = False  # draw a stool under the seated pose


def _side(rng: np.random.Generator) -> float:
    return float(rng.choice([-1.0, 1.0]))


ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec("walk_left", poses.walk, lambda r: {**_amp(r), "speed": r.uniform(0.28, 0.45)}, (0.8, 1.1)),
        ActionSpec("walk_right", None, base="walk_left", derive="mirror"),
        ActionSpec("run", poses.run, cycles_hz=(1.25, 1.65)),
        ActionSpec(
            "jump",
            poses.jump,
            lambda r: {**_amp(r), "height": r.uniform(0.17, 0.3), "tuck": r.uniform(0.2, 0.6)},
            (0.75, 1.1),
        ),
        ActionSpec("jumping_jack", poses.jumping_jack, cycles_hz=(0.9, 1.4)),
        ActionSpec(
            "wave_one_hand",
            poses.wave_one_hand,
            lambda r: {**_amp(r), "raise": r.uniform(2.0, 2.5), "side": _side(r)},
            (1.4, 2.6),
        ),
        ActionSpec(
            "wave_both_hands",
            poses.wave_both_hands,
            lambda r: {**_amp(r), "raise": r.uniform(2.2, 2.6), "symmetric": _side(r)},
            (1.3, 2.4),
        ),
        ActionSpec("clap", poses.clap, lambda r: {**_amp(r), "elbow_f": r.uniform(0.8, 1.15)}, (1.6, 2.8)),
        ActionSpec(
            "squat",
            poses.squat,
            lambda r: {"depth": r.uniform(0.8, 1.0), "arms_forward": float(r.random() < 0.7)},
            (0.45, 0.8),
        ),
        ActionSpec("sit_down", poses.sit_down, stool=True),
        ActionSpec("stand_up", None, base="sit_down", derive="reverse", stool=True),
        ActionSpec("punch", poses.punch, cycles_hz=(0.8, 1.4)),
        ActionSpec("kick", poses.kick, lambda r: {**_amp(r), "side": _side(r)}, (0.55, 0.9)),
        ActionSpec("bend", poses.bend, lambda r: {"depth": r.uniform(0.8, 1.0)}, (0.35, 0.65)),
        ActionSpec("raise_arms_side", poses.raise_arms, lambda r: {"amp": r.uniform(0.97, 1.05), "sideways": 1.0}),
        ActionSpec("lower_arms_side", None, base="raise_arms_side", derive="reverse"),
        # Raised in front, the arms foreshortened and the hands rising along the body: a different action from the
        # sideways raise, as real sets (and people) tell them apart.
        ActionSpec("raise_arms_front", poses.raise_arms, lambda r: {"amp": r.uniform(0.97, 1.05), "sideways": -1.0}),
        ActionSpec("lower_arms_front", None, base="raise_arms_front", derive="reverse"),
    )
}
CLASSES: tuple[str, ...] = tuple(ACTIONS)
# Pairs that no single frame tells apart: the same pose distribution, mirrored or played backwards.
MOTION_PAIRS: list[tuple[str, str]] = [
    ("walk_left", "walk_right"),
    ("sit_down", "stand_up"),
    ("raise_arms_side", "lower_arms_side"),
    ("raise_arms_front", "lower_arms_front"),
]


# How long each action naturally lasts in a sequence or a transition clip, in frames (at 25 fps), inclusive ranges.
# A one-shot action (sit down, stand up, raising or lowering the arms) lasts a benchmark clip (write_benchmark's 48
# frames), so it moves at the speed the clips show; repeated actions run at their own rate for several cycles; a
# walk lasts at most a clip, because a longer one would leave the frame or make the camera follow.
ONE_SHOT_FRAMES = (48, 48)
REPEATED_FRAMES = (64, 128)  # 2.6-5.1 s
WALK_FRAMES = (32, 48)  # 1.3-1.9 s
WALK_DIRECTION = {"walk_left": -1, "walk_right": 1}
# A one-shot action that leaves the actor seated or with raised arms is followed by the one that undoes it, and
# that one comes only after it, as the clips show them: a stand-up clip starts seated, a lower-arms clip with the
# arms up. The pair is drawn as one unit, as likely as any other action, so every class is as frequent.
PAIRS = {"sit_down": "stand_up", "raise_arms_side": "lower_arms_side", "raise_arms_front": "lower_arms_front"}


def frames_range(action: str) -> tuple[int, int]:
    """How many frames `action` may last in a sequence (inclusive): a clip's for one-shot actions, a clip's at
    most for walks, several cycles for the other repeated actions."""
    if action in WALK_DIRECTION:
        return WALK_FRAMES
    spec = ACTIONS[action]
    base = ACTIONS[spec.base] if spec.base else spec
    return ONE_SHOT_FRAMES if base.cycles_hz is None else REPEATED_FRAMES


def action_spec(action: str) -> ActionSpec:
    """The spec of `action`; ValueError naming the known classes when there is none."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(CLASSES)}")
    return ACTIONS[action]


def place_track(track: np.ndarray, where: float, x_range: float) -> None:
    """Centre the x travel at `where` (-1..1) of the room left once the whole travel fits within ±x_range."""
    lo, hi = track[:, DX].min(), track[:, DX].max()
    track[:, DX] += where * max(0.0, x_range - 0.5 * (hi - lo)) - 0.5 * (lo + hi)


def action_track(
    action: str, n: int, fps: float, rng: np.random.Generator, *, x_range: float = 0.0, yaw_max: float = 0.8
) -> np.ndarray:
    """Sample one clip's pose track (n, N_POSE) for `action`: style, speed, phase, holds, yaw and x position.

    The pelvis stays within ±x_range body heights of the middle, placed uniformly in what room is left.
    Derived classes draw exactly what their base draws, so with the same rng stand_up is sit_down played
    backwards and walk_right is walk_left mirrored.
    """
    spec = action_spec(action)
    base = action_spec(spec.base) if spec.base else spec
    assert base.pose is not None
    params = base.params(rng)
    t = np.arange(n) / fps
    if base.cycles_hz is not None:
        u = rng.uniform(0, 1) + rng.uniform(*base.cycles_hz) * t  # random start phase and speed
    else:
        # One-shot: hold, move, hold; both holds drawn alike, so the pose distribution is time-symmetric.
        hold_a, hold_b = rng.uniform(0.0, 0.22, size=2)
        x = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
        u = ease((x - hold_a) / (1.0 - hold_a - hold_b))
    track = base.pose(u, t, params)
    sway_hz, sway_phase = rng.uniform(0.2, 0.5), rng.uniform(0, TAU)  # idle sway, so holds are not frozen
    track[:, TS] += 0.02 * np.sin(TAU * sway_hz * t + sway_phase)
    track[:, YAW] += rng.uniform(-yaw_max, yaw_max) + 0.04 * np.sin(TAU * sway_hz * 0.7 * t + sway_phase)
    place_track(track, rng.uniform(-1.0, 1.0), x_range)
    if spec.derive == "mirror":
        track = mirror_track(track)
    elif spec.derive == "reverse":
        track = track[::-1].copy()
    return track
