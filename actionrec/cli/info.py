"""`actionrec info`: describe a model file or installed model (text, or all metadata as JSON)."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import reported

if TYPE_CHECKING:
    from ..model_meta import ModelMeta

app = typer.Typer()


class InfoFormat(str, enum.Enum):
    text = "text"
    json = "json"


@app.command(short_help="Describe a model: network, input, training data, accuracy, labels.")
def info(
    model: Annotated[
        Path | None,
        typer.Argument(
            metavar="MODEL",
            help="A model file or an installed name [default: the shipped model].",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        InfoFormat,
        typer.Option(
            "--format",
            "-f",
            help="text: a short description (fast); json: all metadata, with parameter count and GFLOPs per clip "
            "(slower).",
        ),
    ] = InfoFormat.text,
) -> None:
    """What a model is: what it was trained on and for, its labels, input and size."""
    from ..hub import UnknownModelError, resolve_model
    from ..io.checkpoint import read_meta

    with reported():
        try:
            path = resolve_model(model)
        except UnknownModelError as e:
            raise typer.BadParameter(str(e), param_hint="MODEL") from None
        meta = read_meta(path)
        if fmt == InfoFormat.json:
            from ..networks import build, count_parameters, gflops_per_clip

            net = build(meta.arch, num_classes=meta.num_classes, **meta.arch_args)
            summary = json.loads(meta.to_json())
            summary["file"] = str(path)
            summary["parameters"] = count_parameters(net)
            summary["gflops_per_clip"] = round(gflops_per_clip(net, meta.preprocessing.input_shape), 3)
            typer.echo(json.dumps(summary, indent=2, allow_nan=False))
            return
        for name, value in describe(path, meta):
            typer.echo(f"{name:<13} {value}")


def describe(path: Path, meta: ModelMeta) -> list[tuple[str, str]]:
    """`actionrec info`'s lines, (name, value): what the model is, its input, training data, accuracy, size and
    labels; torch-free and without loading weights."""
    from ..io.checkpoint import parameter_count

    spec = meta.preprocessing
    training = meta.training or {}
    step = f", every {spec.frame_step}th frame" if spec.frame_step > 1 else " in a row"
    resize = spec.resize_to
    size = f"resized to {resize[0]}x{resize[1]}" if resize else f"short side {spec.resize}"
    lines = [("file", str(path))]
    if meta.description:
        lines.append(("what it is", meta.description))
    args = ", ".join(f"{k} {v}" for k, v in sorted(meta.arch_args.items()))
    params = parameter_count(path)
    lines.append(
        ("network", f"{meta.arch}" + (f" ({args})" if args else "") + (f", {params:,} parameters" if params else ""))
    )
    clock = f" at {spec.fps:g} fps ({spec.span_s:.2f} s)"
    lines.append(("input", f"{spec.clip_len} frames{step}{clock}, {size}, centre crop {spec.crop}"))
    if training.get("data"):
        lines.append(("trained on", str(training["data"])))
    acc = training.get("val_video_acc", training.get("best_val_video_acc"))  # these weights' own epoch
    if isinstance(acc, int | float):
        lines.append(("accuracy", f"held-out video top-1 {100 * acc:.1f} % ({training.get('val_videos', '?')} videos)"))
    elif training.get("reported_accuracy"):
        lines.append(("accuracy", str(training["reported_accuracy"])))
    lines.append((f"labels ({meta.num_classes})", ", ".join(meta.labels)))
    return lines
