"""The one clip pipeline: RGB uint8 frames -> resize (short side, or a fixed H x W) -> crop -> normalised float32
(N, 3, T, H, W).

Predict, evaluate, training (with its random crops and flips), explain and export parity all call `preprocess`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .model_meta import Preprocessing


@dataclass(frozen=True)
class CropBox:
    """A square region of the resized frame to crop (then scale to `crop`), and whether to mirror it."""

    top: int
    left: int
    size: int
    flip: bool = False


def resized_shape(height: int, width: int, spec: Preprocessing) -> tuple[int, int]:
    """(H, W) that `resize_frame` gives a height x width frame: `spec.resize_to` when set, else the size with short
    side `spec.resize` (the frame's own when it already has it)."""
    if spec.resize_to is not None:
        return spec.resize_to
    short = min(height, width)
    if short == spec.resize:
        return height, width
    scale = spec.resize / short
    return max(round(height * scale), spec.resize), max(round(width * scale), spec.resize)


def resize_frame(frame: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """Resize an (H, W, 3) frame as the model expects: to the fixed (H, W) `spec.resize_to`, aspect not kept, as
    torchvision's video models do; else its short side to `spec.resize`. Area averaging when shrinking, bilinear
    when enlarging; a no-op when the frame already has that size. Every path resizes through here."""
    h, w = frame.shape[:2]
    new_h, new_w = resized_shape(h, w, spec)
    if (new_h, new_w) == (h, w):
        return frame
    interp = cv2.INTER_AREA if new_h <= h and new_w <= w else cv2.INTER_LINEAR
    return cv2.resize(frame, (new_w, new_h), interpolation=interp)


def frame_resizer(spec: Preprocessing):
    """The per-frame step of `preprocess`, for a decoder to apply once per frame instead of once per window."""
    return lambda frame: resize_frame(frame, spec)


def centre_box(height: int, width: int, spec: Preprocessing) -> CropBox:
    return CropBox(top=(height - spec.crop) // 2, left=(width - spec.crop) // 2, size=spec.crop)


def preprocess(frames: np.ndarray, spec: Preprocessing, box: CropBox | None = None) -> np.ndarray:
    """Turn uint8 RGB clips into the network's input.

    frames: (T, H, W, 3) for one clip or (N, T, H, W, 3) for a batch, any size; resized here unless the decoder
    already did it (`frame_resizer`). box: where to crop in the resized frames (default: the centre, `crop`
    square); a box of another size is scaled to `crop` (multi-scale training crops). Returns float32
    (N, 3, T, crop, crop), normalised with the model's mean and std.
    """
    clips = frames[None] if frames.ndim == 4 else frames
    if clips.ndim != 5 or clips.shape[-1] != 3:
        raise ValueError(f"expected (N, T, H, W, 3) frames, got {frames.shape}")
    h, w = clips.shape[2:4]
    if (h, w) != resized_shape(h, w, spec):
        clips = np.stack([[resize_frame(f, spec) for f in clip] for clip in clips])
        h, w = clips.shape[2:4]
    box = box or centre_box(h, w, spec)
    clips = clips[:, :, box.top : box.top + box.size, box.left : box.left + box.size]
    if box.size != spec.crop:
        interp = cv2.INTER_AREA if box.size > spec.crop else cv2.INTER_LINEAR
        clips = np.stack(
            [[cv2.resize(f, (spec.crop, spec.crop), interpolation=interp) for f in clip] for clip in clips]
        )
    if box.flip:
        clips = clips[:, :, :, ::-1]
    scale = 1.0 / (255.0 * np.asarray(spec.std, np.float32))
    shift = np.asarray(spec.mean, np.float32) / np.asarray(spec.std, np.float32)
    clips = np.ascontiguousarray(clips.transpose(0, 4, 1, 2, 3))  # (N, 3, T, crop, crop): move bytes, not floats
    x = np.multiply(clips, scale[:, None, None, None], dtype=np.float32)  # one pass each, no temporaries
    x -= shift[:, None, None, None]
    return x


def random_box(
    height: int,
    width: int,
    spec: Preprocessing,
    rng: np.random.Generator,
    *,
    scales: tuple[float, ...] = (1.0, 0.875, 0.75, 0.66),
    flip: bool = True,
) -> CropBox:
    """A training crop: multi-scale (a side of scale * short side, then scaled to `crop` either way, like
    3D-ResNets' multi-scale corner crop) at a random place, mirrored half the time."""
    short = min(height, width)
    size = min(max(round(short * float(rng.choice(scales))), 1), short)
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    return CropBox(top=top, left=left, size=size, flip=bool(flip and rng.random() < 0.5))


GREY = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601 luma weights of R, G, B


def color_augment(clip: np.ndarray, rng: np.random.Generator, *, jitter: float, shuffle: bool) -> np.ndarray:
    """Training-only colour changes of one uint8 (T, H, W, 3) clip, the same for all its frames: brightness,
    contrast and saturation each scaled by a factor in [1 - jitter, 1 + jitter], then (with `shuffle`) the RGB
    channels in a random order, so that clothing colours cannot stand in for the action.

    Per pixel: grey = GREY . rgb, rgb' = grey + saturation (rgb - grey), then about the clip's mean grey m:
    (rgb' - m) contrast + m brightness, rounded and clipped to 0..255. All of it is one affine colour map (a 3x4
    matrix, the shuffle permuting its rows), applied in one pass by cv2.transform."""
    if jitter <= 0 and not shuffle:
        return np.ascontiguousarray(clip)
    t, h, w, _ = clip.shape
    flat = np.ascontiguousarray(clip).reshape(t * h, w, 3)  # frames stacked into one image for OpenCV
    matrix = np.eye(3, 4, dtype=np.float32)  # rgb_out = matrix[:, :3] @ rgb + matrix[:, 3]
    if jitter > 0:
        brightness, contrast, saturation = rng.uniform(1 - jitter, 1 + jitter, 3)
        m = float(GREY @ np.asarray(cv2.mean(flat)[:3], np.float32))
        matrix[:, :3] = contrast * (saturation * np.eye(3) + (1 - saturation) * GREY[None, :])
        matrix[:, 3] = m * (brightness - contrast)
    if shuffle:
        matrix = np.ascontiguousarray(matrix[rng.permutation(3)])
    return cv2.transform(flat, matrix).reshape(clip.shape)  # saturating uint8
