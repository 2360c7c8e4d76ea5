"""Writing results: rich tables, JSON, JSON Lines and CSV, streamed to stdout or to a file held by one run
(`claim`): JSON Lines line by line as videos finish (whole lines only), the others appearing only once complete;
no result kept once written; and the console that never cuts a line written to a pipe or a file."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rich.console import Console, ConsoleDimensions, Group
from rich.table import Table
from rich.text import Text

from ..choices import OutputFormat
from ..errors import ActionrecError
from ..results import NO_ACTION, VideoResult
from .files import atomic_path, exclusive, writing

# Per video: a row per window and rank (kind "window"), one per segment (kind "segment", rank empty), then the
# video's own row (kind "video": 0 to its duration, its label and score; a failed video's has only its `error`).
# New columns go last so that the window rows keep the columns they always had.
CSV_HEADER = ("video", "start_s", "end_s", "rank", "label", "score", "kind", "error")
PIPE_WIDTH = 10_000  # columns of a console writing to a pipe or a file: more than any line, so none is cut


class FullConsole(Console):
    """A rich Console that, writing anywhere but a terminal (a pipe, a file, a test runner), is PIPE_WIDTH columns
    wide: tables, log lines and progress records come out whole, one line each, instead of being wrapped or cut
    with an ellipsis at 80 columns. On a terminal it is the terminal's width, as usual."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if _isatty(self.file) else ConsoleDimensions(PIPE_WIDTH, size.height)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def shown(name: str) -> str:
    """`name` as any output can hold it: a file name that is not valid UTF-8 (a str with lone surrogates) with its
    undecodable bytes written as \\xNN; every other name as it is."""
    try:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    except UnicodeError:  # a surrogate no file system byte maps to
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def clock(seconds: float) -> str:
    """m:ss.ss, as every table writes times."""
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:05.2f}"


def label_style(label: str, style: str = "") -> str:
    """How a label is shown in a table: `style`, but dim grey for no_action, so the actions stand out."""
    return "dim" if label == NO_ACTION else style


def segment_lines(result: VideoResult) -> Text:
    """The video's segments, one line each: "  0:03.84-0:07.68  wave_one_hand 0.93"."""
    lines = [
        Text.assemble(
            f"  {clock(s.start_s)}-{clock(s.end_s)}  ", (s.label, label_style(s.label, "bold")), f" {s.score:.2f}"
        )
        for s in result.segments
    ]
    return Text("\n").join([Text(f"segments ({len(result.segments)}):"), *lines])


def video_table(result: VideoResult) -> Group:
    """One video: a line naming it, a row per window with the window's top labels, its segments, then a line with
    its label and ranking. The lines sit outside the table so that a long path or ranking is never wrapped to the
    table's width; labels and paths are plain text, never read as markup."""
    title = Text.assemble(
        (shown(result.video), "bold"), f"  {result.duration_s:.2f} s, {result.frames} frames @ {result.fps:.2f} fps"
    )
    table = Table(show_lines=False)
    table.add_column("window", justify="right", no_wrap=True)
    table.add_column("start", justify="right", no_wrap=True)
    table.add_column("end", justify="right", no_wrap=True)
    k = max((len(w.top) for w in result.windows), default=1)
    for rank in range(1, k + 1):
        table.add_column(f"top {rank}" if rank > 1 else "label", overflow="fold")
    for i, w in enumerate(result.windows):
        cells = [Text.assemble((ls.label, label_style(ls.label)), (f" {ls.score:.2f}", "dim")) for ls in w.top]
        table.add_row(str(i), clock(w.start_s), clock(w.end_s), *cells)
    ranking = "  ".join(f"{ls.label} {ls.score:.3f}" for ls in result.top)
    caption = Text.assemble(
        "video: ",
        (result.label or "", label_style(result.label or "", "bold")),
        f" ({result.score:.3f})   ranking (mean of windows): {ranking}",
    )
    return Group(title, table, segment_lines(result), caption)


def summary_table(results: list[VideoResult]) -> Table:
    """Every video of a run: its duration, label and score, or its error (`summary_of` each is enough)."""
    table = Table(title="videos", title_justify="left")
    for col in ("video", "duration", "label", "score", "error"):
        table.add_column(col, overflow="fold")
    for r in results:
        table.add_row(
            Text(shown(r.video)),
            f"{r.duration_s:.2f} s" if r.ok else "",
            Text(r.label or "", style=label_style(r.label or "")),
            f"{r.score:.3f}" if r.score is not None else "",
            Text(shown(r.error or "")),
            style=None if r.ok else "red",
        )
    return table


def summary_of(result: VideoResult) -> VideoResult:
    """What `summary_table` shows of `result`, without its windows, ranking and segments: a run keeps this much."""
    return dataclasses.replace(result, top=[], segments=[], windows=[])


def csv_rows(result: VideoResult) -> Iterator[tuple]:
    """`CSV_HEADER`'s rows of one video: its windows' top labels, its segments, then its own row. Numbers are its
    JSON record's (`VideoResult.to_dict`: the same rounding); names that are not valid UTF-8 are `shown`."""
    d = result.to_dict()
    rows = [
        (w["start_s"], w["end_s"], rank, ls["label"], ls["score"], "window", None)
        for w in d["windows"]
        for rank, ls in enumerate(w["top"], start=1)
    ]
    rows += [(s["start_s"], s["end_s"], None, s["label"], s["score"], "segment", None) for s in d["segments"]]
    start = 0.0 if result.ok else None
    rows.append((start, d["duration_s"], None, d["label"], d["score"], "video", d["error"]))
    for row in rows:
        yield tuple("" if v is None else shown(v) if isinstance(v, str) else v for v in (d["video"], *row))


def dumps(obj, **kwargs) -> str:
    """Strict JSON: NaN or Infinity anywhere is a bug (a result must never carry one), not "NaN" in a file."""
    return json.dumps(obj, allow_nan=False, **kwargs)


@dataclass
class JsonlDone:
    """What an existing JSON Lines results file already holds, read by `read_jsonl_done` for --resume."""

    videos: set[str]  # the "video" of each complete line
    failed: int  # lines whose "error" is set
    dropped: int  # bytes of a half-written last line (a killed run) cut off the file


def read_jsonl_done(path: Path) -> JsonlDone:
    """The videos an earlier run wrote to the JSON Lines file `path`; a half-written last line (no newline, or not
    JSON: the run was killed mid-line) is cut off the file, so that appending goes on from a whole line."""
    if not path.exists():
        return JsonlDone(set(), 0, 0)
    if not path.is_file():
        raise ActionrecError(f"{path}: not a regular file; --resume needs the JSON Lines file of an earlier run")
    data = path.read_bytes()
    done, failed, keep = set(), 0, 0
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        if not line.endswith(b"\n"):
            break
        try:
            record = json.loads(line)
            video = record["video"]
        except (ValueError, TypeError, KeyError):
            if keep + len(line) == len(data):  # only the last line may be cut short
                break
            raise ActionrecError(f"{path}: not a predict JSON Lines file (line {number})") from None
        done.add(str(video))
        failed += record.get("error") is not None
        keep += len(line)
    if keep < len(data):
        with open(path, "r+b") as f:
            f.truncate(keep)
    return JsonlDone(done, failed, len(data) - keep)


@contextlib.contextmanager
def claim(path: Path, what: str = "results file") -> Iterator[None]:
    """Hold `path` for one run: its folder made and `files.exclusive`'s lock taken (another process writing it now:
    `BusyError`, one line, at once; a folder that cannot be written: one line naming `path`). A device or a pipe
    (/dev/null, /dev/stdout) is written straight through, unlocked."""
    if path.exists() and not path.is_file():
        yield
        return
    with contextlib.ExitStack() as stack:
        with writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(exclusive(path, what))
        yield


class _LineFile:
    """A JSON Lines results file written as the run goes: each line whole, in one write, flushed to disk, so that
    a run stopped by any signal leaves complete lines of the videos that finished."""

    def __init__(self, path: Path, append: bool):
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        self.fd = os.open(path, flags, 0o666)
        self.regular = path.is_file()

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        while data:  # one write() for a regular file; a pipe may take it in parts
            data = data[os.write(self.fd, data) :]
        if self.regular:
            os.fsync(self.fd)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        os.close(self.fd)


class _Sink:
    """Writes results in one format to an open text stream, each as it comes, and lets them go."""

    def __init__(self, stream: IO[str]):
        self.stream = stream

    def write(self, result: VideoResult) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        self.stream.flush()


class _JsonLines(_Sink):
    def write(self, result: VideoResult) -> None:
        self.stream.write(dumps(result.to_dict()) + "\n")
        self.stream.flush()


class _Json(_Sink):
    """One document, `{"videos": [...]}` as `dumps(..., indent=2)` writes it, written a video at a time."""

    def __init__(self, stream: IO[str]):
        super().__init__(stream)
        self.count = 0

    def write(self, result: VideoResult) -> None:
        self.stream.write(",\n" if self.count else '{\n  "videos": [\n')
        self.stream.write(textwrap.indent(dumps(result.to_dict(), indent=2), " " * 4))
        self.count += 1

    def finish(self) -> None:
        self.stream.write("\n  ]\n}\n" if self.count else dumps({"videos": []}, indent=2) + "\n")
        super().finish()


class _Csv(_Sink):
    def __init__(self, stream: IO[str]):
        super().__init__(stream)
        self.writer = csv.writer(stream, lineterminator="\n")
        self.writer.writerow(CSV_HEADER)

    def write(self, result: VideoResult) -> None:
        self.writer.writerows(csv_rows(result))
        self.stream.flush()


class _Table(_Sink):
    """Each labelled video's table as it finishes; a summary of every video at the end of a run of several."""

    def __init__(self, stream: IO[str]):
        super().__init__(stream)
        self.console = FullConsole(file=stream)
        self.summaries: list[VideoResult] = []

    def write(self, result: VideoResult) -> None:
        if result.ok:
            self.console.print(video_table(result))
        self.summaries.append(summary_of(result))
        self.stream.flush()

    def finish(self) -> None:
        if len(self.summaries) > 1:
            self.console.print(summary_table(self.summaries))
        super().finish()


@contextlib.contextmanager
def _opened(opener: Callable[..., IO[str]], *args, **kwargs) -> Iterator[IO[str]]:
    """`opener(*args, **kwargs)`, closed after the block; after a failed block, quietly (a full disk fails the
    close's flush too, and that must not hide the first error)."""
    stream = opener(*args, **kwargs)
    try:
        yield stream
    except BaseException:
        with contextlib.suppress(OSError):
            stream.close()
        raise
    stream.close()


SINKS: dict[OutputFormat, type[_Sink]] = {
    OutputFormat.table: _Table,
    OutputFormat.json: _Json,
    OutputFormat.jsonl: _JsonLines,
    OutputFormat.csv: _Csv,
}


@contextlib.contextmanager
def result_writer(
    fmt: OutputFormat, output: Path | None = None, *, append: bool = False
) -> Iterator[Callable[[VideoResult], None]]:
    """Yield `write(result)`; each result is written as it comes and not kept (a table keeps its summary row).

    With `output`: jsonl is written to it line by line as each video finishes (complete lines only; `append` adds
    to what is there, for --resume); the other formats go to a temporary file renamed onto `output` when the run
    completes, and removed if it does not. json to stdout is spooled to a temporary file and printed whole at the
    end. A failure to write (disk full, ...) is one line naming the file (`ActionrecError`).
    """
    name = str(output) if output is not None else "standard output"
    with contextlib.ExitStack() as stack:
        with writing(name):
            if output is None:
                stream: IO[str] = sys.stdout
                if fmt == OutputFormat.json:
                    stream = stack.enter_context(_opened(tempfile.TemporaryFile, "w+", encoding="utf-8"))
            elif fmt == OutputFormat.jsonl:
                lines = _LineFile(output, append)
                stack.callback(lines.close)
                stream = lines  # type: ignore[assignment]
            else:
                tmp = stack.enter_context(atomic_path(output))
                stream = stack.enter_context(_opened(open, tmp, "w", encoding="utf-8", newline=""))
            sink = SINKS[fmt](stream)

        def write(result: VideoResult) -> None:
            with writing(name):
                sink.write(result)

        yield write
        with writing(name):
            sink.finish()
            if stream is not sys.stdout and output is None:  # the spooled json document
                stream.seek(0)
                shutil.copyfileobj(stream, sys.stdout)
                sys.stdout.flush()
            stack.close()  # the file closed and renamed onto `output`: its errors are the output's too
