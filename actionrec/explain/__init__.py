"""Where the network looks: its spatial attention maps laid over the video's frames as a heat map (the paper's
Fig. 6), written as a video and/or a contact sheet, and the share of attention mass inside a box.

Frames come from `video.iter_windows`, the network's input from `transforms.preprocess`; this module owns only the
geometry (network crop <-> frame pixels), the choice of blocks, the drawing and the heat-map video's encoder.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..config import Preprocessing
from ..errors import ActionrecError
from ..io.files import atomic_path
from ..io.video import iter_windows, probe
from ..runtime.aggregate import ranked, softmax, video_ranking
from ..transforms import centre_box, preprocess, resized_shape

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels; pixel edges, so x1 and y1 are exclusive

VIDEO_SUFFIXES = (".mp4", ".avi")  # .mp4: H.264 where an encoder is at hand, else MPEG-4 Part 2; .avi: Motion JPEG
DIM = 0.35  # brightness kept outside the region the network sees
SHEET_TILE = 180  # contact sheet: height of each frame tile in pixels
SHEET_CAPTION = 22  # contact sheet: caption band under each frame | overlay pair
SHEET_HEADER = 30  # contact sheet: title band on top
SHEET_PAIRS_PER_ROW = 2
SHEET_GAP = 6


# ---- geometry: pure functions ----


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


# ---- which blocks ----


def spatial_blocks(model) -> list[str]:
    """Names of the model's spatial attention maps (as `capture_spatial_maps` keys them), in forward order."""
    from ..networks.attention import SpatialGate

    return [name for name, module in model.named_modules() if isinstance(module, SpatialGate)]


def select_blocks(names: Sequence[str], block: str) -> tuple[str, ...]:
    """The blocks `block` names: "mean" (all of them, averaged), a full name ("layer2.0.attention.spatial.gate"),
    an index into the forward order ("0", "-1"), or a name prefix such as a stage ("layer3": its blocks averaged)
    or a block ("layer3.1")."""
    if not names:
        raise ActionrecError("the model has no spatial attention maps (attention=False): nothing to show")
    block = block.strip()
    if block == "mean":
        return tuple(names)
    if block in names:
        return (block,)
    try:
        index = int(block)
    except ValueError:
        index = None
    if index is not None:
        if -len(names) <= index < len(names):
            return (names[index],)
    else:
        matched = tuple(n for n in names if n.startswith(block.rstrip(".") + "."))
        if matched:
            return matched
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    raise ActionrecError(
        f"--block {block!r}: no such attention block; give 'mean', an index 0..{len(names) - 1}, "
        f"a stage or block prefix (e.g. {names[0].split('.')[0]}) or a name: {shown}"
    )


# ---- the network's maps, window by window ----


@dataclass(frozen=True)
class WindowMaps:
    """One scored window: where its frames are, its label, and the chosen blocks' maps (pixels dropped)."""

    index: int
    start: int  # first sampled frame
    sampled: tuple[int, ...]  # decoded-frame index of each of the clip_len sampled frames
    maps: dict[str, np.ndarray]  # block -> (T', h, w) float32 in [0, 1]
    probs: np.ndarray  # (num_classes,) softmax
    label: str
    score: float
    low: float  # range of the window's heat over the crop, for the stretched colour scale
    high: float


def _sampled(start: int, spec: Preprocessing, video_frames: int) -> tuple[int, ...]:
    if 0 < video_frames < spec.span:  # a looped short video (see iter_windows)
        return tuple((k * spec.frame_step) % video_frames for k in range(spec.clip_len))
    return tuple(start + k * spec.frame_step for k in range(spec.clip_len))


def window_maps(
    recognizer,
    path: str | os.PathLike[str],
    blocks: Sequence[str],
    *,
    stride: int | None = None,
    num_windows: int | None = None,
    batch_size: int = 4,
) -> Iterator[WindowMaps]:
    """Run the network over the video's windows (non-overlapping by default: stride = span) with the spatial
    maps captured; yields each window's maps for `blocks`, streaming."""
    from ..networks.attention import capture_spatial_maps

    backend = _torch_backend(recognizer, path)
    spec = recognizer.meta.preprocessing
    windows = iter_windows(
        path,
        clip_len=spec.clip_len,
        frame_step=spec.frame_step,
        stride=stride or spec.span,
        num_windows=num_windows,
    )
    labels = recognizer.meta.labels
    crop = spec.crop
    batch: list = []

    def flush() -> Iterator[WindowMaps]:
        x = preprocess(np.stack([w.frames for w in batch]), spec)  # (N, 3, T, crop, crop)
        with capture_spatial_maps(backend.model) as captured:
            probs = softmax(backend.forward(x))  # (N, C): one pass, so each hook sees the whole batch
        missing = [b for b in blocks if b not in captured]
        if missing:
            raise ActionrecError(f"{path}: the model did not compute attention map {missing[0]}")
        for i, w in enumerate(batch):
            maps = {b: captured[b][i, 0].float().cpu().numpy() for b in blocks}  # (T', h, w) each
            heat = np.mean(
                [attention_frames(m, (0, 0, crop, crop), (crop, crop), spec.clip_len) for m in maps.values()], 0
            )  # (T, crop, crop): the colour scale's range over what the network saw
            top = int(np.argmax(probs[i]))
            yield WindowMaps(
                index=w.index,
                start=w.start_frame,
                sampled=_sampled(w.start_frame, spec, w.video_frames),
                maps=maps,
                probs=probs[i],
                label=labels[top],
                score=float(probs[i][top]),
                low=float(heat.min()),
                high=float(heat.max()),
            )

    for w in windows:
        batch.append(w)
        if len(batch) == batch_size:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def _torch_backend(recognizer, path):
    from ..runtime.backends import TorchBackend

    backend = recognizer.backend
    if not isinstance(backend, TorchBackend):
        raise ActionrecError(
            f"{path}: explain needs the PyTorch back end (a .safetensors model file); "
            f"the {getattr(backend, 'name', type(backend).__name__)} back end does not expose attention maps"
        )
    return backend


def nearest_windows(frames: Iterator, windows: Iterator[WindowMaps]) -> Iterator[tuple[object, WindowMaps, int]]:
    """Pair each decoded frame (anything with `start_frame`) with the window and sampled position nearest to it
    (ties: the earlier window), reading windows only as far ahead as needed and keeping only those that can still
    be nearest: frames in frame_step gaps or between windows reuse the nearest map."""
    buffered: deque[WindowMaps] = deque()
    pending = iter(windows)
    exhausted = False
    for frame in frames:
        i = frame.start_frame
        while not exhausted and (not buffered or buffered[-1].start <= i):
            nxt = next(pending, None)
            if nxt is None:
                exhausted = True
            else:
                buffered.append(nxt)
        if not buffered:
            raise ActionrecError("no windows were scored (the video decoded no frames)")
        while len(buffered) > 1:  # a later window already has a frame between this one's last and i
            last = max(buffered[0].sampled)
            if any(last < s <= i for w in list(buffered)[1:] for s in w.sampled):
                buffered.popleft()
            else:
                break
        _, n, k = min((abs(s - i), n, k) for n, w in enumerate(buffered) for k, s in enumerate(w.sampled))
        yield frame, buffered[n], k


# ---- drawing ----


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


# ---- contact sheet ----


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


# ---- the whole video ----


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
    label: str  # the video's label as `actionrec predict` gives it: the mean over predict's windows
    score: float
    label_windows: int  # predict's windows that label and score are the mean of
    size: tuple[int, int]  # (width, height) of the drawn frames


def load_for_explain(model: str | os.PathLike[str] | None = None, *, device: str = "cpu", threads: int | None = None):
    """Open a model file on the PyTorch back end (the only one whose attention maps can be read)."""
    from ..runtime.backends import BackendKind
    from ..runtime.pipeline import default_model_path, load

    path = Path(model) if model is not None else default_model_path()
    if path.suffix.lower() == ".onnx":
        raise ActionrecError(
            f"{path}: explain needs the PyTorch model file (.safetensors); an ONNX graph does not expose its "
            "attention maps"
        )
    recognizer = load(model, backend=BackendKind.torch, device=device, threads=threads)
    if not spatial_blocks(recognizer.backend.model):
        raise ActionrecError(
            f"{path}: this {recognizer.meta.arch} has no spatial attention (built with attention=False): "
            "no maps to show"
        )
    return recognizer


def explain_video(
    recognizer,
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
    backend = _torch_backend(recognizer, video)
    blocks = select_blocks(spatial_blocks(backend.model), block)
    spec = recognizer.meta.preprocessing
    info = probe(video)
    fps = info.fps if info.fps > 0 else 25.0
    windows = window_maps(recognizer, video, blocks, stride=stride, batch_size=batch_size)
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
    # The video's label is predict's: its windows (half a span apart, not the drawn ones) and their mean, so that
    # explain and predict never disagree on a video.
    window_probs, predict_windows = recognizer.window_probs(video, batch_size=batch_size)
    ranking = ranked(video_ranking(window_probs), recognizer.meta.labels, 1)
    label, score = ranking[0].label, ranking[0].score
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
        label_windows=len(predict_windows),
        size=size,
    )


# ---- the heat-map video's encoder ----


@dataclass(frozen=True)
class VideoCodec:
    """How a heat-map video was encoded, and whether web browsers play it."""

    name: str  # "H.264", "MPEG-4 Part 2", "Motion JPEG"
    fourcc: str  # the FourCC it is written with ("h264", "avc1", "mp4v", "MJPG")
    encoder: str  # what wrote it: "PyAV libx264", "OpenCV avc1", "OpenCV mp4v", "OpenCV MJPG"
    browsers: bool  # plays in web browsers (H.264 in MP4 does; MPEG-4 Part 2 and AVI mostly do not)

    def describe(self) -> str:
        """One line for the user: the codec, and what to do where browsers will not play it."""
        if self.browsers:
            return f"{self.name}, {self.encoder}; plays in browsers"
        if self.fourcc == "MJPG":
            return f"{self.name} in AVI, {self.encoder}; browsers do not play it (write .mp4 for them)"
        return (
            f"{self.name} ({self.fourcc}), {self.encoder}: no H.264 encoder here, so browsers may not play it "
            "(install PyAV, `pip install av`, for H.264)"
        )


H264 = VideoCodec("H.264", "h264", "PyAV libx264", browsers=True)
H264_OPENCV = VideoCodec("H.264", "avc1", "OpenCV avc1", browsers=True)
MPEG4 = VideoCodec("MPEG-4 Part 2", "mp4v", "OpenCV mp4v", browsers=False)
MJPG = VideoCodec("Motion JPEG", "MJPG", "OpenCV MJPG", browsers=False)


class _AvWriter:
    """H.264 (libx264, yuv420p, moov atom first) in MP4 through PyAV: what browsers play. Odd frame sides are
    padded by one edge pixel (4:2:0 chroma needs even ones)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        import av

        self._av = av
        self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        try:
            self.stream = self.container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            width, height = size
            self.stream.width, self.stream.height = width + width % 2, height + height % 2
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"crf": "20", "preset": "veryfast"}
        except Exception:
            self.container.close()
            raise
        self.pad = (height % 2, width % 2)
        self.count = 0

    def write(self, image: np.ndarray) -> None:
        if any(self.pad):
            image = cv2.copyMakeBorder(image, 0, self.pad[0], 0, self.pad[1], cv2.BORDER_REPLICATE)
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts = self.count
        self.count += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def release(self) -> None:
        try:
            for packet in self.stream.encode():  # flush the encoder's delayed frames
                self.container.mux(packet)
        finally:
            self.container.close()


@functools.cache
def _pyav_h264() -> bool:
    """PyAV is installed and its FFmpeg has the libx264 encoder."""
    try:
        import av

        av.codec.Codec("libx264", "w")
    except Exception:  # not installed, or an FFmpeg built without libx264
        return False
    return True


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (FFmpeg's and OpenCV's native messages while an encoder is tried)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real descriptor 2
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@functools.cache
def _opencv_h264() -> bool:
    """OpenCV's FFmpeg can write H.264 ("avc1") into MP4, and the file it writes decodes: tried once on 8 frames.
    (The pip wheels of OpenCV cannot: their FFmpeg has no H.264 encoder.)"""
    with tempfile.TemporaryDirectory() as d, _quiet_stderr():
        path = os.path.join(d, "probe.mp4")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"avc1"), 25.0, (64, 64))
        if not writer.isOpened():
            return False
        for i in range(8):
            writer.write(np.full((64, 64, 3), 30 * i, np.uint8))
        writer.release()
        cap = cv2.VideoCapture(path)
        decoded = 0
        while cap.read()[0]:
            decoded += 1
        cap.release()
        return decoded == 8


def _opencv_writer(tmp: Path, out: Path, codec: VideoCodec, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    with _quiet_stderr():
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec.fourcc), fps, size)
    if not writer.isOpened():
        raise ActionrecError(f"{out}: cannot open a {codec.name} ({codec.encoder}) video writer")
    return writer


def open_video_writer(tmp: Path, out: Path, fps: float, size: tuple[int, int]):
    """A writer of BGR frames (`write`, `release`) into `tmp` for `out` and the codec it uses: .mp4 as H.264
    (PyAV's libx264, else OpenCV's avc1 where its build can), else MPEG-4 Part 2 (mp4v); .avi as Motion JPEG."""
    if out.suffix.lower() == ".avi":
        return _opencv_writer(tmp, out, MJPG, fps, size), MJPG
    if _pyav_h264():
        try:
            return _AvWriter(tmp, fps, size), H264
        except Exception:  # libx264 listed but refusing this size or rate: the next encoder
            pass
    if _opencv_h264():
        return _opencv_writer(tmp, out, H264_OPENCV, fps, size), H264_OPENCV
    return _opencv_writer(tmp, out, MPEG4, fps, size), MPEG4
