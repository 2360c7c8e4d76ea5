"""Where the network's crop lies in a frame's pixels, its maps upsampled onto the frame (`attention_frames`), and
the share of attention mass inside a box (`attention_share`, the metric). Pure functions over numpy arrays."""

from __future__ import annotations

import cv2
import numpy as np

from ..model_meta import Preprocessing
from ..transforms import centre_box, resized_shape

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels; pixel edges, so x1 and y1 are exclusive


def crop_region(width: int, height: int, spec: Preprocessing) -> Box:
    """The part of a width x height frame the network sees (the centre crop of the resized frame), in frame pixels."""
    rh, rw = resized_shape(height, width, spec)  # the same resize the network's input went through
    box = centre_box(rh, rw, spec)
    sx, sy = rw / width, rh / height  # resized pixels per frame pixel; pixel edges scale linearly
    return (box.left / sx, box.top / sy, (box.left + box.size) / sx, (box.top + box.size) / sy)


def box_to_crop(box: Box, width: int, height: int, spec: Preprocessing) -> Box:
    """A box in frame pixels mapped into the network's crop (spec.crop pixels square); it may reach outside it."""
    x0, y0, x1, y1 = crop_region(width, height, spec)
    kx, ky = spec.crop / (x1 - x0), spec.crop / (y1 - y0)
    return ((box[0] - x0) * kx, (box[1] - y0) * ky, (box[2] - x0) * kx, (box[3] - y0) * ky)


def _coverage(lo: float, hi: float, n: int) -> np.ndarray:
    """For each pixel i of n, how much of [i, i + 1) lies inside [lo, hi): 1 inside, fractions at the edges."""
    edges = np.arange(n, dtype=np.float64)
    return np.clip(np.minimum(edges + 1.0, hi) - np.maximum(edges, lo), 0.0, 1.0)


def box_mask(box: Box, size: tuple[int, int]) -> np.ndarray:
    """(H, W) float32: each pixel's covered fraction by `box` in a frame of size (width, height)."""
    width, height = size
    return np.outer(_coverage(box[1], box[3], height), _coverage(box[0], box[2], width)).astype(np.float32)


def area_share(box: Box, size: tuple[int, int]) -> float:
    """The share of a (width, height) frame that `box` covers (clipped to the frame): what a uniform map gives."""
    width, height = size
    return float(_coverage(box[0], box[2], width).sum() * _coverage(box[1], box[3], height).sum() / (width * height))


def attention_share(heat: np.ndarray, box: Box) -> float:
    """Share of the attention mass of `heat` (H, W), >= 0, that lies inside `box` (x0, y0, x1, y1 in pixels of
    the map, x1/y1 exclusive; fractional boxes count fractional pixels). 1.0 when all mass is inside, the box's
    area share for a uniform map, 0.0 when all mass is outside; NaN for a map with no mass."""
    heat = np.asarray(heat, dtype=np.float64)
    if heat.ndim != 2:
        raise ValueError(f"expected an (H, W) map, got shape {heat.shape}")
    if (heat < 0).any():
        raise ValueError("attention share needs a map without negative values")
    total = heat.sum()
    if total <= 0:
        return float("nan")
    h, w = heat.shape
    inside = _coverage(box[1], box[3], h) @ heat @ _coverage(box[0], box[2], w)
    return float(inside / total)


def time_steps(steps: int, frames: int) -> np.ndarray:
    """For each of `frames` sampled frames, the nearest of a map's `steps` time steps (they span the same time)."""
    return np.minimum(((np.arange(frames) + 0.5) * steps / frames).astype(np.int64), steps - 1)


def attention_frames(maps: np.ndarray, box: Box, frame_size: tuple[int, int], frames: int | None = None) -> np.ndarray:
    """One block's spatial attention over frames.

    maps: (T', h, w) (or (h, w)) in [0, 1], as the network computed it over its crop. box: where that crop lies in
    a frame of frame_size (width, height), in frame pixels (`crop_region`). Each of the `frames` sampled frames
    (default T') takes the nearest of the T' time steps; each step is upsampled bilinearly onto the box. Returns
    (frames, H, W) float32 in [0, 1], zero outside the box (edge pixels weighted by how much of them it covers).
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3:
        raise ValueError(f"expected (T', h, w) maps, got shape {maps.shape}")
    t_maps, h, w = maps.shape
    frames = frames or t_maps
    width, height = frame_size
    x0, y0, x1, y1 = box
    ax, ay = (x1 - x0) / w, (y1 - y0) / h  # frame pixels per map cell
    # map pixel centre (j + 0.5) lands on frame x0 + (j + 0.5) * ax, i.e. pixel-centre coordinate that minus 0.5
    affine = np.array([[ax, 0.0, x0 + 0.5 * ax - 0.5], [0.0, ay, y0 + 0.5 * ay - 0.5]], dtype=np.float64)
    mask = box_mask(box, frame_size)
    out = np.empty((frames, height, width), np.float32)
    done: dict[int, np.ndarray] = {}
    for i, step in enumerate(time_steps(t_maps, frames).tolist()):
        if step not in done:
            warped = cv2.warpAffine(
                np.ascontiguousarray(maps[step]),
                affine,
                (width, height),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
            done[step] = np.clip(warped, 0.0, 1.0) * mask
        out[i] = done[step]
    return out
