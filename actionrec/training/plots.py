"""The run folder's curves: loss.png and accuracy.png, training and validation per epoch (matplotlib, the [plot]
extra, drawn without a display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io.files import atomic_path

PLOT_MODULES = ("matplotlib",)  # pyproject's [plot] extra: loss.png and accuracy.png


def write_plots(out: Path, history: list[dict[str, Any]]) -> list[Path]:
    """loss.png and accuracy.png: training and validation curves per epoch (matplotlib, no display needed)."""
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    written = []
    panels = {
        "loss.png": ("loss", [("train_loss", "train"), ("val_loss", "validation (clips)")]),
        "accuracy.png": (
            "accuracy",
            [("train_acc", "train"), ("val_clip_acc", "validation clips"), ("val_video_acc", "validation videos")],
        ),
    }
    for name, (ylabel, series) in panels.items():
        fig = Figure(figsize=(6, 4), dpi=100)
        ax = fig.add_subplot()
        for key, label in series:
            points = [(e, h[key]) for e, h in zip(epochs, history, strict=True) if h.get(key) is not None]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        with atomic_path(out / name) as tmp:
            fig.savefig(tmp, format="png")
        written.append(out / name)
    return written
