"""`actionrec evaluate`: a model's accuracy on the held-out (or all) videos of a labelled data set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape

from ..choices import BackendKind, DataLayout, Device, Precision
from ..io.output import FullConsole
from .common import (
    LAYOUT_HELP,
    BackendOpt,
    CompileOpt,
    DeviceOpt,
    ModelOpt,
    NetworkOptions,
    PrecisionOpt,
    StreamsOpt,
    ThreadsOpt,
    err,
    open_recognizer,
    progress_bar,
    reported,
)

app = typer.Typer()


BY_FILE_WARNING = (
    "warning: no --group-regex, so this folder/CSV set is split by file: clips of one person can fall on both "
    "sides, which flatters the score; give --group-regex, or --subset all for a separate test set"
)


@app.command(short_help="Measure a model's accuracy on a labelled data set.")
def evaluate(
    data: Annotated[Path, typer.Option("--data", "-d", help="Labelled data set: a folder, or a .csv list.")],
    model: ModelOpt = None,
    split: Annotated[
        int | None, typer.Option(min=1, help="Official split of UCF-101 / HMDB-51 (1-3) [default: the model's, 1].")
    ] = None,
    layout: Annotated[
        DataLayout | None, typer.Option(help=f"Data set layout [default: the model's run's, auto]. {LAYOUT_HELP}.")
    ] = None,
    csv_list: Annotated[
        Path | None,
        typer.Option("--csv", help="CSV list (path,label[,group]) of the videos [default: the model's run's, none]."),
    ] = None,
    val_fraction: Annotated[
        float | None,
        typer.Option(min=0.0, max=0.95, help="Held-out share of a folder/CSV set [default: the model's run, 0.2]."),
    ] = None,
    group_regex: Annotated[
        str | None,
        typer.Option(help="Regex on file names giving the group (person) that stays on one side [default: the run's]."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the folder/CSV split [default: the model's run, 0].")
    ] = None,
    subset: Annotated[
        Literal["val", "all"] | None,
        typer.Option(
            help="val: the held-out side; all: every video [default: val on the model's own training data and on "
            "UCF-101/HMDB-51 test lists, or with --val-fraction; all on any other folder or CSV set]."
        ),
    ] = None,
    label_map: Annotated[
        Path | None,
        typer.Option(
            "--label-map",
            metavar="MAP",
            help="CSV (data class,model class[,model class...]) or JSON ({data class: [model classes]}) giving, for "
            "each data-set class, the model classes that count as right; classes it leaves out are not scored, and "
            "counted [default: none, classes matched by name].",
        ),
    ] = None,
    clips_per_video: Annotated[
        int, typer.Option("--clips-per-video", "-K", min=1, help="Uniformly spaced windows scored per video.")
    ] = 10,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="JSON report; <stem>.confusion.csv and .png are written beside it [default: none, the tables only].",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Windows per network call.")] = 8,
    backend: BackendOpt = BackendKind.auto,
    device: DeviceOpt = Device.cpu,
    precision: PrecisionOpt = Precision.auto,
    threads: ThreadsOpt = None,
    streams: StreamsOpt = None,
    compile: CompileOpt = False,
) -> None:
    """Measure a model's accuracy on the held-out videos of a labelled data set: clip and video top-1/top-5, mean
    class accuracy, per-class table; unreadable videos are reported and skipped (exit code stays 0)."""
    from ..data import open_dataset
    from ..errors import DataError
    from ..scoring import check_outputs, per_class_table, per_group_table, summary_lines, write_outputs
    from ..scoring import evaluate as run_evaluation

    with reported():
        from ..hub import resolve_model
        from ..io.checkpoint import read_meta
        from ..scoring import choose_split, default_subset, read_label_map, whole_summary

        if output is not None:
            check_outputs(output)  # a report that could never be written fails before any video is scored
        model = resolve_model(model)
        choice = choose_split(
            data,
            read_meta(model),
            layout=layout.value if layout is not None else None,
            split=split,
            val_fraction=val_fraction,
            group_regex=group_regex,
            seed=seed,
            csv=csv_list,
        )
        dataset = open_dataset(
            data,
            layout=DataLayout(choice.layout),
            split=choice.split,
            val_fraction=choice.val_fraction,
            group_regex=choice.group_regex,
            seed=choice.seed,
            csv_path=choice.csv,
        )
        if subset is None:
            subset = default_subset(data, choice, split_asked=val_fraction is not None)
        if subset == "val":
            if choice.note:
                err.print(choice.note, highlight=False, soft_wrap=True)
            elif dataset.by_file:
                err.print(BY_FILE_WARNING, highlight=False, soft_wrap=True)
            err.print(dataset.summary(), highlight=False, soft_wrap=True)
            items = dataset.val
        else:
            items = dataset.train + dataset.val
            err.print(whole_summary(data, dataset), highlight=False, soft_wrap=True)
        if not items:
            raise DataError(f"{data}: no {'held-out ' if subset == 'val' else ''}videos to evaluate")
        network = NetworkOptions.of(locals())
        recognizer = open_recognizer(model, network)
        mapping = read_label_map(label_map, recognizer.meta.labels) if label_map is not None else None
        progress = progress_bar(len(items))

        def on_video(_item, error: str | None) -> None:
            if error:
                progress.console.print(f"[yellow]skipped:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
            progress.advance(task)

        with recognizer, progress:
            task = progress.add_task("evaluate", total=len(items))
            report = run_evaluation(
                recognizer,
                items,
                dataset.labels,
                clips_per_video=clips_per_video,
                batch_size=batch_size,
                progress=on_video,
                by_group=not dataset.by_file,
                label_map=mapping,
            )
        for line in summary_lines(report):
            typer.echo(line)
        out = FullConsole(soft_wrap=True)  # whole tables on a pipe or a file, never cut at 80 columns
        out.print(per_class_table(report))
        if report.per_group:
            out.print(per_group_table(report))
        if output is not None:
            context = {
                "model": str(model),
                "split": choice.note if subset == "val" else "",
                "data": str(data),
                "data_source": dataset.source,
                "subset": subset,
                "data_skipped": list(dataset.skipped),
                "label_map": None if label_map is None else str(label_map),
            }
            written = write_outputs(output, report, context)
            err.print("wrote " + ", ".join(map(str, written)), highlight=False, soft_wrap=True)
