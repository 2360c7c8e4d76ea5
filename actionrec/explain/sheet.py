"""The contact sheet: which frames it shows (`SheetPicker`, evenly spaced, memory bounded), its layout
(`sheet_size`) and the image itself (`render_sheet`: a title, then frame | overlay pairs with their captions)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ActionrecError
from .overlay import put_text

SHEET_TILE = 180  # contact sheet: height of each frame tile in pixels
SHEET_CAPTION = 22  # contact sheet: caption band under each frame | overlay pair
SHEET_HEADER = 30  # contact sheet: title band on top
SHEET_PAIRS_PER_ROW = 2
SHEET_GAP = 6


@dataclass(frozen=True)
class SheetFrame:
    index: int  # decoded-frame index
    time_s: float
    frame: np.ndarray  # BGR uint8 as shown (the plain frame)
    overlay: np.ndarray  # BGR uint8 with the heat map and the label
    label: str
    score: float


class SheetPicker:
    """Keeps `count` evenly spaced frames of a stream: exactly spaced when the frame count is known, otherwise by
    halving a kept set whenever it grows past 2 x count (memory stays bounded either way)."""

    def __init__(self, count: int, frames_hint: int):
        self.count = count
        self.targets = (
            set(np.round(np.linspace(0, frames_hint - 1, min(count, frames_hint))).astype(int).tolist())
            if frames_hint > 0
            else None
        )
        self.kept: list[SheetFrame] = []
        self.every = 1  # without a count: keep frames whose index is a multiple of this
        self.last: SheetFrame | None = None

    def wanted(self, index: int) -> bool:
        return index in self.targets if self.targets is not None else index % self.every == 0

    def add(self, item: SheetFrame) -> None:
        self.kept.append(item)
        if self.targets is None and len(self.kept) > 2 * self.count:
            self.every *= 2
            self.kept = [f for f in self.kept if f.index % self.every == 0]

    def picked(self) -> list[SheetFrame]:
        kept = self.kept
        if len(kept) > self.count:
            kept = [kept[i] for i in np.round(np.linspace(0, len(kept) - 1, self.count)).astype(int)]
        return kept


def sheet_size(width: int, height: int, count: int) -> tuple[int, int]:
    """(width, height) in pixels of the contact sheet of `count` frame | overlay pairs of width x height frames."""
    tile_w = max(round(width * SHEET_TILE / height), 1)
    pair_w = 2 * tile_w + SHEET_GAP
    cols = min(count, SHEET_PAIRS_PER_ROW)
    rows = math.ceil(count / SHEET_PAIRS_PER_ROW)
    sheet_w = cols * pair_w + (cols + 1) * SHEET_GAP
    sheet_h = SHEET_HEADER + rows * (SHEET_TILE + SHEET_CAPTION + SHEET_GAP)
    return sheet_w, sheet_h


def render_sheet(frames: Sequence[SheetFrame], title: str) -> np.ndarray:
    """The contact sheet (BGR uint8): a title, then rows of frame | overlay pairs with their time and label."""
    if not frames:
        raise ActionrecError("no frames to put on the contact sheet")
    height, width = frames[0].frame.shape[:2]
    sheet_w, sheet_h = sheet_size(width, height, len(frames))
    tile_w = max(round(width * SHEET_TILE / height), 1)
    sheet = np.full((sheet_h, sheet_w, 3), 32, np.uint8)
    put_text(sheet, title, (SHEET_GAP, 7), scale=0.5)
    for n, f in enumerate(frames):
        row, col = divmod(n, SHEET_PAIRS_PER_ROW)
        x = SHEET_GAP + col * (2 * tile_w + 2 * SHEET_GAP)
        y = SHEET_HEADER + row * (SHEET_TILE + SHEET_CAPTION + SHEET_GAP)
        for j, img in enumerate((f.frame, f.overlay)):
            tile = cv2.resize(img, (tile_w, SHEET_TILE), interpolation=cv2.INTER_AREA)
            sheet[y : y + SHEET_TILE, x + j * (tile_w + SHEET_GAP) : x + j * (tile_w + SHEET_GAP) + tile_w] = tile
        caption = f"frame {f.index}  {f.time_s:.2f}s  {f.label} {f.score:.2f}"
        put_text(sheet, caption, (x, y + SHEET_TILE + 4), scale=0.42)
    return sheet
