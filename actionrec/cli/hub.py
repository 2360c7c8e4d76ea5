"""`actionrec pull` and `actionrec models`: install pretrained models and list what is installable and installed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from .common import err, reported

app = typer.Typer()


@app.command(short_help="Download, check and install a pretrained model.")
def pull(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The model to install; `actionrec models` lists them.")],
    weights_file: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Install from this weights file (downloaded elsewhere) instead of fetching it; its SHA-256 is "
            "checked. Offline, add --labels too: without it the label list is still downloaded [default: download].",
        ),
    ] = None,
    labels_file: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="Use this label list file instead of fetching it (checked the same way) [default: download].",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Pull and install again when already installed [default: off].")
    ] = False,
) -> None:
    """Download a pretrained model, check it (SHA-256 of the weights, the label list), convert it into a model file
    and install it under its name, for `predict --model NAME`. Offline: --from WEIGHTS --labels LABELS."""
    from rich.progress import DownloadColumn, TransferSpeedColumn

    from ..hub import pull as run_pull

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # a bar for people; piped, stderr keeps only the messages
    )

    def on_bytes(done: int, total: int | None) -> None:
        finished = total is not None and done >= total
        bar.update(task, completed=done, total=total, description=f"{'converting' if finished else 'pull'} {name}")

    with reported(), bar:
        task = bar.add_task(f"pull {name}", total=None)
        result = run_pull(name, weights_file=weights_file, labels_file=labels_file, force=force, progress=on_bytes)
    if not result.installed:
        err.print(f"{name}: already installed (--force pulls it again)", highlight=False, soft_wrap=True)
        typer.echo(f"{result.name}: {result.path}")
        return
    typer.echo(f"installed {result.name}: {result.path}")
    typer.echo(f"weights: {result.weights_source} (sha256 {result.sha256})")
    typer.echo(f"labels: {result.labels}, from {result.labels_source}")
    if result.report is not None:
        for line in result.report.summary().splitlines():  # the names of the new tensors: counted, not listed
            typer.echo(line if not line.startswith("new: ") else f"new: {len(result.report.new)} attention tensors")


@app.command(short_help="List the models: installable, installed, the shipped one.")
def models() -> None:
    """List the models: each one `actionrec pull` installs (installed or not), any other model in the store, and
    the shipped default. Use a name with `predict --model NAME`."""
    from ..hub import list_models, model_store

    with reported():
        rows = list_models()
    table = [("NAME", "STATUS", "FILE", "DESCRIPTION")]
    table += [(r.name, r.status, str(r.path) if r.status != "not installed" else "-", r.description) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:  # plain text: never truncated or wrapped when piped
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    err.print(f"store: {model_store()} (set ACTIONREC_HOME to move it)", highlight=False, soft_wrap=True)
