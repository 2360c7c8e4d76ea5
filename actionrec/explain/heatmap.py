"""`explain_video`: the network's attention drawn over every frame of one video, written as a heat-map video
and/or a contact sheet, with the video's label as `actionrec predict` gives it (`ExplainResult`).

Frames come from `video.iter_windows`, the network's clips from the pipeline's `clip_batches`; this module only
pairs each frame with its nearest window's map, draws it and writes the files.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import ActionrecError
from ..io.files import atomic_path
from ..io.video import iter_windows, probe
from ..io.video_writer import VIDEO_SUFFIXES, VideoCodec, open_video_writer
from .geometry import crop_region
from .maps import Explainer, nearest_windows, select_blocks, window_maps
from .overlay import draw_overlay, heat_for
from .sheet import SheetFrame, SheetPicker, render_sheet


@dataclass(frozen=True)
class ExplainResult:
    """What `explain_video` wrote and what the network said."""

    video: str
    out: Path | None  # the heat-map video, when asked for
    codec: VideoCodec | None  # how `out` was encoded
    sheet: Path | None  # the contact sheet, when asked for
    frames: int  # frames drawn: every decoded frame of the video
    windows: int  # windows drawn (their maps and labels)
    blocks: tuple[str, ...]  # attention maps shown (averaged when more than one)
    label: str  # the video's label as `actionrec predict` gives it
    score: float
    label_windows: int  # the windows predict labelled the video from
    size: tuple[int, int]  # (width, height) of the drawn frames


def explain_video(
    explainer: Explainer,
    video: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    sheet: str | os.PathLike[str] | None = None,
    block: str = "mean",
    stride: int | None = None,
    alpha: float = 0.5,
    stretch: bool = True,
    sheet_frames: int = 8,
    min_side: int = 240,
    batch_size: int = 4,
    progress: Callable[[int], None] | None = None,
) -> ExplainResult:
    """Draw the network's spatial attention over every frame of `video`.

    out: a heat-map video, frame for frame the input's: .mp4 as H.264 where an encoder is at hand (browsers play
    it), else MPEG-4 Part 2 (mp4v); .avi as Motion JPEG (`ExplainResult.codec` says which); sheet: a PNG contact
    sheet of `sheet_frames` evenly spaced frame | overlay pairs. Windows start every `stride` frames (default: one
    window span, so each frame belongs to one window); each frame shows the map of the nearest sampled frame and
    its window's label and score. With `stretch`, each window's heat range over the crop is stretched to the
    full colour scale (else 0..1 raw). Frames whose short side is below `min_side` are enlarged by a whole factor
    so that the text stays legible. Both files are written atomically; memory holds one window.
    """
    if out is None and sheet is None:
        raise ActionrecError("explain: nothing to write; give an output video, a contact sheet, or both")
    out = Path(out) if out is not None else None
    sheet = Path(sheet) if sheet is not None else None
    if out is not None and out.suffix.lower() not in VIDEO_SUFFIXES:
        raise ActionrecError(f"{out}: the heat-map video must be .mp4 or .avi")
    if sheet is not None and sheet.suffix.lower() != ".png":
        raise ActionrecError(f"{sheet}: the contact sheet must be a .png file")
    if not 0.0 <= alpha <= 1.0:
        raise ActionrecError(f"alpha {alpha}: must be between 0 and 1")
    blocks = select_blocks(explainer.blocks, block)
    spec = explainer.meta.preprocessing
    info = probe(video)
    fps = info.fps if info.fps > 0 else 25.0
    windows = window_maps(explainer, video, blocks, stride=stride, batch_size=batch_size)
    frames = iter_windows(video, clip_len=1, stride=1)  # every decoded frame once, in order

    picker = SheetPicker(sheet_frames, info.frames) if sheet is not None else None
    seen: dict[int, np.ndarray] = {}  # window index -> probabilities, for the video's label
    drawn = 0
    size = (0, 0)
    writer = None
    codec: VideoCodec | None = None
    with atomic_path(out) if out is not None else contextlib.nullcontext() as tmp:
        try:
            for frame, window, k in nearest_windows(frames, windows):
                rgb = frame.frames[0]  # (H, W, 3)
                h, w = rgb.shape[:2]
                zoom = max(1, math.ceil(min_side / min(h, w))) if min_side else 1
                if zoom > 1:
                    rgb = cv2.resize(rgb, (w * zoom, h * zoom), interpolation=cv2.INTER_LINEAR)
                size = (w * zoom, h * zoom)
                region = tuple(v * zoom for v in crop_region(w, h, spec))
                heat = heat_for(window, k, region, size, spec.clip_len)
                low, high = (window.low, window.high) if stretch else (0.0, 1.0)
                text = f"{window.label} {window.score:.2f}"
                image = draw_overlay(rgb, heat, region, alpha=alpha, low=low, high=high, text=text)
                if tmp is not None:
                    if writer is None:
                        writer, codec = open_video_writer(tmp, out, fps, size)
                    writer.write(image)
                if picker is not None and picker.wanted(frame.start_frame):
                    plain = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
                    picker.add(SheetFrame(frame.start_frame, frame.start_s, plain, image, window.label, window.score))
                seen[window.index] = window.probs
                drawn += 1
                if progress is not None:
                    progress(drawn)
        finally:
            if writer is not None:
                writer.release()
        if drawn == 0:
            raise ActionrecError(f"{video}: no frames could be decoded")
    # The video's label is predict's own result (its windows, half a span apart, not the drawn ones, and its video
    # label rule), so that explain and predict never disagree on a video.
    predicted = explainer.recognizer.predict(video, batch_size=batch_size)
    label, score = predicted.label, predicted.score
    if sheet is not None and picker is not None:
        what = "mean of all blocks" if block.strip() == "mean" else ", ".join(blocks)
        title = f"{Path(video).name}: {label} {score:.2f}  |  attention: {what}"
        image = render_sheet(picker.picked(), title)
        with atomic_path(sheet) as tmp_sheet:
            if not cv2.imwrite(str(tmp_sheet), image):
                raise ActionrecError(f"{sheet}: cannot write the PNG")
    return ExplainResult(
        video=str(video),
        out=out,
        codec=codec,
        sheet=sheet,
        frames=drawn,
        windows=len(seen),
        blocks=tuple(blocks),
        label=label,
        score=score,
        label_windows=len(predicted.windows),
        size=size,
    )
