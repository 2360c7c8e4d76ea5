"""Rendering clips: an actor doing one action, or several in a row, in a scene seen through a moving camera."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .actions import ACTIONS, CLASSES, PAIRS, action_spec, action_track, frames_range, place_track, shows_nobody
from .actors import Actor, random_actor
from .camera import camera_maps, finish
from .difficulty import DEFAULT_CONFIG, SynthConfig
from .kinematics import J, skeleton
from .poses import DX, YAW, ease
from .raster import changed_box, draw_distractors, draw_figure, draw_stool, figure_parts, stool_polys
from .scenes import Scene, random_scene


def _render(
    track: np.ndarray,
    actor: Actor,
    scene: Scene,
    stools: list[tuple[int, int]],
    size: tuple[int, int],
    fps: float,
    rng: np.random.Generator,
    nobody: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Frames and actor boxes of `track` played by `actor` in `scene`, a stool under the lowest pelvis of each
    (start, end) frame range in `stools`; with `nobody` the scene alone (boxes all zeros)."""
    w, h = size
    n = len(track)
    joints = skeleton(track, actor)
    e = scene.camera.elevation  # looking down: what is nearer the camera sits lower in the image
    y, z = joints[..., 1].copy(), joints[..., 2].copy()
    joints[..., 1], joints[..., 2] = y * np.cos(e) + z * np.sin(e), z * np.cos(e) - y * np.sin(e)
    ww = scene.world.shape[1]
    px = scene.figure_px
    world_xy = np.empty((*joints.shape[:2], 2))
    world_xy[..., 0] = (ww - 1) / 2 + px * joints[..., 0]
    world_xy[..., 1] = scene.ground_y + px * joints[..., 1]
    # A long walk would leave the frame: the camera follows whatever exceeds 70% of the width (less for a large
    # figure, which would leave it sooner).
    x_px = world_xy[:, J["pelvis"], 0] - (ww - 1) / 2
    span = float(x_px.max() - x_px.min()) if n else 0.0
    follow = max(0.0, 1.0 - 0.7 * w / (1.0 + px / h) / span) if span > 0 else 0.0
    follow_x = follow * (x_px - 0.5 * (x_px.max() + x_px.min()))
    neck = world_xy[:, J["neck"]].mean(axis=0)  # zoom and roll about the body: the head stays in view
    cams = camera_maps(scene.camera, scene.world.shape, w, h, n, fps, follow_x, anchor=neck)
    img_pts = np.einsum("nij,nkj->nki", cams[:, :, :2], world_xy) + cams[:, None, :, 2]
    scale = px * np.hypot(cams[:, 0, 0], cams[:, 0, 1])  # image px per body unit
    stools_world = [
        stool_polys(world_xy[i, J["pelvis"]], scene.ground_y, px)
        for i in (max(range(a, b), key=lambda k: joints[k, J["pelvis"], 1]) for a, b in stools)
    ]
    parts = figure_parts(actor)
    frames = np.empty((n, h, w, 3), np.uint8)
    boxes = np.zeros((n, 4), np.int64)
    for i in range(n):
        m = cams[i]
        img = cv2.warpAffine(scene.world, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        draw_distractors(img, scene.distractors, m, float(scale[i] / px), (i - (n - 1) / 2) / fps)
        for polys in stools_world:
            draw_stool(img, polys, m)
        before = img.copy()
        yaw = float(track[i, YAW])
        if not nobody:
            draw_figure(img, parts, img_pts[i], joints[i, :, 2], float(scale[i]), yaw, actor, scene.light, scene.flat)
        frames[i] = img
        boxes[i] = changed_box(before, img)  # every pixel the actor touched, anti-aliased fringe included
    return finish(frames, scene.camera, fps, rng), boxes


def _x_range(config: SynthConfig, scene: Scene, size: tuple[int, int]) -> float:
    """How far the pelvis may stray from the middle, body units: `config.x_range` of the width, less for a figure
    larger than the frame's height (a waist-up view is centred on the person)."""
    w, h = size
    return config.x_range * w / scene.figure_px * min(1.0, 0.8 * h / scene.figure_px)


def _rng(seed: int, rng: np.random.Generator | None) -> np.random.Generator:
    return rng if rng is not None else np.random.default_rng(seed)


def render_clip(
    action: str,
    *,
    seed: int = 0,
    rng: np.random.Generator | None = None,
    size: tuple[int, int] = (128, 128),
    frames: int = 48,
    fps: float = 25.0,
    actor: Actor | None = None,
    config: SynthConfig = DEFAULT_CONFIG,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one clip of `action`: (frames (T, H, W, 3) uint8 RGB, actor boxes (T, 4) x0, y0, x1, y1).

    `size` is (width, height). A box holds the columns x0..x1-1 and rows y0..y1-1 where the actor changed
    pixels (before blur and noise), in the coordinates of the output frame; all zeros when out of view.
    Deterministic in `rng` (or `seed` when no rng is given); with no actor one is drawn from it first. The
    action fills the whole clip.
    """
    if frames < 1:
        raise ValueError("frames must be at least 1")
    w, h = size
    rng = _rng(seed, rng)
    actor = actor if actor is not None else random_actor(rng)
    scene = random_scene(rng, w, h, actor, config)
    x_range = _x_range(config, scene, size)
    track = action_track(action, frames, fps, rng, x_range=x_range, yaw_max=config.yaw_max, styles=config.motion_styles)
    stools = [(0, frames)] if ACTIONS[action].stool else []
    return _render(track, actor, scene, stools, size, fps, rng, shows_nobody(action, rng))


def render_sequence(
    actions: Sequence[str],
    *,
    seed: int = 0,
    rng: np.random.Generator | None = None,
    size: tuple[int, int] = (128, 128),
    frames_per_action: int = 48,
    frames: Sequence[int] | None = None,
    fps: float = 25.0,
    actor: Actor | None = None,
    config: SynthConfig = DEFAULT_CONFIG,
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, int, int]]]:
    """One actor doing `actions` one after another in one scene, blending each into the next.

    Each action lasts `frames_per_action` frames, or `frames[k]` for action k when given, and is timed as
    `render_clip` times a clip of that many frames: a cyclic action at its own speed, a one-shot one (sit down,
    raise arms...) moving over its frames between two holds. Returns (frames, boxes, segments) with segments =
    [(action, start_frame, end_frame)], end exclusive. A segment's label covers its blend-in frames too: the
    transition is where the new action starts.
    """
    if not actions:
        raise ValueError("no actions to render")
    for a in actions:
        action_spec(a)
    lengths = [frames_per_action] * len(actions) if frames is None else [int(n) for n in frames]
    if len(lengths) != len(actions):
        raise ValueError(f"{len(actions)} actions but {len(lengths)} frame counts")
    if min(lengths) < 2:
        raise ValueError("every action needs at least 2 frames")
    w, h = size
    rng = _rng(seed, rng)
    actor = actor if actor is not None else random_actor(rng)
    scene = random_scene(rng, w, h, actor, config)
    tracks: list[np.ndarray] = []
    for action, n in zip(actions, lengths, strict=True):
        track = action_track(action, n, fps, rng, x_range=0.0, yaw_max=config.yaw_max, styles=config.motion_styles)
        if tracks:
            prev = tracks[-1][-1]
            blend = max(1, min(10, n // 3))
            track[:, DX] += prev[DX] - track[0, DX]  # walking continues from where the last action ended
            weight = ease(np.arange(1, blend + 1) / (blend + 1))[:, None]
            track[:blend] = (1.0 - weight) * prev[None, :] + weight * track[:blend]
        tracks.append(track)
    track = np.concatenate(tracks)
    x_range = _x_range(config, scene, size)
    place_track(track, rng.uniform(-1.0, 1.0), x_range)
    ends = np.cumsum(lengths).tolist()
    segments = [(a, e - n, e) for a, n, e in zip(actions, lengths, ends, strict=True)]
    stools = [(s, e) for a, s, e in segments if ACTIONS[a].stool]
    frames_out, boxes = _render(track, actor, scene, stools, size, fps, rng)
    return frames_out, boxes, segments


def transition_plan(action: str, frames: int, rng: np.random.Generator) -> tuple[list[str], list[int], int]:
    """Where a transition clip of `action` comes from: two actions back to back at their natural lengths
    (`frames_range`), and the start of the `frames`-long window cut from them. The other action comes before or
    after as in a sequence (stand up only after sit down, sit down only before stand up, and so on: `PAIRS`); it
    covers 4 (fewer in a short clip) to frames // 2 - 3 of the window's frames, so `action` holds the window's middle.
    """
    after = rng.random() < 0.5  # the other action follows `action`
    firsts, seconds = set(PAIRS), set(PAIRS.values())
    if after and action in PAIRS:
        other = PAIRS[action]
    elif not after and action in seconds:
        other = next(first for first, second in PAIRS.items() if second == action)
    else:
        banned = seconds if after else firsts  # a pair's second only follows its first, its first only leads to it
        others = [c for c in CLASSES if c != action and c not in banned]
        other = others[int(rng.integers(len(others)))]
    actions = [action, other] if after else [other, action]
    lengths = [int(rng.integers(lo, hi + 1)) for lo, hi in map(frames_range, actions)]
    most = max(1, frames // 2 - 3)
    mine = 0 if after else 1
    lengths[mine] = max(lengths[mine], frames - most)  # a short walk still fills its part of the window
    # The other action's frames in the window.
    k = int(rng.integers(max(min(4, most), frames - lengths[mine]), most + 1))
    boundary = lengths[0]
    start = boundary + k - frames if after else boundary - k
    return actions, lengths, start


def render_transition(
    action: str,
    *,
    seed: int = 0,
    rng: np.random.Generator | None = None,
    size: tuple[int, int] = (128, 128),
    frames: int = 48,
    fps: float = 25.0,
    actor: Actor | None = None,
    config: SynthConfig = DEFAULT_CONFIG,
) -> tuple[np.ndarray, np.ndarray]:
    """A clip of `action` as a window over a change: `frames` frames cut from the actor doing `action` and another
    action in a row, each at its natural length and speed (`transition_plan`), `action` holding the middle; (frames,
    boxes) as `render_clip` gives them. What a window that straddles a change in a long video should be labelled.
    """
    if frames < 8:
        raise ValueError("a transition clip needs at least 8 frames")
    rng = _rng(seed, rng)
    actions, lengths, start = transition_plan(action, frames, rng)
    clip, boxes, _ = render_sequence(actions, rng=rng, size=size, frames=lengths, fps=fps, actor=actor, config=config)
    return clip[start : start + frames], boxes[start : start + frames]
