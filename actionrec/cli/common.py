"""What the commands share: the stderr console, the options several commands take, opening a model with the network
options, progress bars, and turning an ActionrecError into one line and an exit code (reported, usage_error)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..choices import BackendKind, Device, Precision
from ..errors import ActionrecError, OptionError
from ..io.files import nearest_existing
from ..io.output import FullConsole
from ..model_meta import MAX_DEFAULT_STRIDE

err = FullConsole(stderr=True)  # progress, logs, messages; whole lines when stderr is not a terminal

BackendOpt = Annotated[
    BackendKind,
    typer.Option(
        help="auto: the one the model file is for; for the shipped model on a few short videos (predict), its ONNX "
        "twin on onnxruntime, which starts faster."
    ),
]
DeviceOpt = Annotated[Device, typer.Option(help="Where the network runs.")]
PrecisionOpt = Annotated[Precision, typer.Option(help="auto: bf16 where the hardware has it natively, else fp32.")]
StrideOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Frames between window starts "
        f"[default: half a window, at most {MAX_DEFAULT_STRIDE} frames, in whole frame_steps].",
    ),
]
SwitchPenaltyOpt = Annotated[
    float,
    typer.Option(
        "--switch-penalty",
        min=0.0,
        help="Segments: what a label change costs (nats x seconds of window evidence); higher gives fewer, "
        "longer segments, 0 each window's own label.",
    ),
]
MinSegmentOpt = Annotated[
    float,
    typer.Option(
        "--min-segment",
        min=0.0,
        metavar="SECONDS",
        help="Segments: shorter ones merge into the neighbour that fits them better.",
    ),
]
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
LAYOUT_HELP = "auto: detected from the files; folder: a folder per class; ucf101, hmdb51: with their split files; csv"


def output_path(output: Path | None, out_alias: Path | None) -> Path | None:
    """-o/--output, or --out (its former spelling, still accepted, not shown in --help)."""
    if output is not None and out_alias is not None and output != out_alias:
        raise typer.BadParameter("given twice, as --output and --out; give it once", param_hint="--output")
    return output if output is not None else out_alias


def usage_error(message: str) -> typer.Exit:
    """A usage error found after parsing (it needed the model, say): one line on stderr, exit code 2."""
    err.print(f"[red]error:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """Turn an ActionrecError into one line on stderr and exit code 1; an OptionError (an option given wrong, such
    as a --model that names nothing) is a usage error naming its option, exit code 2."""
    try:
        yield
    except OptionError as e:
        raise typer.BadParameter(str(e), param_hint=f"--{e.option}") from None
    except ActionrecError as e:
        err.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def check_output_file(output: Path, option: str = "--output", what: str = "the results") -> None:
    """A file to write that could never be written (a folder, or below a file) is a one-line usage error naming
    `option`, before any work is done."""
    if output.is_dir():
        raise usage_error(f"{option} {output}: is a folder; give a file to write {what} to")
    parent = nearest_existing(output)
    if parent is not None and not parent.is_dir():
        raise usage_error(f"{option} {output}: {parent} is a file, not a folder")


@dataclass(frozen=True)
class NetworkOptions:
    """How the network runs: the options predict, evaluate and watch share (explain takes --device and --threads).
    Each command declares the options it offers and builds this from them."""

    backend: BackendKind = BackendKind.auto
    device: Device = Device.cpu
    precision: Precision = Precision.auto
    threads: int | None = None
    streams: int | None = None  # None: the back end's default (tuning.py)
    compile: bool = False
    batch_size: int = 8

    @classmethod
    def of(cls, options: dict) -> NetworkOptions:
        """The network options among a command's parsed options (its `locals()`), each named like its field; a
        command that offers only some of them builds the dataclass itself."""
        return cls(**{f.name: options[f.name] for f in dataclasses.fields(cls)})


def open_recognizer(
    model: Path | None, network: NetworkOptions, *, videos: list | None = None, stride: int | None = None
):
    """Open the model with the network options: a --streams that could never all run (more than the threads or the
    batch) is refused here, options the back end can't take by `open_backend`. `videos` and `stride`: what the run
    will label, for `--backend auto`'s choice (`runtime.pipeline.load`)."""
    streams, threads, batch_size = network.streams, network.threads, network.batch_size
    from ..errors import OptionError
    from ..runtime.pipeline import load

    if streams is not None and streams > 1:
        if streams > batch_size:
            raise usage_error(
                f"--streams {streams}: a batch of {batch_size} (--batch-size) splits into at most {batch_size} parts"
            )
        if threads is None:
            import torch

            available, given = torch.get_num_threads(), f"torch has {torch.get_num_threads()}"
        else:
            available, given = threads, f"--threads {threads}"
        if streams > available:
            raise usage_error(f"--streams {streams}: each stream needs a thread and {given}; give at most {available}")
    try:  # the back end's rules on its options live in open_backend; here they become usage errors
        return load(model, **dataclasses.asdict(network), videos=videos, stride=stride)
    except OptionError as e:
        raise typer.BadParameter(str(e), param_hint=f"--{e.option}") from None


SYNTHETIC_NOTE = (
    "note: this model learned its {n} labels from synthetic data (rendered figures), not real people; on real video "
    "expect some labels to be wrong (docs/zero-shot.md). Real labels: `actionrec pull kinetics400-r3d18`; your own "
    "actions: `actionrec train DATA "
    "--output RUN --init default`."
)


def check_labels(ctx: typer.Context, top_k: int, meta) -> None:
    """A --top-k given above the model's label count is a usage error; a synthetic model gets its note on stderr."""
    n = meta.num_classes
    if top_k > n and ctx.get_parameter_source("top_k").name == "COMMANDLINE":
        raise usage_error(f"--top-k {top_k}: this model has {n} labels; give at most --top-k {n}")
    if meta.synthetic:
        err.print(SYNTHETIC_NOTE.format(n=n), highlight=False, soft_wrap=True)


def progress_bar(total: int) -> Progress:
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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so that the same clean-up runs."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises `Terminated` (temporary files are removed, finished results kept). A
    signal that lands where Python swallows exceptions (a weakref or import-lock callback: "Exception ignored in")
    is raised again when the block ends, so that it is never lost."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = threading.Event()

    def terminate(signum, frame):
        received.set()
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
        if received.is_set():  # raised where it was swallowed: the command ran on to its end
            raise Terminated()
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Around a whole command (`cli` wraps every one): SIGTERM unwinds like Ctrl-C, so that temporary files and
    folders are removed by their `with` blocks, then one stderr line and exit code 143 (SIGTERM) or 130 (Ctrl-C), as
    predict's. A command that keeps partial results says so itself, inside this block."""
    try:
        with sigterm_as_interrupt():
            yield
    except KeyboardInterrupt as e:
        terminated = isinstance(e, Terminated)
        err.print("terminated" if terminated else "interrupted", highlight=False)
        raise typer.Exit(143 if terminated else 130) from None
