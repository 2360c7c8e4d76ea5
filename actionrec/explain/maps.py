"""The network's spatial attention maps over a video, window by window: the model opened for it (`Explainer`: the
plain torch network, whose forward hooks see the paper's math), which blocks to show, the maps of each window
(`window_maps`, clips from the pipeline's `clip_batches`) and the window nearest each decoded frame."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ActionrecError
from ..model_meta import ModelMeta
from ..runtime.aggregate import softmax
from ..runtime.pipeline import Recognizer, clip_batches
from .geometry import attention_frames

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class Explainer:
    """A `.safetensors` model file opened for explain: the plain torch network (`io.checkpoint.load_model`: eval
    mode, fp32, none of the back end's speed tricks) whose hooks capture the maps, and the same file on predict's
    back end, which gives the video's label exactly as `actionrec predict` does."""

    path: Path
    model: nn.Module
    meta: ModelMeta
    recognizer: Recognizer

    @property
    def blocks(self) -> list[str]:
        """The network's spatial attention maps, in forward order (`spatial_blocks`)."""
        return spatial_blocks(self.model)

    def scores(self, clips: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C) of a batch of clips (N, 3, T, crop, crop), in one pass of the plain network
        (so that each forward hook sees the whole batch)."""
        import torch

        device = next(self.model.parameters()).device
        with torch.inference_mode():
            logits = self.model(torch.from_numpy(np.ascontiguousarray(clips, dtype=np.float32)).to(device))
        return softmax(logits.float().cpu().numpy())


def load_for_explain(
    model: str | os.PathLike[str] | None = None,
    *,
    device: str = "cpu",
    threads: int | None = None,
    videos: Sequence[str | os.PathLike[str]] | None = None,
) -> Explainer:
    """Open a model file for explain: a file, an installed model's name, or None for the shipped model; it must be
    a PyTorch model file (.safetensors) whose network has spatial attention. The video's label comes from the back
    end `actionrec predict` would open for `videos` (`--backend auto`), so that the two never disagree."""
    from ..choices import BackendKind
    from ..hub import resolve_model
    from ..io.checkpoint import load_model
    from ..runtime.pipeline import default_model_path, load

    path = Path(model) if model is not None else default_model_path()
    if path.suffix.lower() == ".onnx":
        raise ActionrecError(
            f"{path}: explain needs the PyTorch model file (.safetensors); an ONNX graph does not expose its "
            "attention maps"
        )
    backend = BackendKind.auto if videos is not None else BackendKind.torch
    recognizer = load(model, backend=backend, device=device, threads=threads, videos=videos)
    file = resolve_model(model)
    network, meta = load_model(file, device=device)
    if not spatial_blocks(network):
        raise ActionrecError(
            f"{path}: this {meta.arch} has no spatial attention (built with attention=False): no maps to show"
        )
    return Explainer(file, network, meta, recognizer)


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
    start_s: float  # time of its first sampled frame
    sampled_s: tuple[float, ...]  # time of each of the clip_len sampled frames (`io.video.Window.times`)
    maps: dict[str, np.ndarray]  # block -> (T', h, w) float32 in [0, 1]
    probs: np.ndarray  # (num_classes,) softmax
    label: str
    score: float
    low: float  # range of the window's heat over the crop, for the stretched colour scale
    high: float


def window_maps(
    explainer: Explainer,
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

    spec = explainer.meta.preprocessing
    labels = explainer.meta.labels
    crop = spec.crop
    batches = clip_batches(path, spec, stride=stride or spec.span, num_windows=num_windows, batch_size=batch_size)
    for batch, x in batches:  # x: (N, 3, T, crop, crop)
        with capture_spatial_maps(explainer.model) as captured:
            probs = explainer.scores(x)  # (N, C)
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
                start_s=w.start_s,
                sampled_s=w.times,
                maps=maps,
                probs=probs[i],
                label=labels[top],
                score=float(probs[i][top]),
                low=float(heat.min()),
                high=float(heat.max()),
            )


def nearest_windows(frames: Iterator, windows: Iterator[WindowMaps]) -> Iterator[tuple[object, WindowMaps, int]]:
    """Pair each decoded frame (anything with `start_s`) with the window and sampled frame nearest to it in time
    (ties: the earlier window), reading windows only as far ahead as needed and keeping only those that can still
    be nearest: frames in frame_step gaps or between windows reuse the nearest map. Times, not frame numbers: the
    windows sample the model's clock, the frames are the video's own."""
    buffered: deque[WindowMaps] = deque()
    pending = iter(windows)
    exhausted = False
    for frame in frames:
        i = frame.start_s
        while not exhausted and (not buffered or buffered[-1].start_s <= i):
            nxt = next(pending, None)
            if nxt is None:
                exhausted = True
            else:
                buffered.append(nxt)
        if not buffered:
            raise ActionrecError("no windows were scored (the video decoded no frames)")
        while len(buffered) > 1:  # a later window already has a frame between this one's last and i
            last = max(buffered[0].sampled_s)
            if any(last < s <= i for w in list(buffered)[1:] for s in w.sampled_s):
                buffered.popleft()
            else:
                break
        _, n, k = min((abs(s - i), n, k) for n, w in enumerate(buffered) for k, s in enumerate(w.sampled_s))
        yield frame, buffered[n], k
