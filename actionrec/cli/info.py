"""`actionrec info`: describe a model file or installed model (text, or all metadata as JSON)."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from .common import reported

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
        from ..io.checkpoint import describe

        for name, value in describe(path, meta):
            typer.echo(f"{name:<13} {value}")
