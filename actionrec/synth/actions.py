"""The action library: the 18 actions and `no_action`, how each is animated or derived, the range of styles each is
played in, and sampling one clip's pose track."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import tau as TAU

import numpy as np

from ..results import NO_ACTION
from . import poses
from .poses import DX, IDLE_ARMS, TS, YAW, Params, ease, mirror_track

PoseFn = Callable[[np.ndarray, np.ndarray, Params], np.ndarray]
ParamFn = Callable[[np.random.Generator], Params]


def _amp(rng: np.random.Generator) -> Params:
    return {"amp": rng.uniform(0.8, 1.2)}


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
    empty: float = 0.0  # share of clips that show nobody at all (`shows_nobody`): the scene alone


def _side(rng: np.random.Generator) -> float:
    return float(rng.choice([-1.0, 1.0]))


# Styles are as wide as people differ: one-hand waves with the hand at face height (the elbow below the shoulder) up
# to high above the head, or the whole arm in a big arc; both-hand waves alike; raises to shoulder height or above
# the head; either hand or foot; slow to fast. Each class keeps what tells it apart (see poses).


def _wave_one(r: np.random.Generator) -> Params:
    arc = float(r.random() < 0.3)
    raise_ = r.uniform(2.2, 2.7) if arc else r.uniform(1.1, 2.6)
    return {
        **_amp(r),
        "arc": arc,
        "raise": raise_,
        "forward": r.uniform(0.0, 0.7) if raise_ < 1.9 else r.uniform(-0.1, 0.25),
        "hand_f": r.uniform(-0.4, 0.25),
        "side": _side(r),
    }


def _wave_both(r: np.random.Generator) -> Params:
    arc = float(r.random() < 0.5)
    return {
        **_amp(r),
        "arc": arc,
        "raise": r.uniform(2.0, 2.5) if arc else r.uniform(1.5, 2.7),
        "forward": r.uniform(-0.15, 0.3),
        "bend": r.uniform(0.0, 0.35),
        "symmetric": _side(r),
    }


def _idle(r: np.random.Generator) -> Params:
    arms = int(r.integers(len(IDLE_ARMS)))
    return {
        "arms_l": arms,
        "arms_r": arms if r.random() < 0.7 else int(r.integers(len(IDLE_ARMS))),
        "shift": r.uniform(0.0, 0.3),
        "stance": r.uniform(0.02, 0.12),
        "turn": r.uniform(0.0, 0.35),
        "turn_hz": r.uniform(0.05, 0.3),
        "turn_phase": r.uniform(0.0, 1.0),
        "lean": r.uniform(-0.04, 0.08),
    }


ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec("walk_left", poses.walk, lambda r: {**_amp(r), "speed": r.uniform(0.25, 0.5)}, (0.75, 1.15)),
        ActionSpec("walk_right", None, base="walk_left", derive="mirror"),
        ActionSpec("run", poses.run, cycles_hz=(1.15, 1.85)),
        ActionSpec(
            "jump",
            poses.jump,
            lambda r: {**_amp(r), "height": r.uniform(0.15, 0.32), "tuck": r.uniform(0.15, 0.65)},
            (0.7, 1.15),
        ),
        ActionSpec(
            "jumping_jack",
            poses.jumping_jack,
            lambda r: {"amp": r.uniform(0.85, 1.08), "spread": r.uniform(0.22, 0.42)},
            (0.8, 1.6),
        ),
        ActionSpec("wave_one_hand", poses.wave_one_hand, _wave_one, (1.0, 3.0)),
        ActionSpec("wave_both_hands", poses.wave_both_hands, _wave_both, (0.8, 2.6)),
        ActionSpec("clap", poses.clap, lambda r: {**_amp(r), "elbow_f": r.uniform(0.6, 1.6)}, (1.3, 3.2)),
        ActionSpec(
            "squat",
            poses.squat,
            lambda r: {"depth": r.uniform(0.7, 1.0), "arms_forward": float(r.random() < 0.7)},
            (0.4, 0.85),
        ),
        ActionSpec("sit_down", poses.sit_down, stool=True),
        ActionSpec("stand_up", None, base="sit_down", derive="reverse", stool=True),
        ActionSpec("punch", poses.punch, cycles_hz=(0.7, 1.6)),
        ActionSpec("kick", poses.kick, lambda r: {**_amp(r), "side": _side(r)}, (0.5, 0.95)),
        ActionSpec(
            "bend", poses.bend, lambda r: {"depth": r.uniform(0.65, 1.05), "knees": r.uniform(0.0, 0.4)}, (0.3, 0.7)
        ),
        ActionSpec("raise_arms_side", poses.raise_arms, lambda r: {"top": r.uniform(1.5, 3.05), "sideways": 1.0}),
        ActionSpec("lower_arms_side", None, base="raise_arms_side", derive="reverse"),
        # Raised in front, the arms foreshortened and the hands rising along the body: a different action from the
        # sideways raise, as real sets (and people) tell them apart.
        ActionSpec("raise_arms_front", poses.raise_arms, lambda r: {"top": r.uniform(1.45, 3.05), "sideways": -1.0}),
        ActionSpec("lower_arms_front", None, base="raise_arms_front", derive="reverse"),
        # Nothing happening: an empty scene, or someone standing about (poses.idle), shifting weight every few
        # seconds.
        ActionSpec(NO_ACTION, poses.idle, _idle, (0.08, 0.35), empty=0.35),
    )
}
CLASSES: tuple[str, ...] = tuple(ACTIONS)
ACTION_CLASSES: tuple[str, ...] = tuple(c for c in CLASSES if c != NO_ACTION)  # the classes where something happens
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
IDLE_FRAMES = (24, 100)  # a stretch of no_action in a sequence: 1-4 s
WALK_DIRECTION = {"walk_left": -1, "walk_right": 1}
# A one-shot action that leaves the actor seated or with raised arms is followed by the one that undoes it, and
# that one comes only after it, as the clips show them: a stand-up clip starts seated, a lower-arms clip with the
# arms up. The pair is drawn as one unit, as likely as any other action, so every class is as frequent.
PAIRS = {"sit_down": "stand_up", "raise_arms_side": "lower_arms_side", "raise_arms_front": "lower_arms_front"}


def frames_range(action: str) -> tuple[int, int]:
    """How many frames `action` may last in a sequence (inclusive): a clip's for one-shot actions, a clip's at
    most for walks, several cycles for the other repeated actions, 1-4 s for no_action."""
    if action in WALK_DIRECTION:
        return WALK_FRAMES
    if action == NO_ACTION:
        return IDLE_FRAMES
    spec = ACTIONS[action]
    base = ACTIONS[spec.base] if spec.base else spec
    return ONE_SHOT_FRAMES if base.cycles_hz is None else REPEATED_FRAMES


def action_spec(action: str) -> ActionSpec:
    """The spec of `action`; ValueError naming the known classes when there is none."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(CLASSES)}")
    return ACTIONS[action]


def shows_nobody(action: str, rng: np.random.Generator) -> bool:
    """Whether a clip of `action` shows the scene alone, nobody in it (a share `ActionSpec.empty` of no_action
    clips). Draws from `rng` only for classes that may be empty, so the other classes' clips stay as they were."""
    share = action_spec(action).empty
    return share > 0 and bool(rng.random() < share)


def place_track(track: np.ndarray, where: float, x_range: float) -> None:
    """Centre the x travel at `where` (-1..1) of the room left once the whole travel fits within ±x_range."""
    lo, hi = track[:, DX].min(), track[:, DX].max()
    track[:, DX] += where * max(0.0, x_range - 0.5 * (hi - lo)) - 0.5 * (lo + hi)


def clip_style(spec: ActionSpec, rng: np.random.Generator, styles: bool = True) -> Params:
    """One clip's style parameters for `spec`: drawn from `rng`, or with `styles` off the same for every clip of
    the class (drawn once from a generator keyed by the class)."""
    return spec.params(rng if styles else np.random.default_rng(CLASSES.index(spec.name)))


def action_track(
    action: str,
    n: int,
    fps: float,
    rng: np.random.Generator,
    *,
    x_range: float = 0.0,
    yaw_max: float = 0.8,
    styles: bool = True,
) -> np.ndarray:
    """Sample one clip's pose track (n, N_POSE) for `action`: style, speed, phase, holds, yaw and x position.

    The pelvis stays within ±x_range body heights of the middle, placed uniformly in what room is left.
    Derived classes draw exactly what their base draws, so with the same rng stand_up is sit_down played
    backwards and walk_right is walk_left mirrored. With `styles` off every clip of a class gets the same style
    parameters (drawn once from a generator keyed by the class), as the renderer's first version did.
    """
    spec = action_spec(action)
    base = action_spec(spec.base) if spec.base else spec
    assert base.pose is not None
    params = clip_style(base, rng, styles)
    t = np.arange(n) / fps
    if base.cycles_hz is not None:
        u = rng.uniform(0, 1) + rng.uniform(*base.cycles_hz) * t  # random start phase and speed
    else:
        # One-shot: hold, move, hold; both holds drawn alike, so the pose distribution is time-symmetric. The holds
        # stay short (together under a third of the clip), so the standing still of no_action never fills one.
        hold_a, hold_b = rng.uniform(0.0, 0.15, size=2)
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
