"""`actionrec synth`: render the synthetic action benchmark, or the shipped sample clips."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from .common import OutAlias, err, output_path, reported

app = typer.Typer()


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not WIDTHxHEIGHT, e.g. 128x128") from None
    if w < 32 or h < 32:
        raise typer.BadParameter("frames must be at least 32x32")
    return w, h


@app.command(short_help="Render the synthetic action benchmark.")
def synth(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder for the benchmark (UCF-101 layout) [required].")
    ] = None,
    out_alias: OutAlias = None,
    clips_per_class: Annotated[int, typer.Option(min=2, help="Clips rendered per class.")] = 40,
    seed: Annotated[int, typer.Option(help="Everything is deterministic from this seed.")] = 0,
    size: Annotated[str, typer.Option(help="Frame size WIDTHxHEIGHT.")] = "128x128",
    frames: Annotated[int, typer.Option(min=8, help="Frames per clip.")] = 48,
    samples: Annotated[
        bool,
        typer.Option(
            "--samples", help="Write the shipped sample clips (short clips + sequence.mp4) instead [default: off]."
        ),
    ] = False,
    plain: Annotated[
        bool,
        typer.Option("--plain", help="Flat background, still camera: the curriculum's first stage [default: off]."),
    ] = False,
    sequences: Annotated[
        int | None,
        typer.Option(
            "--sequences",
            min=1,
            metavar="N",
            help="Write N multi-action sequences with per-frame ground truth instead (seqNN.avi + seqNN.json: 3-6 "
            "actions each, at their natural length: 1.9 s for one-shot actions, 2.6-5.1 s for repeated ones, "
            "walks that stay in view; 1-4 s stretches of no_action before, between and after them), played by "
            "the held-out actors of the benchmark of this --seed "
            "and --clips-per-class [default: off].",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Remove an earlier benchmark's files from the folder first (an interrupted run, other settings); "
            "without it the folder must be empty or hold a complete benchmark of the same settings [default: off].",
        ),
    ] = False,
) -> None:
    """Render the synthetic action benchmark: articulated actors doing its actions (and no_action: empty scenes,
    people standing about), split by actor. The folder must be
    new or empty, or hold a complete benchmark of the very same settings (rendered again, identically); --force
    starts clean."""
    from ..synth import DEFAULT_CONFIG, SynthConfig, write_benchmark, write_samples, write_sequences

    out = output_path(output, out_alias)
    if out is None:
        raise typer.BadParameter("give the benchmark's folder", param_hint="-o/--output")
    width_height = _parse_size(size)
    if samples:
        with reported():
            for path in write_samples(out, size=width_height, frames=frames):
                typer.echo(path)
        return
    config = SynthConfig.plain() if plain else DEFAULT_CONFIG
    if sequences is not None:
        with reported(), Progress(TextColumn("synth"), BarColumn(), MofNCompleteColumn(), console=err) as bar:
            task = bar.add_task("synth", total=sequences)
            videos = write_sequences(
                out,
                sequences,
                seed=seed,
                clips_per_class=clips_per_class,
                size=width_height,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                config=config,
            )
        typer.echo(f"{out}: {len(videos)} sequences (seqNN.avi, ground truth in seqNN.json)")
        return
    bar = Progress(TextColumn("synth"), BarColumn(), MofNCompleteColumn(), console=err, transient=True)
    with reported(), bar:  # transient: a refused folder is its one error line, no bar left above it
        task = bar.add_task("synth", total=None)
        summary = write_benchmark(
            out,
            clips_per_class=clips_per_class,
            seed=seed,
            size=width_height,
            frames=frames,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            config=config,
            force=force,
        )
    typer.echo(
        f"{summary.out}: {len(summary.classes)} classes, {summary.n_train} train / {summary.n_test} test clips "
        "(classInd.txt, trainlist01.txt, testlist01.txt)"
    )
