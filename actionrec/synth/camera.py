"""The camera and the light: pan, zoom, roll and hand-held shake, then exposure, tint, flicker, light gradient,
defocus and sensor noise, all drawn from the clip's rng."""

from __future__ import annotations

from dataclasses import dataclass
from math import tau as TAU

import cv2
import numpy as np

from .config import SynthConfig


@dataclass(frozen=True)
class Camera:
    """One clip's camera motion and lighting."""

    zoom: tuple[float, float]  # at the first and the last frame
    pan: np.ndarray  # camera centre velocity over the clip, world px
    shake: np.ndarray  # (2 axes, 2 sinusoids, amplitude/hz/phase)
    roll: float
    gain: np.ndarray  # (3,) exposure times tint
    flicker: tuple[float, float, float]  # amplitude, hz, phase
    illumination: tuple[float, float]  # strength, direction
    noise: float
    blur: float


def random_camera(rng: np.random.Generator, w: int, h: int, cfg: SynthConfig) -> Camera:
    """A camera for a (w, h) view, drawn from `cfg`'s ranges."""
    shake = np.stack(
        [
            rng.uniform(0, 1, (2, 2)) * cfg.shake * w,
            rng.uniform(1.0, 5.0, (2, 2)),
            rng.uniform(0, TAU, (2, 2)),
        ],
        axis=-1,
    )
    tint = 1.0 + rng.uniform(-cfg.tint, cfg.tint, size=3)
    return Camera(
        zoom=(rng.uniform(*cfg.zoom), rng.uniform(*cfg.zoom)),
        pan=rng.uniform(-1.0, 1.0, size=2) * cfg.pan * np.array([w, 0.4 * h]),
        shake=shake,
        roll=rng.uniform(-cfg.roll, cfg.roll),
        gain=rng.uniform(*cfg.gain) * tint,
        flicker=(rng.uniform(0, cfg.flicker), rng.uniform(0.2, 1.5), rng.uniform(0, TAU)),
        illumination=(rng.uniform(0, cfg.illumination), rng.uniform(0, TAU)),
        noise=rng.uniform(*cfg.noise),
        blur=rng.uniform(*cfg.blur),
    )


def camera_maps(
    camera: Camera, world_shape: tuple[int, ...], w: int, h: int, n: int, fps: float, follow_x: np.ndarray
) -> np.ndarray:
    """(n, 2, 3) affine maps world px -> image px: zoom, roll and shake about a panning centre."""
    hw, ww = world_shape[:2]
    x = np.linspace(-0.5, 0.5, n) if n > 1 else np.zeros(1)
    t = np.arange(n) / fps
    centre = np.array([(ww - 1) / 2, (hw - 1) / 2]) + x[:, None] * camera.pan[None, :]
    centre[:, 0] += follow_x
    amp, hz, phase = camera.shake[..., 0], camera.shake[..., 1], camera.shake[..., 2]
    centre += (amp[None] * np.sin(TAU * hz[None] * t[:, None, None] + phase[None])).sum(axis=2)
    zoom = camera.zoom[0] + (camera.zoom[1] - camera.zoom[0]) * (x + 0.5)
    roll = camera.roll * (1.0 + 0.3 * np.sin(TAU * 0.5 * t + camera.flicker[2]))
    a, b = zoom * np.cos(roll), zoom * np.sin(roll)
    m = np.empty((n, 2, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = a, -b, b, a
    m[:, :, 2] = np.array([(w - 1) / 2, (h - 1) / 2]) - np.einsum("nij,nj->ni", m[:, :, :2], centre)
    return m


def finish(frames: np.ndarray, camera: Camera, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Lighting, defocus and sensor noise over the whole clip at once."""
    n, h, w, _ = frames.shape
    if camera.blur > 0.3:
        for i in range(n):
            frames[i] = cv2.GaussianBlur(frames[i], (0, 0), camera.blur)
    t = np.arange(n) / fps
    amp, hz, phase = camera.flicker
    gain = camera.gain[None, :] * (1.0 + amp * np.sin(TAU * hz * t + phase))[:, None]
    strength, direction = camera.illumination
    ys = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    light = 1.0 + strength * (xs * np.cos(direction) + ys * np.sin(direction))
    out = frames.astype(np.float32)  # in place from here on: this is the bulk of a clip's arithmetic
    out *= light[None, :, :, None]
    out *= gain[:, None, None, :].astype(np.float32)
    if camera.noise > 0:  # uniform noise of the drawn sigma: a quarter the cost of Gaussian draws
        noise = rng.random(out.shape, dtype=np.float32)
        noise -= np.float32(0.5)
        noise *= np.float32(camera.noise * np.sqrt(12.0))
        out += noise
    out += np.float32(0.5)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)
