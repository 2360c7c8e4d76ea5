"""Writing results: rich tables, JSON, JSON Lines (one line per video as it finishes) and CSV, to stdout or to
a file: JSON Lines line by line as videos finish (whole lines only), the others appearing only once complete;
and the console that never cuts a line written to a pipe or a file."""

from __future__ import annotations

import contextlib
import csv
import enum
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rich.console import Console, ConsoleDimensions, Group
from rich.table import Table
from rich.text import Text

from ..errors import ActionrecError
from ..runtime.aggregate import VideoResult
from .files import atomic_path

# One row per window and rank (kind "window"), then one per segment (kind "segment", rank empty). The kind column
# comes last so that the window rows keep the columns they always had.
CSV_HEADER = ("video", "start_s", "end_s", "rank", "label", "score", "kind")
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


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


def clock(seconds: float) -> str:
    """m:ss.ss, as every table writes times."""
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:05.2f}"


def segment_lines(result: VideoResult) -> Text:
    """The video's segments, one line each: "  0:03.84-0:07.68  wave_one_hand 0.93"."""
    lines = [
        Text.assemble(f"  {clock(s.start_s)}-{clock(s.end_s)}  ", (s.label, "bold"), f" {s.score:.2f}")
        for s in result.segments
    ]
    return Text("\n").join([Text(f"segments ({len(result.segments)}):"), *lines])


def video_table(result: VideoResult) -> Group:
    """One video: a line naming it, a row per window with the window's top labels, its segments, then a line with
    its label and ranking. The lines sit outside the table so that a long path or ranking is never wrapped to the
    table's width; labels and paths are plain text, never read as markup."""
    title = Text.assemble(
        (result.video, "bold"), f"  {result.duration_s:.2f} s, {result.frames} frames @ {result.fps:.2f} fps"
    )
    table = Table(show_lines=False)
    table.add_column("window", justify="right", no_wrap=True)
    table.add_column("start", justify="right", no_wrap=True)
    table.add_column("end", justify="right", no_wrap=True)
    k = max((len(w.top) for w in result.windows), default=1)
    for rank in range(1, k + 1):
        table.add_column(f"top {rank}" if rank > 1 else "label", overflow="fold")
    for i, w in enumerate(result.windows):
        cells = [Text.assemble(ls.label, (f" {ls.score:.2f}", "dim")) for ls in w.top]
        table.add_row(str(i), clock(w.start_s), clock(w.end_s), *cells)
    ranking = "  ".join(f"{ls.label} {ls.score:.3f}" for ls in result.top)
    caption = Text.assemble(
        "video: ", (result.label or "", "bold"), f" ({result.score:.3f})   ranking (mean of windows): {ranking}"
    )
    return Group(title, table, segment_lines(result), caption)


def summary_table(results: list[VideoResult]) -> Table:
    """Every video of a run: its duration, label and score, or its error."""
    table = Table(title="videos", title_justify="left")
    for col in ("video", "duration", "label", "score", "error"):
        table.add_column(col, overflow="fold")
    for r in results:
        table.add_row(
            Text(r.video),
            f"{r.duration_s:.2f} s" if r.ok else "",
            Text(r.label or ""),
            f"{r.score:.3f}" if r.score is not None else "",
            Text(r.error or ""),
            style=None if r.ok else "red",
        )
    return table


def csv_rows(result: VideoResult) -> Iterator[tuple]:
    """`CSV_HEADER`'s rows of one video: its windows' top labels, then its segments."""
    for w in result.windows:
        for rank, ls in enumerate(w.top, start=1):
            yield (result.video, f"{w.start_s:.3f}", f"{w.end_s:.3f}", rank, ls.label, f"{ls.score:.6f}", "window")
    for s in result.segments:
        yield (result.video, f"{s.start_s:.3f}", f"{s.end_s:.3f}", "", s.label, f"{s.score:.6f}", "segment")


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


@contextlib.contextmanager
def result_writer(
    fmt: OutputFormat, output: Path | None = None, *, append: bool = False
) -> Iterator[Callable[[VideoResult], None]]:
    """Yield `write(result)`; results stream out as they come (jsonl, csv, table) or at the end (json).

    With `output`: jsonl is written to it line by line as each video finishes (complete lines only; `append` adds
    to what is there, for --resume); the other formats go to a temporary file renamed onto `output` when the run
    completes, and removed if it does not.
    """
    with contextlib.ExitStack() as stack:
        if output is None:
            stream: IO[str] = sys.stdout
        elif fmt == OutputFormat.jsonl:
            lines = _LineFile(output, append)
            stack.callback(lines.close)
            stream = lines  # type: ignore[assignment]
        else:
            tmp = stack.enter_context(atomic_path(output))
            stream = stack.enter_context(open(tmp, "w", encoding="utf-8", newline=""))
        results: list[VideoResult] = []
        console = FullConsole(file=stream) if fmt == OutputFormat.table else None
        writer = csv.writer(stream, lineterminator="\n") if fmt == OutputFormat.csv else None
        if writer is not None:
            writer.writerow(CSV_HEADER)

        def write(result: VideoResult) -> None:
            results.append(result)
            if fmt == OutputFormat.jsonl:
                stream.write(dumps(result.to_dict()) + "\n")
            elif writer is not None:
                writer.writerows(csv_rows(result))
            elif console is not None and result.ok:
                console.print(video_table(result))
            stream.flush()

        yield write
        if fmt == OutputFormat.json:
            stream.write(dumps({"videos": [r.to_dict() for r in results]}, indent=2) + "\n")
        elif console is not None and len(results) > 1:
            console.print(summary_table(results))
        stream.flush()
