"""`actionrec predict`: label videos, write the results as they finish, and keep them when interrupted (--resume)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..choices import BackendKind, Device, OutputFormat, Precision
from ..io.output import shown
from ..runtime.segment_config import DEFAULT_SEGMENT_CONFIG, SegmentConfig
from .common import (
    BackendOpt,
    CompileOpt,
    DeviceOpt,
    MinSegmentOpt,
    ModelOpt,
    NetworkOptions,
    PrecisionOpt,
    StreamsOpt,
    StrideOpt,
    SwitchPenaltyOpt,
    Terminated,
    ThreadsOpt,
    check_labels,
    check_output_file,
    err,
    open_recognizer,
    progress_bar,
    reported,
    sigterm_as_interrupt,
    usage_error,
)

app = typer.Typer()


def _shard_option(value: str | None):
    """--shard I/N as a `Shard`; anything else a one-line usage error."""
    if value is None:
        return None
    from ..io.inputs import Shard

    try:
        return Shard.parse(value)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def _list_videos(paths: list[str] | None, files_from: str | None, shard) -> list:
    """The run's videos: PATHs and --files-from's list (`io.inputs.list_inputs`), then --shard's part of them; one
    stderr line for what the folder scan left out."""
    from ..io.inputs import list_inputs

    if not paths and files_from is None:
        raise usage_error("give the videos to label: files or folders (PATH), or --files-from FILE")
    scan = list_inputs(paths or [], files_from=files_from)
    _report_scan(scan)
    if not scan.videos:
        where = "in the given folders" if files_from is None else "in the given folders nor in --files-from's list"
        raise typer.BadParameter(f"no video files found {where}", param_hint="PATH")
    return scan.videos if shard is None else shard.select(scan.videos)


@app.command(short_help="Label videos: top labels per window and per video.")
def predict(
    ctx: typer.Context,
    paths: Annotated[
        list[str] | None,  # text, not Path: a URL keeps its "//"
        # readable=False: an unreadable file is that file's error (one line, the rest go on), not a usage error
        typer.Argument(
            metavar="PATH",
            readable=False,
            show_default=False,
            help="Video files, folders (searched recursively) or URLs [default: none, the videos --files-from lists].",
        ),
    ] = None,
    model: ModelOpt = None,
    top_k: Annotated[
        int,
        typer.Option(
            "--top-k",
            "-k",
            min=1,
            show_default=False,
            help="Labels per window and per video, at most the model's label count [default: 5, or every label of "
            "a model with fewer].",
        ),
    ] = 5,
    stride: StrideOpt = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Windows per network call.")] = 8,
    switch_penalty: SwitchPenaltyOpt = DEFAULT_SEGMENT_CONFIG.switch_penalty,
    min_segment: MinSegmentOpt = DEFAULT_SEGMENT_CONFIG.min_duration_s,
    fmt: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            "-f",
            show_default=False,
            help="How results are written [default: table; with -o, by its suffix: .json, .jsonl, .csv, else table].",
        ),
    ] = OutputFormat.table,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write results to this file (its folder made, held by this run alone): jsonl line by line as each "
            "video finishes, the other formats whole or not at all [default: stdout].",
        ),
    ] = None,
    render: Annotated[
        Path | None,
        typer.Option(
            "--render",
            metavar="VIDEO",
            help="Also write the video annotated: the current segment's label and score above each frame, a "
            "timeline of the segments below; .mp4 (H.264 where an encoder is at hand) or .avi; one input video "
            "[default: none].",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Go on with an interrupted run: skip the videos already in -o FILE (JSON Lines) and append the "
            "rest [default: off, -o is overwritten].",
        ),
    ] = False,
    files_from: Annotated[
        str | None,
        typer.Option(
            "--files-from",
            metavar="FILE",
            help="Also label the videos FILE lists, one path or URL a line (blank lines and # comments skipped; - "
            "reads standard input) [default: none].",
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            metavar="I/N",
            callback=_shard_option,
            help="Label shard I of N (0 to N-1) only: the videos whose path hashes to it, the same on every run and "
            "machine; runs of 0/N to N-1/N label every video once [default: every video].",
        ),
    ] = None,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Run on Ray Data: a pool of actors, each with its own model and --threads threads (1 unless given), "
            "writing JSON Lines files into the folder -o (pip install 'actionrec[ray]') [default: off, this process].",
        ),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            metavar="ADDRESS",
            help="With --ray: the cluster to run on (auto, HOST:PORT, ray://HOST:PORT) [default: $RAY_ADDRESS, else "
            "a new local Ray instance].",
        ),
    ] = None,
    actors: Annotated[
        int | None,
        typer.Option(min=1, help="With --ray: actors in the pool [default: the cluster's CPUs / --threads]."),
    ] = None,
    device: DeviceOpt = Device.cpu,
    backend: BackendOpt = BackendKind.auto,
    precision: PrecisionOpt = Precision.auto,
    threads: ThreadsOpt = None,
    streams: StreamsOpt = None,
    compile: CompileOpt = False,
) -> None:
    """Label videos: each window's top labels with timestamps in seconds, the video's segments (what happens when)
    and its label and ranking.

    Interrupted (Ctrl-C, SIGTERM), a run keeps the JSON Lines results of the videos that finished (exit code 130 or
    143); `--resume` with the same -o finishes it."""
    from ..io.output import claim, read_jsonl_done, result_writer

    if render is not None:
        _check_render(render, output, resume=resume, ray=ray)
    if ray:
        return _predict_on_ray(
            ctx,
            paths,
            files_from,
            shard,
            model=model,
            output=output,
            fmt=fmt,
            resume=resume,
            address=ray_address,
            actors=actors,
            top_k=top_k,
            stride=stride,
            batch_size=batch_size,
            device=device,
            backend=backend,
            precision=precision,
            threads=threads,
            streams=streams,
            compile=compile,
            segments=SegmentConfig(switch_penalty=switch_penalty, min_duration_s=min_segment),
        )
    if ray_address is not None or actors is not None:
        raise usage_error("--ray-address and --actors go with --ray")
    fmt_given = ctx.get_parameter_source("fmt").name != "DEFAULT"
    if resume:
        if output is None:
            raise usage_error("--resume needs -o FILE: the JSON Lines file of the run to go on with")
        if not fmt_given:
            fmt = OutputFormat.jsonl
        elif fmt != OutputFormat.jsonl:
            raise usage_error(f"--resume goes on with a JSON Lines file: give --format jsonl, not {fmt.value}")
    elif output is not None and not fmt_given:
        fmt = OutputFormat.for_file(output)
    if output is not None:
        check_output_file(output)
    written, total = 0, 0
    try:
        with reported(), sigterm_as_interrupt(), contextlib.ExitStack() as held:
            # this run alone writes -o and --render, from before any work to the end (a second run: one line)
            if output is not None:
                held.enter_context(claim(output, "results file"))
            if render is not None:
                held.enter_context(claim(render, "annotated video"))
            videos = _list_videos(paths, files_from, shard)
            if render is not None and len(videos) != 1:
                raise usage_error(f"--render writes one annotated video: give one input video, not {len(videos)}")
            total, failed = len(videos), 0
            if resume:
                done = read_jsonl_done(output)
                if done.dropped:
                    err.print(
                        f"{output}: dropped a half-written last line ({done.dropped} bytes) of the interrupted run",
                        highlight=False,
                        soft_wrap=True,
                    )
                videos = [v for v in videos if str(v) not in done.videos]
                written, failed = total - len(videos), done.failed
                err.print(
                    f"resuming {output}: {written} of {total} videos already there, {len(videos)} to go",
                    highlight=False,
                    soft_wrap=True,
                )
            recognizer = held.enter_context(
                open_recognizer(
                    model,
                    NetworkOptions.of(locals()),
                    videos=videos,
                    stride=stride,
                )
            )
            check_labels(ctx, top_k, recognizer.meta)
            progress = progress_bar(len(videos))
            with result_writer(fmt, output, append=resume) as write, progress:
                task = progress.add_task("predict", total=len(videos))
                segments = SegmentConfig(switch_penalty=switch_penalty, min_duration_s=min_segment)
                results = recognizer.predict_many(
                    videos, stride=stride, batch_size=batch_size, top_k=top_k, segment_config=segments
                )
                for result in results:
                    if not result.ok:
                        failed += 1
                        progress.console.print(
                            f"[red]error:[/] {escape(shown(str(result.error)))}", highlight=False, soft_wrap=True
                        )
                    write(result)
                    written += 1
                    progress.advance(task)
            if render is not None and result.ok:
                _render(result, render, recognizer.meta.labels)
    except KeyboardInterrupt as e:
        raise _interrupted(e, fmt, output, written, total) from None
    if failed:
        err.print(f"{failed} of {total} videos failed", highlight=False)
        raise typer.Exit(1)


def _check_render(render: Path, output: Path | None, *, resume: bool, ray: bool) -> None:
    """--render's usage errors, before any work: a folder, below a file, a suffix it cannot write, the -o file, with
    --resume or --ray."""
    from ..io.video_writer import VIDEO_SUFFIXES

    if resume or ray:
        raise usage_error(
            f"--render labels its video in this process and run: not with {'--resume' if resume else '--ray'}"
        )
    check_output_file(render, "--render", "the annotated video")
    if render.suffix.lower() not in VIDEO_SUFFIXES:
        raise usage_error(f"--render {render}: give a {' or '.join(VIDEO_SUFFIXES)} file")
    if output is not None and render.absolute() == output.absolute():
        raise usage_error(f"--render {render}: the same file as --output; give each its own")


def _render(result, render: Path, labels) -> None:
    """Write the annotated video of `result` (one line on stderr saying where, and whether browsers play it)."""
    from ..io.annotated_video import render_video

    done = render_video(result.video, result.segments, render, labels=labels, duration_s=result.duration_s)
    err.print(escape(f"wrote {render} ({done.codec.describe()})"), highlight=False, soft_wrap=True)


def _report_scan(scan) -> None:
    """One stderr line for what the folder scan left out (how many, a few names), and one per folder without videos."""
    if scan.skipped:
        n, shown = len(scan.skipped), ", ".join(str(p) for p in scan.skipped[:3])
        more = f" and {n - 3} more" if n > 3 else ""
        err.print(
            f"skipped {n} file{'s' if n > 1 else ''} in the folders, not videos by name: {shown}{more} "
            "(name a file to try it anyway)",
            highlight=False,
            soft_wrap=True,
        )
    for folder in scan.empty_folders:
        err.print(f"warning: {folder}: no video files in this folder", highlight=False, soft_wrap=True)


def _interrupted(e: KeyboardInterrupt, fmt: OutputFormat, output: Path | None, written: int, total: int) -> typer.Exit:
    """One stderr line saying what an interrupted predict kept and where; exit code 130 (SIGINT) or 143 (SIGTERM)."""
    what = "terminated" if isinstance(e, Terminated) else "interrupted"
    if output is None and fmt == OutputFormat.json:
        message = f"{what}: nothing printed (json is printed whole at the end; --format jsonl prints each video's line)"
    elif output is not None and fmt != OutputFormat.jsonl:
        message = (
            f"{what}: {output} not written ({fmt.value} is written whole at the end; --format jsonl -o FILE keeps "
            "results as videos finish)"
        )
    elif not total:
        message = what
    elif output is None:
        message = f"{what}: the results of {written} of {total} videos are on stdout"
    else:
        with contextlib.suppress(OSError):  # what the file holds: a signal may land between a write and the count
            written = output.read_bytes().count(b"\n")
        message = (
            f"{what}: {written} of {total} videos' results kept in {output}; `--resume` with the same -o finishes "
            "the run"
        )
    err.print(message, highlight=False, soft_wrap=True)
    return typer.Exit(143 if isinstance(e, Terminated) else 130)


def _predict_on_ray(
    ctx: typer.Context,
    paths: list[str] | None,
    files_from: str | None,
    shard,
    *,
    model: Path | None,
    output: Path | None,
    fmt: OutputFormat,
    resume: bool,
    address: str | None,
    actors: int | None,
    top_k: int,
    stride: int | None,
    batch_size: int,
    device: Device,
    backend: BackendKind,
    precision: Precision,
    threads: int | None,
    streams: int | None,
    compile: bool,
    segments: SegmentConfig,
) -> None:
    """predict --ray: the same videos and options, labelled by `ray_predict.predict_dataset` into JSON Lines files
    in the folder -o; one line saying where, and exit code 1 when a video failed."""
    from ..errors import require_extra
    from ..ray_predict import RAY_MODULES, predict_dataset

    if output is None:
        raise usage_error("--ray writes its result files into a folder: give -o FOLDER")
    if resume:
        raise usage_error("--resume goes on with one JSON Lines file; --ray writes a folder of them")
    if fmt != OutputFormat.jsonl and ctx.get_parameter_source("fmt").name != "DEFAULT":
        raise usage_error(f"--ray writes JSON Lines files: give --format jsonl, not {fmt.value}")
    with reported():
        require_extra("predict --ray", "ray", RAY_MODULES)
        videos = _list_videos(paths, files_from, shard)
        # the driver opens the model as predict would: the same checks of the options, the model's labels
        network = NetworkOptions.of(locals())
        with open_recognizer(model, network) as opened:
            meta = opened.meta  # released before the workers open their own
        check_labels(ctx, top_k, meta)
        try:
            run = predict_dataset(
                videos,
                model,
                output=output,
                address=address,
                actors=actors,
                threads_per_actor=threads or 1,
                top_k=top_k,
                stride=stride,
                batch_size=batch_size,
                backend=backend,
                device=device,
                precision=precision,
                streams=streams,
                compile=compile,
                segment_config=segments,
                progress=err.is_terminal,
            )
        except KeyboardInterrupt:
            err.print(f"interrupted: the files in {output} hold part of the results", highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None
    err.print(
        f"{run.videos} videos labelled into {run.files} JSON Lines file{'s' if run.files != 1 else ''} in {output}",
        highlight=False,
        soft_wrap=True,
    )
    if run.failed:
        err.print(f"{run.failed} of {run.videos} videos failed", highlight=False)
        raise typer.Exit(1)
