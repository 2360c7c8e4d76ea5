"""The camera, the light and the sensor: pan, zoom, roll, hand-held shake and elevation, then defocus, resolution,
exposure, tint, flicker, light gradient, sensor noise, grey-scale and compression, all drawn from the clip's rng."""

from __future__ import annotations

from dataclasses import dataclass
from math import tau as TAU

import cv2
import numpy as np

from .difficulty import SynthConfig


@dataclass(frozen=True)
class Camera:
    """One clip's camera motion, lighting and sensor."""

    zoom: tuple[float, float]  # at the first and the last frame
    pan: np.ndarray  # camera centre velocity over the clip, world px
    shake: np.ndarray  # (2 axes, 2 sinusoids, amplitude/hz/phase)
    roll: float
    elevation: float  # radians the camera looks down on the body (negative: up)
    gain: np.ndarray  # (3,) exposure times tint
    flicker: tuple[float, float, float]  # amplitude, hz, phase
    illumination: tuple[float, float]  # strength, direction
    noise: float
    blur: float
    grey: bool  # a grey-scale camera
    low_res: float  # the sensor's resolution / the frame's; 1: full
    jpeg: int  # JPEG quality every frame passes through; 0: none


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
    low_res = rng.uniform(*cfg.low_res)
    return Camera(
        zoom=(rng.uniform(*cfg.zoom), rng.uniform(*cfg.zoom)),
        pan=rng.uniform(-1.0, 1.0, size=2) * cfg.pan * np.array([w, 0.4 * h]),
        shake=shake,
        roll=rng.uniform(-cfg.roll, cfg.roll),
        elevation=rng.uniform(-cfg.elevation, cfg.elevation),
        gain=rng.uniform(*cfg.gain) * tint,
        flicker=(rng.uniform(0, cfg.flicker), rng.uniform(0.2, 1.5), rng.uniform(0, TAU)),
        illumination=(rng.uniform(0, cfg.illumination), rng.uniform(0, TAU)),
        noise=rng.uniform(*cfg.noise),
        blur=rng.uniform(*cfg.blur),
        grey=bool(rng.random() < cfg.grey),
        low_res=1.0 if low_res > 0.9 else low_res,
        jpeg=int(rng.integers(12, 51)) if rng.random() < cfg.compression else 0,
    )


def camera_maps(
    camera: Camera,
    world_shape: tuple[int, ...],
    w: int,
    h: int,
    n: int,
    fps: float,
    follow_x: np.ndarray,
    anchor: np.ndarray | None = None,
) -> np.ndarray:
    """(n, 2, 3) affine maps world px -> image px: zoom and roll about `anchor` (world px: the body, so a zoom keeps
    it in view; default the view's centre) and shake, about a panning centre."""
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
    view = np.array([(w - 1) / 2, (h - 1) / 2])
    fixed = centre if anchor is None else np.broadcast_to(anchor, centre.shape)
    # The fixed point stays where an unzoomed, unrolled camera would show it.
    m[:, :, 2] = view + (fixed - centre) - np.einsum("nij,nj->ni", m[:, :, :2], fixed)
    return m


def finish(frames: np.ndarray, camera: Camera, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Defocus, a low-resolution sensor, lighting, sensor noise, grey-scale and compression over the whole clip."""
    n, h, w, _ = frames.shape
    if camera.blur > 0.3:
        for i in range(n):
            frames[i] = cv2.GaussianBlur(frames[i], (0, 0), camera.blur)
    small = (max(8, round(w * camera.low_res)), max(8, round(h * camera.low_res)))
    if camera.low_res < 1.0:  # what a small sensor saw: the rest is upscaling
        frames = np.stack([cv2.resize(f, small, interpolation=cv2.INTER_AREA) for f in frames])
    sh, sw = frames.shape[1:3]
    t = np.arange(n) / fps
    amp, hz, phase = camera.flicker
    gain = camera.gain[None, :] * (1.0 + amp * np.sin(TAU * hz * t + phase))[:, None]
    strength, direction = camera.illumination
    ys = np.linspace(-1.0, 1.0, sh, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, sw, dtype=np.float32)[None, :]
    light = 1.0 + strength * (xs * np.cos(direction) + ys * np.sin(direction))
    out = frames.astype(np.float32)  # in place from here on: this is the bulk of a clip's arithmetic
    out *= light[None, :, :, None]
    out *= gain[:, None, None, :].astype(np.float32)
    if camera.grey:
        out[:] = (out @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    if camera.noise > 0:  # uniform noise of the drawn sigma: a quarter the cost of Gaussian draws
        noise = rng.random(out.shape[:3] + ((1,) if camera.grey else (3,)), dtype=np.float32)
        noise -= np.float32(0.5)
        noise *= np.float32(camera.noise * np.sqrt(12.0))
        out += noise
    out += np.float32(0.5)
    np.clip(out, 0, 255, out=out)
    clip = out.astype(np.uint8)
    if camera.jpeg:  # a grey camera's frames are encoded as one-channel JPEGs: they stay exactly grey
        params = [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg]
        frames_in = clip[..., 0] if camera.grey else clip
        clip = np.stack([cv2.imdecode(cv2.imencode(".jpg", f, params)[1], cv2.IMREAD_UNCHANGED) for f in frames_in])
        clip = np.repeat(clip[..., None], 3, axis=-1) if camera.grey else clip
    if camera.low_res < 1.0:
        clip = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in clip])
    return clip
