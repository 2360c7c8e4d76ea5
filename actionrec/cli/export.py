"""`actionrec export`: a model to ONNX (and optionally int8), written only when it matches PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import OutAlias, err, output_path, reported

app = typer.Typer()


@app.command(short_help="Export a model to ONNX, checked against PyTorch.")
def export(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help="The .safetensors model file to export.")],
    onnx: Annotated[
        bool,
        typer.Option("--onnx", show_default=False, help="Export to ONNX (the only format for now) [default: on]."),
    ] = True,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to write; with --int8 the int8 model, the fp32 one beside it (NAME.onnx for NAME.int8.onnx, "
            "else OUT.fp32.onnx) [default: MODEL.onnx, and MODEL.int8.onnx with --int8].",
        ),
    ] = None,
    out_alias: OutAlias = None,
    opset: Annotated[int | None, typer.Option(min=7, help="ONNX opset [default: the exporter's].")] = None,
    check_video: Annotated[
        list[Path] | None,
        typer.Option(
            "--check-video",
            help="Real video(s) for the parity check and int8 calibration [default: a generated moving pattern].",
        ),
    ] = None,
    int8: Annotated[
        bool,
        typer.Option(
            "--int8",
            help="Also write a static int8 model for ONNX Runtime (MODEL.int8.onnx, beside the fp32 one), calibrated "
            "on the video(s) [default: off].",
        ),
    ] = False,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads for ONNX Runtime [default: ONNX Runtime's].")
    ] = None,
) -> None:
    """Export a model to a self-contained .onnx file, written only if ONNX Runtime matches PyTorch on random and
    real clips (max |logit diff| <= 1e-4 x max |logit|)."""
    from ..onnx_export import export_onnx

    out = output_path(output, out_alias)
    with reported():
        with err.status(f"exporting {model} to ONNX and checking it against PyTorch"):
            result = export_onnx(model, out, opset=opset, check_videos=check_video or (), int8=int8, threads=threads)
        typer.echo(f"wrote {result.path} (fp32, opset {result.opset})")
        if result.int8_path is not None:
            typer.echo(f"wrote {result.int8_path} (int8, opset {result.opset})")
        typer.echo(f"check video: {result.check_video}")
        for p in result.parity:
            typer.echo(f"parity ORT fp32 vs torch fp32, {p.line()}")
        if result.int8 is not None:
            q = result.int8
            typer.echo(f"int8 vs ORT fp32, {q.line()}")
            typer.echo(
                f"speed on those clips: ORT fp32 {q.clips / max(result.fp32_seconds, 1e-9):.2f} clips/s, "
                f"ORT int8 {q.clips / max(q.seconds, 1e-9):.2f} clips/s"
            )
            if q.seconds > result.fp32_seconds:
                err.print(
                    f"note: int8 ran slower than fp32 on this CPU (usual for narrow models); prefer {result.path}",
                    soft_wrap=True,
                )
