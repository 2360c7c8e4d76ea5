"""Scenes: the background canvas, where the floor is, and the shapes moving behind the actor, drawn from the
clip's rng."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import tau as TAU

import cv2
import numpy as np

from .actors import RGB, Actor, hsv_colour
from .camera import Camera, random_camera
from .config import SynthConfig

PLAIN_BACKGROUND = (128, 128, 128)


# A shape moving and spinning behind the actor: kind, colour, centre and velocity (world px), size, angle, spin.
Distractor = tuple[str, RGB, np.ndarray, np.ndarray, float, float, float]


@dataclass(frozen=True)
class Scene:
    """One clip's world: the background canvas, where the actor stands, the distractors, and the camera."""

    figure_px: float  # standing height in world pixels at zoom 1
    ground_y: float  # world y of the floor
    world: np.ndarray  # (Hw, Ww, 3) uint8 background canvas, larger than the view so the camera can move
    distractors: list[Distractor]
    camera: Camera


def _colour_far(rng: np.random.Generator, avoid: Sequence[RGB], **hsv: tuple[float, float]) -> RGB:
    """A random colour at least a little way from every colour in `avoid` (keeps the actor visible)."""
    for _ in range(12):
        c = hsv_colour(rng, **hsv)
        if all(sum(abs(a - b) for a, b in zip(c, o, strict=True)) > 110 for o in avoid):
            return c
    return c


def _world_background(
    rng: np.random.Generator, hw: int, ww: int, ground_y: float, cfg: SynthConfig, avoid: Sequence[RGB]
) -> np.ndarray:
    """The static scene: gradient, soft blobs, one texture, maybe a floor, and some furniture."""
    if not cfg.textured:
        return np.full((hw, ww, 3), PLAIN_BACKGROUND, np.uint8)
    ys = np.linspace(-1.0, 1.0, hw, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, ww, dtype=np.float32)[None, :]
    c0 = np.array(_colour_far(rng, avoid, sat=(0.0, 0.6), val=(0.25, 0.95)), np.float32)
    c1 = np.array(_colour_far(rng, avoid, sat=(0.0, 0.6), val=(0.25, 0.95)), np.float32)
    angle = rng.uniform(0, TAU)
    g = 0.5 + 0.35 * (xs * np.cos(angle) + ys * np.sin(angle))
    img = c0 + (c1 - c0) * g[..., None]
    k = int(rng.integers(3, 8))  # soft blobs of light and colour
    blobs = rng.normal(0.0, 1.0, (k, k, 3)).astype(np.float32)
    img += cv2.resize(blobs, (ww, hw), interpolation=cv2.INTER_CUBIC) * rng.uniform(4, 30)
    kind = rng.integers(4)
    amp = rng.uniform(8, 35)
    if kind == 0:  # stripes at any angle
        phi, freq = rng.uniform(0, np.pi), rng.uniform(3, 14)
        along = xs * np.cos(phi) + ys * np.sin(phi)
        img += (amp * np.sin(np.pi * freq * along + rng.uniform(0, TAU)))[..., None]
    elif kind == 1:  # tiles
        fx, fy = rng.uniform(3, 10, size=2)
        img += (amp * np.sign(np.sin(np.pi * fx * xs + 0.3) * np.sin(np.pi * fy * ys + 0.7)))[..., None]
    elif kind == 2:  # grain
        s = int(rng.integers(12, 48))
        grain = rng.normal(0.0, 1.0, (s, s, 1)).astype(np.float32)
        img += cv2.resize(grain, (ww, hw), interpolation=cv2.INTER_LINEAR)[..., None] * amp
    if rng.random() < 0.6:  # a floor meeting the wall somewhat behind the feet
        horizon = int(np.clip(ground_y - rng.uniform(0.0, 0.1) * hw, 0, hw))
        floor = np.array(_colour_far(rng, avoid, sat=(0.0, 0.5), val=(0.2, 0.8)), np.float32)
        depth = np.linspace(0.0, 1.0, hw - horizon, dtype=np.float32)[:, None, None]
        img[horizon:] = floor * (0.8 + 0.3 * depth) + 0.25 * (img[horizon:] - img[horizon:].mean((0, 1)))
    out = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(0, 5))):  # static furniture and windows
        x0, y0 = rng.uniform(0, ww), rng.uniform(0, hw)
        w, h = rng.uniform(0.05, 0.3) * ww, rng.uniform(0.05, 0.3) * hw
        colour = _colour_far(rng, avoid, sat=(0.0, 0.7), val=(0.15, 0.95))
        cv2.rectangle(out, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), colour, -1, cv2.LINE_AA)
    return out


def random_scene(rng: np.random.Generator, w: int, h: int, actor: Actor, cfg: SynthConfig) -> Scene:
    """A scene for a (w, h) view around `actor`, drawn from `cfg`'s ranges: the camera last."""
    hw, ww = round(1.5 * h), round(1.5 * w)
    figure_px = rng.uniform(*cfg.figure_height) * h
    top_margin = 1.22 * figure_px + 0.04 * h  # raised arms and jumps stay in view
    # The floor lies near the bottom of the view; a tall figure's may lie below it (feet out of view, hands in).
    ground_y = (hw - 1) / 2 - h / 2 + rng.uniform(min(top_margin, 0.93 * h), max(top_margin, 0.95 * h))
    avoid = (actor.shirt, actor.trousers)
    world = _world_background(rng, hw, ww, ground_y, cfg, avoid)
    distractors = []
    for _ in range(int(rng.integers(cfg.distractors[0], cfg.distractors[1] + 1))):
        kind = str(rng.choice(["disc", "box", "triangle", "bar"]))
        colour = _colour_far(rng, avoid, sat=(0.2, 1.0), val=(0.2, 1.0))
        centre = np.array([rng.uniform(0.1, 0.9) * ww, rng.uniform(0.1, 0.9) * hw])
        velocity = rng.uniform(-1.0, 1.0, size=2) * cfg.distractor_speed * w
        size, angle, spin = rng.uniform(0.04, 0.14) * w, rng.uniform(0, TAU), rng.uniform(-3.0, 3.0)
        distractors.append((kind, colour, centre, velocity, size, angle, spin))
    return Scene(
        figure_px=figure_px,
        ground_y=ground_y,
        world=world,
        distractors=distractors,
        camera=random_camera(rng, w, h, cfg),
    )
