"""Drawing a heat map: one sampled frame's heat (`heat_for`) blended over the frame, the region the network sees
outlined and the rest dimmed (`draw_overlay`), and legible text on any colour (`put_text`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from .geometry import Box, attention_frames, box_mask, time_steps

if TYPE_CHECKING:
    from .maps import WindowMaps

DIM = 0.35  # brightness kept outside the region the network sees


def heat_for(window: WindowMaps, k: int, region: Box, size: tuple[int, int], clip_len: int) -> np.ndarray:
    """(H, W) heat of sampled position k of a window: each block upsampled onto the frame, then averaged."""
    heats = []
    for m in window.maps.values():
        step = int(time_steps(m.shape[0], clip_len)[k])
        heats.append(attention_frames(m[step : step + 1], region, size, frames=1)[0])
    return np.mean(heats, axis=0) if len(heats) > 1 else heats[0]


def draw_overlay(
    frame_rgb: np.ndarray,
    heat: np.ndarray,
    region: Box,
    *,
    alpha: float = 0.5,
    low: float = 0.0,
    high: float = 1.0,
    text: str = "",
) -> np.ndarray:
    """The frame (BGR uint8) with the heat (colour map JET, `low`..`high` stretched to blue..red) blended over the
    region the network sees, the rest dimmed, the region outlined and `text` written at the top left."""
    h, w = frame_rgb.shape[:2]
    span = high - low
    scaled = (heat - low) / span if span > 1e-6 else heat
    colour = cv2.applyColorMap(np.clip(scaled * 255.0, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    bgr = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR).astype(np.float32)
    inside = bgr * (1.0 - alpha) + colour.astype(np.float32) * alpha
    mask = box_mask(region, (w, h))[..., None]
    out = np.clip(mask * inside + (1.0 - mask) * bgr * DIM, 0, 255).astype(np.uint8)
    x0, y0, x1, y1 = (round(v) for v in region)
    cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (255, 255, 255), 1, cv2.LINE_AA)
    if text:
        put_text(out, text, (0, 0))
    return out


def put_text(img: np.ndarray, text: str, top_left: tuple[int, int], scale: float | None = None) -> None:
    """White text on a dark box (legible on any heat colour), sized to the image's width unless `scale` is given."""
    scale = scale or max(0.4, min(img.shape[1] / 640.0, 1.2) * 0.9)
    thickness = max(1, round(scale * 1.5))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x, y = top_left
    pad = max(2, round(3 * scale))
    cv2.rectangle(img, (x, y), (x + tw + 2 * pad, y + th + base + 2 * pad), (0, 0, 0), cv2.FILLED)
    org = (x + pad, y + pad + th)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
