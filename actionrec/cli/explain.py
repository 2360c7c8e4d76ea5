"""`actionrec explain`: the network's spatial attention over a video, as a heat-map video and/or contact sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..choices import Device
from .common import DeviceOpt, OutAlias, ThreadsOpt, err, output_path, reported

app = typer.Typer()


@app.command(short_help="Draw the network's attention over a video as a heat map.")
def explain(
    video: Annotated[Path, typer.Argument(metavar="VIDEO", help="The video to explain.")],
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="A .safetensors model file or installed name [default: the shipped model]."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Heat-map video to write: .mp4 as H.264 (plays in browsers; MPEG-4 Part 2 where no H.264 encoder is "
            "installed), .avi as Motion JPEG [default: none; give it, --sheet, or both].",
        ),
    ] = None,
    out_alias: OutAlias = None,
    sheet: Annotated[
        Path | None,
        typer.Option(help="Contact sheet PNG: evenly spaced frame | overlay pairs with labels [default: none]."),
    ] = None,
    block: Annotated[
        str,
        typer.Option(
            help="mean (every block, upsampled then averaged), a stage or block (layer3, layer3.1), an index "
            "(0, -1) or a full map name (layer2.0.attention.spatial.gate)."
        ),
    ] = "mean",
    stride: Annotated[
        int | None, typer.Option(min=1, help="Frames between window starts [default: one window span].")
    ] = None,
    alpha: Annotated[float, typer.Option(min=0.0, max=1.0, help="Opacity of the heat map.")] = 0.5,
    stretch: Annotated[
        bool, typer.Option(help="Stretch each window's attention range to the full colour scale (else raw 0..1).")
    ] = True,
    sheet_frames: Annotated[int, typer.Option(min=1, help="Frames on the contact sheet.")] = 8,
    device: DeviceOpt = Device.cpu,
    threads: ThreadsOpt = None,
) -> None:
    """Overlay the network's spatial attention on a video's frames as a heat map (the region the network sees is
    outlined, the rest dimmed; each window's label and score drawn on its frames)."""
    from ..explain import explain_video, load_for_explain
    from ..io.video import probe

    out = output_path(output, out_alias)
    if out is None and sheet is None:
        raise typer.BadParameter("give -o/--output VIDEO, --sheet PNG, or both")
    if out is not None and out.suffix.lower() not in (".mp4", ".avi"):
        raise typer.BadParameter(f"{out}: write .mp4 or .avi", param_hint="--output")
    if sheet is not None and sheet.suffix.lower() != ".png":
        raise typer.BadParameter(f"{sheet}: write a .png", param_hint="--sheet")
    with reported():
        recognizer = load_for_explain(model, device=device, threads=threads, videos=[video])
        progress = Progress(
            TextColumn("explain"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True
        )
        with recognizer.recognizer, progress:  # predict's back end, released at the end
            task = progress.add_task("explain", total=probe(video).frames or None)
            result = explain_video(
                recognizer,
                video,
                out=out,
                sheet=sheet,
                block=block,
                stride=stride,
                alpha=alpha,
                stretch=stretch,
                sheet_frames=sheet_frames,
                progress=lambda done: progress.update(task, completed=done),
            )
    shown = "mean of " + str(len(result.blocks)) if len(result.blocks) > 1 else result.blocks[0]
    typer.echo(
        f"{result.video}: {result.label} {result.score:.3f} (predict's label, over its {result.label_windows} "
        f"windows; {result.windows} windows drawn, attention: {shown})"
    )
    if result.out is not None and result.codec is not None:
        typer.echo(f"wrote {result.out} ({result.codec.describe()})")
    if result.sheet is not None:
        typer.echo(f"wrote {result.sheet}")
