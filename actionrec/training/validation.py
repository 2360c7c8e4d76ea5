"""Scoring on the validation videos after each epoch: each clip's probabilities, then clip and video accuracy
(a video's score: the mean of its clips' probabilities) over all processes, and whether (and why) an epoch is the
best yet."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..data import ClipDataset
from ..metrics import accuracy_topk
from .loaders import SkipReport
from .processes import Context, gather


@torch.no_grad()
def clip_probabilities(
    model: nn.Module, loader: DataLoader, ctx: Context | None = None, skips: SkipReport | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities of each clip a loader of `ClipDataset(tagged=True)` yields: (indices, probs).
    Clips of videos that did not decode are left out (and named once through `skips`)."""
    ctx = ctx or Context(device=next(model.parameters()).device, bf16=False)
    skips = skips or SkipReport()
    model.eval()
    indices, probs = [], []
    for batch in loader:
        x, index = batch.clip, batch.index
        keep = skips.decoded(loader.dataset, batch)
        if keep is not None:
            x, index = x[keep], index[keep]
            if len(index) == 0:
                continue
        x = x.to(ctx.device, non_blocking=True)  # (B, 3, T, crop, crop)
        x = x.contiguous(memory_format=torch.channels_last_3d)  # the layout training keeps the model in
        with ctx.autocast():
            logits = model(x)  # (B, num_classes)
        probs.append(torch.softmax(logits.float(), 1).cpu().numpy())
        indices.append(index.numpy())
    if not probs:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    return np.concatenate(indices), np.concatenate(probs)


def validate(
    model: nn.Module, loader: DataLoader, clips_per_video: int, ctx: Context, skips: SkipReport | None = None
) -> dict[str, float | None]:
    """Clip accuracy, video accuracy (mean of a video's clip probabilities) and clip loss, over all processes and
    over the videos that decoded."""
    indices, probs = clip_probabilities(model, loader, ctx, skips)
    if ctx.world > 1:
        parts = gather((indices, probs), ctx)
        indices = np.concatenate([p[0] for p in parts])
        probs = np.concatenate([p[1] for p in parts if len(p[1])]) if any(len(p[1]) for p in parts) else probs
    dataset: ClipDataset = loader.dataset
    labels = np.array([it.label for it in dataset.items])
    scored = np.zeros(len(labels) * clips_per_video, bool)
    scored[indices] = True
    whole = scored.reshape(len(labels), clips_per_video).all(1)  # videos with every clip scored
    if not whole.any():
        return {"val_loss": None, "val_clip_acc": None, "val_video_acc": None}
    table = np.zeros((len(scored), probs.shape[1]), np.float32)
    table[indices] = probs
    probs = table.reshape(len(labels), clips_per_video, -1)[whole]  # (videos, clips, C)
    labels = labels[whole]
    clip_probs, clip_labels = probs.reshape(-1, probs.shape[-1]), np.repeat(labels, clips_per_video)
    picked = clip_probs[np.arange(len(clip_probs)), clip_labels]
    return {
        "val_loss": float(-np.log(np.clip(picked, 1e-12, None)).mean()),
        "val_clip_acc": accuracy_topk(clip_probs, clip_labels, 1),
        "val_video_acc": accuracy_topk(probs.mean(1), labels, 1),
    }


def improved(record: dict[str, Any], best: dict[str, Any]) -> str | None:
    """Why the epoch `record` beats `best`, or None if it does not: higher video accuracy, then higher clip accuracy,
    then lower validation loss (accuracy saturates on a small validation set while the loss still falls)."""
    if record["val_video_acc"] is None:
        return "no validation data, the latest epoch"
    if best["val_video_acc"] is None:
        return "the first validated epoch"
    for key, what in (("val_video_acc", "video accuracy"), ("val_clip_acc", "clip accuracy")):
        if record[key] != best[key]:
            return f"higher {what}" if record[key] > best[key] else None
    if best.get("val_loss") is None or record["val_loss"] < best["val_loss"]:
        return "same accuracy, lower validation loss"
    return None
