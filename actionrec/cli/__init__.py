"""The command line: parses, calls the library, prints. Results go to stdout, progress and messages to stderr.

This is the only place where an ActionrecError becomes a one-line message and an exit code
(0 all good, 1 some input failed, 2 usage error). One spelling per option across commands: -o/--output is what a
command writes, -f/--format how results are written, --layout how a data set is laid out.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..config import Architecture, DataFormat, Optimizer, Schedule, TrainDevice
from ..errors import ActionrecError
from ..io.output import FullConsole, OutputFormat
from ..runtime.backends import BackendKind, Device, Precision

# Help is plain text (no rich markup): "[default: ...]" in a help string stays as written, and piped help reads
# like any other command's.
app = typer.Typer(
    name="actionrec",
    help="Video action recognition with a 3D residual attention network.\n\nA command's options: actionrec COMMAND "
    "--help. Results go to stdout, progress and messages to stderr; exit codes: 0 all good, 1 some input failed, "
    "2 usage error.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
err = FullConsole(stderr=True)  # progress, logs, messages; whole lines when stderr is not a terminal

ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model", "-m", help="Model file (.safetensors or .onnx) or installed name [default: the shipped model]."
    ),
]
CompileOpt = Annotated[
    bool,
    typer.Option(
        "--compile", help="torch.compile the network: seconds up front, faster on long inputs [default: off]."
    ),
]
StreamsOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Parts of each batch run at once, each on its share of the threads (torch on the CPU, eager), at most "
        "--threads and --batch-size [default: 2 where there are 2 or more threads, else 1].",
    ),
]
ThreadsOpt = Annotated[
    int | None, typer.Option(min=1, help="CPU threads for the network [default: torch's, one per core].")
]
OutAlias = Annotated[Path | None, typer.Option("--out", hidden=True, help="The former spelling of --output.")]


def _output(output: Path | None, out_alias: Path | None) -> Path | None:
    """-o/--output, or --out (its former spelling, still accepted, not shown in --help)."""
    if output is not None and out_alias is not None and output != out_alias:
        raise typer.BadParameter("given twice, as --output and --out; give it once", param_hint="--output")
    return output if output is not None else out_alias


def _usage_error(message: str) -> typer.Exit:
    """A usage error found after parsing (it needed the model, say): one line on stderr, exit code 2."""
    err.print(f"[red]error:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


class InfoFormat(str, enum.Enum):
    text = "text"
    json = "json"


def _recognizer(
    model: Path | None,
    backend: BackendKind,
    device: Device,
    precision: Precision,
    threads: int | None,
    streams: int | None,
    compile: bool,
    batch_size: int,
):
    """Open the model with predict's and evaluate's shared network options, refusing those its back end can't take
    and a --streams that could never all run (more than the threads or the batch)."""
    from ..runtime.pipeline import load

    if compile and backend == BackendKind.onnxruntime:
        raise typer.BadParameter("--compile applies to the torch back end only", param_hint="--compile")
    if streams not in (None, 1) and (compile or backend == BackendKind.onnxruntime):
        raise typer.BadParameter(
            "--streams applies to eager torch (not --compile, not onnxruntime)", param_hint="--streams"
        )
    if streams is not None and streams > 1:
        if streams > batch_size:
            raise _usage_error(
                f"--streams {streams}: a batch of {batch_size} (--batch-size) splits into at most {batch_size} parts"
            )
        if threads is None:
            import torch

            available, given = torch.get_num_threads(), f"torch has {torch.get_num_threads()}"
        else:
            available, given = threads, f"--threads {threads}"
        if streams > available:
            raise _usage_error(f"--streams {streams}: each stream needs a thread and {given}; give at most {available}")
    return load(
        model, backend=backend, device=device, precision=precision, threads=threads, compile=compile, streams=streams
    )


def _progress(total: int) -> Progress:
    """A bar on stderr for runs over several videos; hidden for one."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=total < 2,
    )


SYNTHETIC_NOTE = (
    "note: this model knows {n} synthetic actions (rendered figures), not real people; on real video its labels "
    "mean little. Real labels: `actionrec pull kinetics400-r3d18`; your own actions: `actionrec train DATA "
    "--output RUN --init default`."
)


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """Turn an ActionrecError into one line on stderr and exit code 1."""
    try:
        yield
    except ActionrecError as e:
        err.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _check_output_file(output: Path) -> None:
    """A results file that could never be written (a folder, or below a file) is a one-line usage error, before any
    work is done."""
    if output.is_dir():
        raise _usage_error(f"--output {output}: is a folder; give a file to write the results to")
    for parent in output.parents:
        if parent.exists():
            if not parent.is_dir():
                raise _usage_error(f"--output {output}: {parent} is a file, not a folder")
            break


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


@app.command(short_help="Label videos: top labels per window and per video.")
def predict(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        # readable=False: an unreadable file is that file's error (one line, the rest go on), not a usage error
        typer.Argument(metavar="PATH", readable=False, help="Video files or folders (searched recursively)."),
    ],
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
    stride: Annotated[
        int | None,
        typer.Option(min=1, help="Frames between window starts [default: half a window, clip_len / 2 x frame_step]."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Windows per network call.")] = 8,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="How results are written.")] = OutputFormat.table,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write results to this file: jsonl line by line as each video finishes, the other formats whole "
            "or not at all [default: stdout].",
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
    device: Annotated[Device, typer.Option(help="Where the network runs.")] = Device.cpu,
    backend: Annotated[BackendKind, typer.Option(help="auto: the one the model file is for.")] = BackendKind.auto,
    precision: Annotated[
        Precision, typer.Option(help="auto: bf16 where the hardware has it natively, else fp32.")
    ] = Precision.auto,
    threads: ThreadsOpt = None,
    streams: StreamsOpt = None,
    compile: CompileOpt = False,
) -> None:
    """Label videos: each window's top labels with timestamps in seconds, and each video's ranking.

    Interrupted (Ctrl-C, SIGTERM), a run keeps the JSON Lines results of the videos that finished (exit code 130 or
    143); `--resume` with the same -o finishes it."""
    from ..io.output import read_jsonl_done, result_writer
    from ..io.video import scan_videos

    if resume:
        if output is None:
            raise _usage_error("--resume needs -o FILE: the JSON Lines file of the run to go on with")
        if ctx.get_parameter_source("fmt").name == "DEFAULT":
            fmt = OutputFormat.jsonl
        elif fmt != OutputFormat.jsonl:
            raise _usage_error(f"--resume goes on with a JSON Lines file: give --format jsonl, not {fmt.value}")
    if output is not None:
        _check_output_file(output)
    written, total = 0, 0
    try:
        with reported(), _sigterm_as_interrupt():
            scan = scan_videos(paths)
            _report_scan(scan)
            videos = scan.videos
            if not videos:
                raise typer.BadParameter("no video files found in the given folders", param_hint="PATH")
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
            recognizer = _recognizer(model, backend, device, precision, threads, streams, compile, batch_size)
            labels = recognizer.meta.num_classes
            if top_k > labels and ctx.get_parameter_source("top_k").name == "COMMANDLINE":
                raise _usage_error(f"--top-k {top_k}: this model has {labels} labels; give at most --top-k {labels}")
            if recognizer.meta.synthetic:
                err.print(SYNTHETIC_NOTE.format(n=recognizer.meta.num_classes), highlight=False, soft_wrap=True)
            progress = _progress(len(videos))
            with result_writer(fmt, output, append=resume) as write, progress:
                task = progress.add_task("predict", total=len(videos))
                results = recognizer.predict_many(videos, stride=stride, batch_size=batch_size, top_k=top_k)
                for result in results:
                    if not result.ok:
                        failed += 1
                        progress.console.print(
                            f"[red]error:[/] {escape(str(result.error))}", highlight=False, soft_wrap=True
                        )
                    write(result)
                    written += 1
                    progress.advance(task)
    except KeyboardInterrupt as e:
        raise _interrupted(e, fmt, output, written, total) from None
    if failed:
        err.print(f"{failed} of {total} videos failed", highlight=False)
        raise typer.Exit(1)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so that the same clean-up runs."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises `Terminated` (temporary files are removed, finished results kept)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(e: KeyboardInterrupt, fmt: OutputFormat, output: Path | None, written: int, total: int) -> typer.Exit:
    """One stderr line saying what an interrupted predict kept and where; exit code 130 (SIGINT) or 143 (SIGTERM)."""
    what = "terminated" if isinstance(e, Terminated) else "interrupted"
    if not total:
        message = what
    elif output is None:
        message = f"{what}: the results of {written} of {total} videos are on stdout"
    elif fmt == OutputFormat.jsonl:
        with contextlib.suppress(OSError):  # what the file holds: a signal may land between a write and the count
            written = output.read_bytes().count(b"\n")
        message = (
            f"{what}: {written} of {total} videos' results kept in {output}; `--resume` with the same -o finishes "
            "the run"
        )
    else:
        message = (
            f"{what}: {output} not written ({fmt.value} is written whole at the end; --format jsonl -o FILE keeps "
            "results as videos finish)"
        )
    err.print(message, highlight=False, soft_wrap=True)
    return typer.Exit(143 if isinstance(e, Terminated) else 130)


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
    from ..hub import resolve_model
    from ..io.checkpoint import read_meta

    with reported():
        path = resolve_model(model)
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


# ---- train, evaluate (train.py, evaluate.py) ----

DataLayout = DataFormat  # the data set layout choices (config.py, torch-free)
TrainArch = Architecture
RESUME_OPTIONS = {"resume", "epochs", "workers", "threads", "device"}  # what --resume may be given with
LAYOUT_HELP = "auto: detected from the files; folder: a folder per class; ucf101, hmdb51: with their split files; csv"


@app.command(short_help="Train or fine-tune a model on labelled videos.")
def train(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Argument(
            metavar="DATA",
            show_default=False,
            help="Labelled videos: folders per class, UCF-101/HMDB-51 with split files, or a .csv list "
            "[required unless --resume].",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Run folder: model files, metrics, plots, resume state [required unless --resume]."
        ),
    ] = None,
    out_alias: OutAlias = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue the run in this folder with its own recipe (--epochs may extend it) [default: a new run]."
        ),
    ] = None,
    layout: Annotated[DataLayout, typer.Option(help=f"Data set layout. {LAYOUT_HELP}.")] = DataFormat.auto,
    split: Annotated[int, typer.Option(min=1, max=3, help="Official split of UCF-101 / HMDB-51.")] = 1,
    csv_list: Annotated[
        Path | None,
        typer.Option(
            "--csv", help="CSV list (path,label[,group]) of the videos in DATA [default: none, DATA's layout]."
        ),
    ] = None,
    val_fraction: Annotated[
        float, typer.Option(min=0.0, max=0.95, help="Held-out share of a folder/CSV set, split by group.")
    ] = 0.2,
    group_regex: Annotated[
        str | None,
        typer.Option(
            help="Regex on file names; its first group (person, source) stays on one side, e.g. '_(s\\d+)_' "
            "[default: none, split by file]."
        ),
    ] = None,
    arch: Annotated[
        TrainArch | None,
        typer.Option(help="Network: 3D residual attention ResNets, dense variant, C3D [default: --init's or r3d18]."),
    ] = None,
    width: Annotated[
        int | None, typer.Option(min=1, help="Channels of the first stage (r3d*, c3d) [default: --init's, else 64].")
    ] = None,
    growth: Annotated[int | None, typer.Option(min=1, help="Growth rate of dense3d [default: --init's, else 16].")] = (
        None
    ),
    attention: Annotated[
        bool | None,
        typer.Option(
            "--attention/--no-attention",
            show_default=False,
            help="Channel + spatial attention in every block (not c3d) [default: --init's, else on].",
        ),
    ] = None,
    reduction: Annotated[
        int | None, typer.Option(min=1, help="Channel attention reduction ratio [default: --init's, else 16].")
    ] = None,
    spatial_kernel: Annotated[
        str | None, typer.Option(help="Spatial attention kernel T,H,W [default: --init's, else 1,7,7].")
    ] = None,
    dropout: Annotated[
        float | None,
        typer.Option(min=0.0, max=0.99, help="Dropout before the classifier [default: --init's, else 0, c3d 0.5]."),
    ] = None,
    clip_len: Annotated[int | None, typer.Option(min=1, help="Frames per clip [default: --init's, else 16].")] = None,
    frame_step: Annotated[
        int | None, typer.Option(min=1, help="Temporal stride inside a clip [default: --init's, else 1].")
    ] = None,
    crop: Annotated[
        int | None, typer.Option(min=8, help="Crop side in pixels (the paper: 112 or 224) [default: --init's or 112].")
    ] = None,
    resize: Annotated[int | None, typer.Option(min=8, help="Short side before cropping [default: crop * 8/7].")] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            min=1, help="Total epochs [default: fine-tuning (--init) at least 15 and 150 steps, 40 from scratch]."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Clips per step, all processes.")] = 8,
    lr: Annotated[
        float | None, typer.Option(min=0.0, help="Peak learning rate [default: 0.0005 fine-tuning, 0.1 from scratch].")
    ] = None,
    momentum: Annotated[float, typer.Option(min=0.0, max=1.0, help="SGD momentum.")] = 0.9,
    nesterov: Annotated[bool, typer.Option(help="Nesterov momentum.")] = True,
    optimizer: Annotated[
        Optimizer | None,
        typer.Option(help="sgd: the paper's; adamw: faster on small data [default: adamw fine-tuning, else sgd]."),
    ] = None,
    weight_decay: Annotated[
        float | None, typer.Option(min=0.0, help="Weight decay [default: 0.05 fine-tuning, 1e-4 from scratch].")
    ] = None,
    schedule: Annotated[
        Schedule | None,
        typer.Option(help="Learning-rate decay [default: cosine fine-tuning, step from scratch]."),
    ] = None,
    milestones: Annotated[
        str | None, typer.Option(help="Step schedule: epochs where lr *= gamma, e.g. 20,30 [default: 1/2, 3/4].")
    ] = None,
    gamma: Annotated[float, typer.Option(min=0.0, max=1.0, help="Step schedule decay factor.")] = 0.1,
    warmup_epochs: Annotated[float, typer.Option(min=0.0, help="Linear warmup, in epochs.")] = 0.0,
    precision: Annotated[
        Precision, typer.Option(help="auto: bf16 autocast where the hardware has it natively, else fp32.")
    ] = Precision.auto,
    device: Annotated[TrainDevice, typer.Option(help="auto: CUDA when available.")] = TrainDevice.auto,
    workers: Annotated[
        int | None, typer.Option(min=0, help="Decoding processes per training process [default: min(8, CPUs)].")
    ] = None,
    threads: ThreadsOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, split, data order and augmentation.")] = 0,
    init: Annotated[
        Path | None,
        typer.Option(
            help="Fine-tune from this model: an installed name (default, kinetics400-r3d18) or a file (actionrec, "
            "torchvision r3d_18, 3D-ResNets-PyTorch); its network and preprocessing apply unless given here "
            "[default: none, from scratch]."
        ),
    ] = None,
    hflip: Annotated[bool, typer.Option(help="Random horizontal flips (off for left/right-dependent classes).")] = True,
    crop_scales: Annotated[
        str, typer.Option(help="Multi-scale crop: crop side / short side choices, comma-separated.")
    ] = "1,0.875,0.75,0.66",
    color_jitter: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Brightness/contrast/saturation jitter per clip (0 = off).")
    ] = 0.0,
    channel_shuffle: Annotated[
        bool, typer.Option(help="Random RGB order per clip, for data whose colours never tell the class.")
    ] = False,
    zero_init_residual: Annotated[
        bool, typer.Option(help="Start each residual branch at zero (blocks begin as identity); from scratch only.")
    ] = False,
    identity_attention: Annotated[
        bool, typer.Option(help="New attention starts as the identity (plain ResNet at step 0); off: random gates.")
    ] = True,
    val_clips: Annotated[int, typer.Option(min=1, help="Evenly spaced clips per validation video.")] = 3,
    cache: Annotated[
        bool | None,
        typer.Option(
            "--cache/--no-cache",
            help="Keep decoded frames on disk after the first epoch (uint8 .npy) [default: on fine-tuning, off from "
            "scratch].",
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Frame cache folder [default: ~/.cache/actionrec/frames].")
    ] = None,
) -> None:
    """Train a model on labelled videos; writes best/last model files, metrics.jsonl and curves to the run folder.
    Works under `torchrun --nproc_per_node N` (DistributedDataParallel)."""
    out = _output(output, out_alias)
    with reported():
        if resume is not None:
            given = [
                param.opts[0] if param.param_type_name == "option" else param.name.upper()
                for param in ctx.command.params
                if param.name not in RESUME_OPTIONS and ctx.get_parameter_source(param.name).name == "COMMANDLINE"
            ]
            if given:
                raise typer.BadParameter(f"{', '.join(given)}: a resumed run keeps its recipe", param_hint="--resume")
        elif data is None or out is None:
            raise typer.BadParameter("give DATA and -o/--output RUN_DIR (or --resume RUN_DIR)")

        def ints(text: str | None, option: str) -> tuple[int, ...] | None:
            if text is None:
                return None
            try:
                return tuple(int(v) for v in text.replace(" ", "").split(",") if v)
            except ValueError:
                raise typer.BadParameter(f"{text!r}: expected comma-separated integers", param_hint=option) from None

        def floats(text: str, option: str) -> tuple[float, ...]:
            try:
                values = tuple(float(v) for v in text.replace(" ", "").split(",") if v)
            except ValueError:
                values = ()
            if not values or not all(0 < v <= 1 for v in values):
                raise typer.BadParameter(f"{text!r}: expected comma-separated numbers in (0, 1]", param_hint=option)
            return values

        kernel = ints(spatial_kernel, "--spatial-kernel")
        if kernel is not None and (len(kernel) != 3 or min(kernel) < 1 or not all(k % 2 for k in kernel)):
            raise typer.BadParameter(f"{spatial_kernel}: want three odd sizes T,H,W", param_hint="--spatial-kernel")
        import dataclasses

        import torch

        from ..training import TrainConfig, arch_args_for, resume_config
        from ..training import train as run_training

        if threads:
            torch.set_num_threads(threads)
        if resume is not None:
            config = resume_config(resume, epochs=epochs, workers=workers)
            if ctx.get_parameter_source("device").name == "COMMANDLINE":
                config = dataclasses.replace(config, device=device)
        else:
            given = {
                "width": width,
                "growth": growth,
                "attention": attention,
                "reduction": reduction,
                "spatial_kernel": kernel,
                "dropout": dropout,
            }
            args = (
                arch_args_for(arch, **given) if arch is not None else {k: v for k, v in given.items() if v is not None}
            )
            config = TrainConfig(
                data=data,
                out=out,
                format=layout,
                split=split,
                val_fraction=val_fraction,
                group_regex=group_regex,
                csv=csv_list,
                arch=arch.value if arch is not None else None,
                arch_args=args or None,
                clip_len=clip_len,
                frame_step=frame_step,
                crop=crop,
                resize=resize,
                batch_size=batch_size,
                lr=lr,
                momentum=momentum,
                nesterov=nesterov,
                optimizer=optimizer,
                weight_decay=weight_decay,
                schedule=schedule,
                milestones=ints(milestones, "--milestones") or (),
                gamma=gamma,
                warmup_epochs=warmup_epochs,
                precision=precision,
                device=device,
                workers=workers,
                seed=seed,
                init=init,
                hflip=hflip,
                crop_scales=floats(crop_scales, "--crop-scales"),
                color_jitter=color_jitter,
                channel_shuffle=channel_shuffle,
                zero_init_residual=zero_init_residual,
                identity_attention=identity_attention,
                val_clips=val_clips,
                cache=cache,
                cache_dir=cache_dir,
                epochs=epochs,
            )
            if arch is None:  # the architecture came from --init's model (or the default): check the options on it
                arch_args_for(config.arch, **given)
            _describe_start(config)
        result = run_training(config, progress=True, console=err)
    if int(os.environ.get("RANK", "0")) == 0:
        summary = {
            "run": str(result.run_dir),
            "best": str(result.best),
            "last": str(result.last),
            "best_epoch": result.best_epoch,
            "best_val_clip_acc": result.best_val_clip_acc,
            "best_val_video_acc": result.best_val_video_acc,
            "epochs_done": result.epochs_done,
        }
        typer.echo(json.dumps(summary, indent=2, allow_nan=False))


def _describe_start(config) -> None:
    """One line on stderr: where training starts from and the recipe that follows from it."""
    start = f"fine-tuning {config.init}" if config.init is not None else "training from scratch"
    epochs = f"{config.epochs} epochs" if config.epochs is not None else "epochs to suit the data"
    err.print(
        f"{start}: {config.arch} {config.arch_args}, clips of {config.clip_len} frames every {config.frame_step}, "
        f"crop {config.crop}; {config.optimizer.value} lr {config.lr:g}, {config.schedule.value}, {epochs}",
        highlight=False,
        soft_wrap=True,
    )


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
        Literal["val", "all"], typer.Option(help="val: the held-out side; all: every video (a separate test set).")
    ] = "val",
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
    backend: Annotated[BackendKind, typer.Option(help="auto: the one the model file is for.")] = BackendKind.auto,
    device: Annotated[Device, typer.Option(help="Where the network runs.")] = Device.cpu,
    precision: Annotated[
        Precision, typer.Option(help="auto: bf16 where the hardware has it natively, else fp32.")
    ] = Precision.auto,
    threads: ThreadsOpt = None,
    streams: StreamsOpt = None,
    compile: CompileOpt = False,
) -> None:
    """Measure a model's accuracy on the held-out videos of a labelled data set: clip and video top-1/top-5, mean
    class accuracy, per-class table; unreadable videos are reported and skipped (exit code stays 0)."""
    from ..data import DataFormat, open_dataset
    from ..errors import DataError
    from ..evaluate import evaluate as run_evaluation
    from ..evaluate import per_class_table, per_group_table, summary_lines, write_outputs

    with reported():
        from ..evaluate import choose_split
        from ..hub import resolve_model
        from ..io.checkpoint import read_meta

        model = resolve_model(model)
        choice = choose_split(
            data,
            read_meta(model),
            fmt=layout.value if layout is not None else None,
            split=split,
            val_fraction=val_fraction,
            group_regex=group_regex,
            seed=seed,
            csv=csv_list,
        )
        dataset = open_dataset(
            data,
            fmt=DataFormat(choice.fmt),
            split=choice.split,
            val_fraction=choice.val_fraction,
            group_regex=choice.group_regex,
            seed=choice.seed,
            csv_path=choice.csv,
        )
        if choice.note and subset == "val":
            err.print(choice.note, highlight=False, soft_wrap=True)
        elif dataset.by_file and subset == "val":
            err.print(BY_FILE_WARNING, highlight=False, soft_wrap=True)
        err.print(dataset.summary(), highlight=False, soft_wrap=True)
        items = dataset.val if subset == "val" else dataset.train + dataset.val
        if not items:
            raise DataError(f"{data}: no {'held-out ' if subset == 'val' else ''}videos to evaluate")
        recognizer = _recognizer(model, backend, device, precision, threads, streams, compile, batch_size)
        progress = _progress(len(items))

        def on_video(_item, error: str | None) -> None:
            if error:
                progress.console.print(f"[yellow]skipped:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
            progress.advance(task)

        with progress:
            task = progress.add_task("evaluate", total=len(items))
            report = run_evaluation(
                recognizer,
                items,
                dataset.labels,
                clips_per_video=clips_per_video,
                batch_size=batch_size,
                progress=on_video,
                by_group=not dataset.by_file,
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
                "split": choice.note,
                "data": str(data),
                "data_source": dataset.source,
                "subset": subset,
                "data_skipped": list(dataset.skipped),
            }
            written = write_outputs(output, report, context)
            err.print("wrote " + ", ".join(map(str, written)), highlight=False, soft_wrap=True)


# ---- export (export.py) ----


@app.command(short_help="Export a model to ONNX, checked against PyTorch.")
def export(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help="The .safetensors model file to export.")],
    onnx: Annotated[
        bool,
        typer.Option("--onnx", show_default=False, help="Export to ONNX (the only format for now) [default: on]."),
    ] = True,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write [default: MODEL.onnx, MODEL.int8.onnx].")
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
            "--int8", help="Also write a static int8 model for ONNX Runtime, calibrated on the video(s) [default: off]."
        ),
    ] = False,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads for ONNX Runtime [default: ONNX Runtime's].")
    ] = None,
) -> None:
    """Export a model to a self-contained .onnx file, written only if ONNX Runtime matches PyTorch on random and
    real clips (max |logit diff| <= 1e-4 x max |logit|)."""
    from ..export import export_onnx

    out = _output(output, out_alias)
    with reported():
        with err.status(f"exporting {model} to ONNX and checking it against PyTorch"):
            result = export_onnx(model, out, opset=opset, check_videos=check_video or (), int8=int8, threads=threads)
        typer.echo(f"wrote {result.path} ({result.precision}, opset {result.opset})")
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
                    "note: int8 ran slower than fp32 on this CPU (usual for narrow models); prefer the fp32 export",
                    soft_wrap=True,
                )


# ---- synth, explain (synth.py, explain.py) ----


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not WIDTHxHEIGHT, e.g. 128x128") from None
    if w < 32 or h < 32:
        raise typer.BadParameter("frames must be at least 32x32")
    return w, h


@app.command(short_help="Render the synthetic action benchmark (16 actions).")
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
) -> None:
    """Render the synthetic action benchmark: articulated actors doing 16 actions, split by actor."""
    from ..synth import DEFAULT_CONFIG, SynthConfig, write_benchmark, write_samples

    out = _output(output, out_alias)
    if out is None:
        raise typer.BadParameter("give the benchmark's folder", param_hint="-o/--output")
    width_height = _parse_size(size)
    if samples:
        with reported():
            for path in write_samples(out, size=width_height, frames=frames):
                typer.echo(path)
        return
    with reported(), Progress(TextColumn("synth"), BarColumn(), MofNCompleteColumn(), console=err) as bar:
        task = bar.add_task("synth", total=None)
        summary = write_benchmark(
            out,
            clips_per_class=clips_per_class,
            seed=seed,
            size=width_height,
            frames=frames,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            config=SynthConfig.plain() if plain else DEFAULT_CONFIG,
        )
    typer.echo(
        f"{summary.out}: {len(summary.classes)} classes, {summary.n_train} train / {summary.n_test} test clips "
        "(classInd.txt, trainlist01.txt, testlist01.txt)"
    )


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
    device: Annotated[Device, typer.Option(help="Where the network runs.")] = Device.cpu,
    threads: ThreadsOpt = None,
) -> None:
    """Overlay the network's spatial attention on a video's frames as a heat map (the region the network sees is
    outlined, the rest dimmed; each window's label and score drawn on its frames)."""
    from ..explain import explain_video, load_for_explain
    from ..io.video import probe

    out = _output(output, out_alias)
    if out is None and sheet is None:
        raise typer.BadParameter("give -o/--output VIDEO, --sheet PNG, or both")
    if out is not None and out.suffix.lower() not in (".mp4", ".avi"):
        raise typer.BadParameter(f"{out}: write .mp4 or .avi", param_hint="--output")
    if sheet is not None and sheet.suffix.lower() != ".png":
        raise typer.BadParameter(f"{sheet}: write a .png", param_hint="--sheet")
    with reported():
        recognizer = load_for_explain(model, device=device, threads=threads)
        progress = Progress(
            TextColumn("explain"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True
        )
        with progress:
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


# ---- pull, models (hub.py) ----


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


def main() -> None:
    """Console entry point: no traceback reaches the user unless ACTIONREC_DEBUG=1, and no library's warnings
    (torch's UserWarnings, numpy's RuntimeWarnings, onnx's): stderr carries actionrec's own lines only."""
    if not os.environ.get("ACTIONREC_DEBUG"):
        import warnings

        warnings.filterwarnings("ignore")  # ahead of PYTHONWARNINGS / -W: other packages' warnings are not ours
        warnings.filterwarnings("default", module=r"actionrec(\..*)?$")
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:  # an unexpected failure: one line, the traceback on request
        if os.environ.get("ACTIONREC_DEBUG"):
            raise
        err.print(
            f"[red]internal error:[/] {type(e).__name__}: {escape(str(e))} (set ACTIONREC_DEBUG=1 for a traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(3)
