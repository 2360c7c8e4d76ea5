"""Scenes: the background canvas (rooms, offices, walls, outdoor ground; procedural textures only), where the floor
is, where the light comes from, and the shapes moving behind the actor, all drawn from the clip's rng."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass
from math import tau as TAU

import cv2
import numpy as np

from .actors import RGB, Actor, hsv_colour
from .camera import Camera, random_camera
from .difficulty import SynthConfig

PLAIN_BACKGROUND = (128, 128, 128)
SCENE_KINDS = ("room", "office", "wall", "outdoor")


# A shape moving and spinning behind the actor: kind, colour, centre and velocity (world px), size, angle, spin.
Distractor = tuple[str, RGB, np.ndarray, np.ndarray, float, float, float]


@dataclass(frozen=True)
class Scene:
    """One clip's world: the background canvas, where the actor stands, the light, the distractors, the camera."""

    figure_px: float  # standing height in world pixels at zoom 1
    ground_y: float  # world y of the floor
    world: np.ndarray  # (Hw, Ww, 3) uint8 background canvas, larger than the view so the camera can move
    distractors: list[Distractor]
    camera: Camera
    light: np.ndarray  # (2,) unit image direction towards the key light on the actor
    flat: bool = False  # the actor drawn as flat one-colour parts (SynthConfig.appearance off)


def _noise(rng: np.random.Generator, h: int, w: int, cells: tuple[int, ...]) -> np.ndarray:
    """Value noise (h, w) float32, about unit spread: random grids of `cells` cells, smoothly upsampled and summed."""
    out = np.zeros((h, w), np.float32)
    for k, c in enumerate(cells):
        grid = rng.normal(0.0, 1.0, (max(2, c * h // max(h, w) + 1), c + 1)).astype(np.float32)
        out += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) / (1.6**k)
    return out


def _colour(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> np.ndarray:
    return np.array(hsv_colour(rng, sat, val), np.float32)


def _hued(rng: np.random.Generator, hue: tuple[float, float], sat: tuple[float, float], val: tuple[float, float]):
    """A colour (3,) float32 with hue, saturation and value drawn from the given ranges."""
    return np.array(colorsys.hsv_to_rgb(rng.uniform(*hue), rng.uniform(*sat), rng.uniform(*val)), np.float32) * 255


def _texture(rng: np.random.Generator, h: int, w: int, base: np.ndarray, scale: float) -> np.ndarray:
    """A wall or floor material (h, w, 3) float32 around colour `base`: plaster, brick, tiles, wood, stripes or
    curtain; `scale` is the frame height in px, so patterns keep their size whatever the view."""
    kind = int(rng.integers(6))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.broadcast_to(base, (h, w, 3)).copy()
    img += (rng.uniform(3, 14) * _noise(rng, h, w, (4, 12, 32)))[..., None]  # plaster, grime, uneven paint
    if kind == 1:  # brick or blocks: offset rows, mortar lines, each brick its own shade
        bh = rng.uniform(0.03, 0.12) * scale
        bw = bh * rng.uniform(1.8, 3.2)
        row = np.floor(ys / bh)
        col = np.floor(xs / bw + 0.5 * (row % 2))
        jitter = np.sin(row * 12.9898 + col * 78.233) * 43758.5453
        img += (rng.uniform(6, 22) * (jitter - np.floor(jitter) - 0.5))[..., None]
        mortar = ((ys % bh) < max(1.0, 0.12 * bh)) | (((xs / bw + 0.5 * (row % 2)) % 1.0) * bw < max(1.0, 0.1 * bh))
        img[mortar] = img[mortar] * 0.5 + rng.uniform(110, 200) * 0.5
    elif kind == 2:  # tiles: a grid of thin grout lines
        t = rng.uniform(0.05, 0.2) * scale
        grout = ((ys % t) < max(1.0, 0.06 * t)) | ((xs % t) < max(1.0, 0.06 * t))
        img[grout] *= rng.uniform(0.6, 1.25)
    elif kind == 3:  # wood grain along x or y, planks
        along, across = (xs, ys) if rng.random() < 0.5 else (ys, xs)
        plank = rng.uniform(0.05, 0.18) * scale
        warp = 6.0 * _noise(rng, h, w, (3, 8))
        img += (rng.uniform(6, 18) * np.sin(across / plank * 9.0 + warp + along * 0.002))[..., None]
        img[(across % plank) < 1.0] *= 0.7
    elif kind == 4:  # wallpaper stripes
        period = rng.uniform(0.03, 0.15) * scale
        img += (rng.uniform(5, 20) * np.sign(np.sin(TAU * xs / period)))[..., None]
    elif kind == 5:  # a curtain: soft vertical folds
        period = rng.uniform(0.05, 0.15) * scale
        img *= (1.0 + 0.18 * np.sin(TAU * xs / period + 2.0 * _noise(rng, h, w, (3,))))[..., None]
    return img


def _furniture(rng: np.random.Generator, img: np.ndarray, floor_y: int, office: bool, scale: float) -> None:
    """Shaded boxes standing on the floor or hanging on the wall: desks, shelves, cupboards, doors, windows,
    pictures, screens, plants (blurred blobs)."""
    hw, ww = img.shape[:2]
    for _ in range(int(rng.integers(2, 7 if office else 4))):
        w, h = rng.uniform(0.1, 0.5) * scale, rng.uniform(0.1, 0.6) * scale
        x0 = rng.uniform(-0.1, 1.0) * ww
        kind = int(rng.integers(5))
        if kind == 0:  # a window or a lit screen: bright, maybe with bars
            colour = _colour(rng, (0.0, 0.25), (0.75, 1.0))
        elif kind == 1:  # a monitor or a dark cupboard
            colour = _colour(rng, (0.0, 0.3), (0.03, 0.25))
        else:
            colour = _colour(rng, (0.0, 0.55), (0.2, 0.85))
        on_floor = kind >= 2 and rng.random() < 0.7
        y1 = floor_y + rng.uniform(0.0, 0.08) * scale if on_floor else rng.uniform(0.1, 0.8) * floor_y + h
        y0 = y1 - h
        x0i, y0i, x1i, y1i = (int(np.clip(v, 0, lim)) for v, lim in ((x0, ww), (y0, hw), (x0 + w, ww), (y1, hw)))
        if x1i <= x0i or y1i <= y0i:
            continue
        ys = np.linspace(1.08, 0.82, y1i - y0i, dtype=np.float32)[:, None, None]  # lit from above
        img[y0i:y1i, x0i:x1i] = colour * ys
        edge = max(1, int(0.01 * scale))
        img[y0i : y0i + edge, x0i:x1i] *= 1.15
        img[max(y0i, y1i - edge) : y1i, x0i:x1i] *= 0.6
        if kind == 0 and rng.random() < 0.6:  # window bars
            img[y0i:y1i, (x0i + x1i) // 2 : (x0i + x1i) // 2 + edge] *= 0.5
            img[(y0i + y1i) // 2 : (y0i + y1i) // 2 + edge, x0i:x1i] *= 0.5
    for _ in range(int(rng.integers(0, 3))):  # plants, lamps, clutter: soft blobs
        c = (rng.uniform(0, ww), rng.uniform(0.3, 1.0) * floor_y)
        blob = np.zeros((hw, ww), np.float32)
        cv2.ellipse(blob, (int(c[0]), int(c[1])), (int(rng.uniform(0.03, 0.12) * scale) + 1,
                    int(rng.uniform(0.05, 0.2) * scale) + 1), 0, 0, 360, 1.0, -1)  # fmt: skip
        blob = cv2.GaussianBlur(blob, (0, 0), 0.02 * scale + 0.5)[..., None]
        img[:] = img * (1 - blob) + _colour(rng, (0.2, 0.8), (0.1, 0.6)) * blob


def _outdoor(rng: np.random.Generator, hw: int, ww: int, horizon: int, scale: float) -> np.ndarray:
    """Sky (clear, hazy or grey), a band of distant trees or buildings, and ground: grass, dirt, sand or asphalt."""
    img = np.empty((hw, ww, 3), np.float32)
    sky = _hued(rng, (0.53, 0.64), (0.0, 0.45), (0.6, 1.0))  # blue, hazy or overcast
    ys = np.linspace(0.85, 1.1, max(1, horizon), dtype=np.float32)[:, None, None]
    img[:horizon] = sky * ys
    band = rng.uniform(0.05, 0.3) * scale
    top = (horizon - band * (0.6 + 0.8 * _noise(rng, 1, ww, (6, 20))[0])).astype(int)
    trees = _hued(rng, (0.12, 0.42), (0.0, 0.6), (0.1, 0.45))  # trees, hedges or grey buildings
    rows = np.arange(hw)[:, None]
    mask = (rows >= top[None, :]) & (rows < horizon)
    img[mask] = trees
    img[:horizon] += (8.0 * _noise(rng, horizon, ww, (20, 50)))[..., None] * mask[:horizon, :, None]
    ground = _hued(rng, (0.05, 0.33), (0.0, 0.55), (0.2, 0.65))  # grass, dirt, sand, a grey field or asphalt
    depth = np.linspace(0.85, 1.15, hw - horizon, dtype=np.float32)[:, None, None]
    img[horizon:] = ground * depth
    img[horizon:] += (rng.uniform(6, 20) * _noise(rng, hw - horizon, ww, (8, 30, 80)))[..., None]
    return img


def _world_background(
    rng: np.random.Generator, hw: int, ww: int, ground_y: float, h: int, cfg: SynthConfig, avoid: Sequence[RGB]
) -> np.ndarray:
    """The static scene: a room, office, bare wall or outdoor ground, lit unevenly, maybe out of focus."""
    if not cfg.textured:
        return np.full((hw, ww, 3), PLAIN_BACKGROUND, np.uint8)
    kind = SCENE_KINDS[int(rng.integers(len(SCENE_KINDS)))]
    horizon = int(np.clip(ground_y - rng.uniform(0.0, 0.35) * h, 1, hw - 1))  # where the floor meets the wall
    if kind == "outdoor":
        img = _outdoor(rng, hw, ww, horizon, h)
    else:
        wall = _colour(rng, (0.0, 0.35), (0.35, 0.95)) if rng.random() < 0.85 else _colour(rng, (0.0, 1.0), (0.2, 0.9))
        img = _texture(rng, hw, ww, wall, h)
        if kind != "wall" or rng.random() < 0.5:
            floor = _colour(rng, (0.0, 0.45), (0.15, 0.7))
            img[horizon:] = (
                _texture(rng, hw - horizon, ww, floor, h)
                * np.linspace(0.85, 1.1, hw - horizon, dtype=np.float32)[:, None, None]
            )
            img[horizon : horizon + max(1, h // 60)] *= 0.6  # skirting shadow
        _furniture(rng, img, horizon, kind == "office", h)
    ys = np.linspace(-1.0, 1.0, hw, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, ww, dtype=np.float32)[None, :]
    angle, strength = rng.uniform(0, TAU), rng.uniform(0.0, 0.35)  # light falls off across the room
    img *= (1.0 + strength * (xs * np.cos(angle) + ys * np.sin(angle)) + 0.15 * _noise(rng, hw, ww, (2,)))[..., None]
    mean = img[: max(1, horizon)].reshape(-1, 3).mean(axis=0)
    if all(np.abs(mean - np.array(c)).sum() < 60 for c in avoid):  # the actor would vanish into the wall
        img *= 1.45 if mean.mean() < 110 else 0.6
    out = np.clip(img, 0, 255).astype(np.uint8)
    sigma = rng.uniform(*cfg.background_blur) * h / 128
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    return out


def random_scene(rng: np.random.Generator, w: int, h: int, actor: Actor, cfg: SynthConfig) -> Scene:
    """A scene for a (w, h) view around `actor`, drawn from `cfg`'s ranges: the camera last."""
    hw, ww = round(1.5 * h), round(1.5 * w)
    fraction = np.exp(rng.uniform(*np.log(cfg.figure_height)))  # as many small figures as large ones, in ratio
    figure_px = fraction * h
    view_top = (hw - 1) / 2 - h / 2
    if fraction > 0.85:  # a large figure: the head near the view's top as a webcam frames it; raised hands may leave
        ground_y = view_top + figure_px + rng.uniform(0.04, 0.25) * h
    else:  # the whole body, feet somewhere in the lower part of the view; raised hands stay in it
        top_margin = 1.22 * figure_px + 0.04 * h
        ground_y = view_top + rng.uniform(min(max(top_margin, 0.6 * h), 0.95 * h), 0.95 * h)
    avoid = (actor.shirt, actor.trousers)
    world = _world_background(rng, hw, ww, ground_y, h, cfg, avoid)
    distractors = []
    for _ in range(int(rng.integers(cfg.distractors[0], cfg.distractors[1] + 1))):
        kind = str(rng.choice(["disc", "box", "triangle", "bar"]))
        colour = hsv_colour(rng, sat=(0.0, 0.8), val=(0.1, 0.9))
        centre = np.array([rng.uniform(0.1, 0.9) * ww, rng.uniform(0.1, 0.9) * hw])
        velocity = rng.uniform(-1.0, 1.0, size=2) * cfg.distractor_speed * w
        size, angle, spin = rng.uniform(0.04, 0.14) * w, rng.uniform(0, TAU), rng.uniform(-3.0, 3.0)
        distractors.append((kind, colour, centre, velocity, size, angle, spin))
    side = rng.uniform(-cfg.light_side, cfg.light_side)
    light = np.array([side, -1.0]) / np.hypot(side, 1.0)
    return Scene(
        figure_px=figure_px,
        ground_y=ground_y,
        world=world,
        distractors=distractors,
        flat=not cfg.appearance,
        camera=random_camera(rng, w, h, cfg),
        light=light,
    )
