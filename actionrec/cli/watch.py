"""`actionrec watch`: label a camera, a stream or a file played in real time as it happens: a line per window on
stdout (or JSON Lines), a summary on stderr when it stops."""

from __future__ import annotations

import enum
import json
import sys
from typing import Annotated

import typer
from rich.markup import escape

from ..choices import BackendKind, Device, Precision
from ..errors import ActionrecError
from ..io.output import clock, segment_lines
from ..results import VideoResult
from ..runtime.segment_config import DEFAULT_SEGMENT_CONFIG, SegmentConfig
from .common import (
    BackendOpt,
    DeviceOpt,
    MinSegmentOpt,
    ModelOpt,
    NetworkOptions,
    PrecisionOpt,
    StrideOpt,
    SwitchPenaltyOpt,
    Terminated,
    check_labels,
    err,
    open_recognizer,
    reported,
    sigterm_as_interrupt,
    usage_error,
)

app = typer.Typer()


class WatchFormat(str, enum.Enum):
    table = "table"
    jsonl = "jsonl"


@app.command(short_help="Label a camera, a stream or a file in real time, window by window.")
def watch(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE",
            help="A camera index (0: the first camera), a stream URL OpenCV's FFmpeg opens (rtsp://, http://, ...), "
            "or a video file with --realtime.",
        ),
    ],
    model: ModelOpt = None,
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime",
            help="Deliver the frames at the source's own frame rate, as a camera would: for a file (required), or a "
            "stream sent faster than real time [default: off].",
        ),
    ] = False,
    stride: StrideOpt = None,
    top_k: Annotated[
        int,
        typer.Option("--top-k", "-k", min=1, show_default=False, help="Labels per window in JSON Lines [default: 5]."),
    ] = 5,
    switch_penalty: SwitchPenaltyOpt = DEFAULT_SEGMENT_CONFIG.switch_penalty,
    min_segment: MinSegmentOpt = DEFAULT_SEGMENT_CONFIG.min_duration_s,
    fmt: Annotated[
        WatchFormat,
        typer.Option("--format", "-f", help="table: a line per window; jsonl: a JSON object per window."),
    ] = WatchFormat.table,
    reconnect: Annotated[
        int,
        typer.Option(
            min=0,
            show_default=False,
            help="Reopen a source that disconnects or will not open, up to this many times in a row, waiting 1, 2, "
            "4 ... up to 10 s in between [default: 0, stop with an error].",
        ),
    ] = 0,
    timeout: Annotated[
        float,
        typer.Option(
            min=0.1, help="Seconds a stream may send nothing (or take to open) before it counts as disconnected."
        ),
    ] = 10.0,
    device: DeviceOpt = Device.cpu,
    backend: BackendOpt = BackendKind.auto,
    precision: PrecisionOpt = Precision.auto,
    threads: Annotated[
        int,
        typer.Option(
            min=1,
            help="CPU threads for the network: one window a call runs as fast on one, and does not stall when "
            "another process takes a core.",
        ),
    ] = 1,
) -> None:
    """Label live video as it arrives: each window is labelled as soon as its last frame is in (only frames already
    seen), with the current segment. When the network falls behind, the oldest waiting window is dropped (the
    queue never grows) and the dropped frames are counted.

    Ctrl-C (or SIGTERM) stops it, as does the end of a file or of a stream of known length: exit code 0, with a
    summary on stderr (segments, frames dropped, label latency). A source that fails (after --reconnect
    attempts): one error line, exit code 1."""
    from ..runtime.live import LiveConfig, SourceKind, Watcher, parse_source

    src = parse_source(source)
    if src.kind == SourceKind.file and not realtime:
        raise usage_error(
            f"{source}: a file is watched at its own pace: give --realtime (or label it whole with `actionrec predict`)"
        )
    with reported():
        network = NetworkOptions(
            backend=backend, device=device, precision=precision, threads=threads, streams=1, batch_size=1
        )  # one window at a time
        recognizer = open_recognizer(model, network)
        labels = recognizer.meta.labels
        check_labels(ctx, top_k, recognizer.meta)
        config = LiveConfig(
            stride=stride,
            realtime=realtime,
            top_k=top_k,
            reconnect=reconnect,
            timeout_s=timeout,
            segments=SegmentConfig(switch_penalty=switch_penalty, min_duration_s=min_segment),
        )
        width = max(len(label) for label in labels)
        stopped, failure = "", None
        with recognizer, sigterm_as_interrupt(), Watcher(recognizer, src, config, notify=_message) as watcher:
            header = fmt == WatchFormat.table  # printed above the first line (none when nothing comes)
            try:
                for label in watcher.labels():
                    if header:
                        _line(f"{'window':<17}  {'label':<{width}}  score  current segment")
                        header = False
                    _line(json.dumps(label.to_dict()) if fmt == WatchFormat.jsonl else _row(label, width))
                stopped = watcher.ended or "stopped"
            except KeyboardInterrupt as e:
                stopped = "terminated" if isinstance(e, Terminated) else "interrupted"
            except ActionrecError as e:
                failure = e
            watcher.stop()
            if watcher.stats().frames or failure is None:
                _summary(watcher, stopped or "failed")
        if failure is not None:
            raise failure


def _line(text: str) -> None:
    """One line on stdout, at once (a pipe reads each label as it comes)."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (| head): stop as if interrupted
        raise KeyboardInterrupt from None


def _message(text: str) -> None:
    err.print(escape(text), highlight=False, soft_wrap=True)


def _row(label, width: int) -> str:
    seg = label.segment
    dropped = f"  ({label.dropped_frames} frames dropped)" if label.dropped_frames else ""
    return (
        f"{clock(label.start_s):>8}-{clock(label.end_s):<8}  {label.label:<{width}}  {label.score:.2f}   "
        f"{clock(seg.start_s)}-{clock(seg.end_s)}  {seg.label} {seg.score:.2f}{dropped}"
    )


def _summary(watcher, stopped: str) -> None:
    """What the run did, on stderr: why it stopped, frames and drops, label latency, the segments so far."""
    s = watcher.stats()
    lines = [
        f"{stopped} after {s.seconds:.1f} s: {_n(s.frames, 'frame')}, {_n(s.windows, 'window')} labelled "
        f"({s.skipped_windows} skipped), {_n(s.dropped_frames, 'frame')} dropped, "
        f"{_n(s.reconnects, 'reconnection')}",
    ]
    if s.latency_p50_s is not None:
        lines.append(
            f"label latency: p50 {s.latency_p50_s:.3f} s, p95 {s.latency_p95_s:.3f} s, max {s.latency_max_s:.3f} s"
        )
    for line in lines:
        err.print(escape(line), highlight=False, soft_wrap=True)
    so_far = VideoResult(video=str(watcher.source), segments=watcher.segments())
    err.print(segment_lines(so_far), highlight=False, soft_wrap=True)  # as predict's table shows them


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
