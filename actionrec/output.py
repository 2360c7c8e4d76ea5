"""Writing results: rich tables, JSON, JSON Lines (one line per video as it finishes) and CSV, to stdout or to
a file that appears only once it is complete; and the console that never cuts a line written to a pipe or a file."""

from __future__ import annotations

import contextlib
import csv
import enum
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from rich.console import Console, ConsoleDimensions, Group
from rich.table import Table
from rich.text import Text

from .aggregate import VideoResult
from .files import atomic_path

CSV_HEADER = ("video", "start_s", "end_s", "rank", "label", "score")
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


def _fmt_time(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:05.2f}"


def video_table(result: VideoResult) -> Group:
    """One video: a line naming it, a row per window with the window's top labels, then a line with its ranking.
    The two lines sit outside the table so that a long path or ranking is never wrapped to the table's width;
    labels and paths are plain text, never read as markup."""
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
        table.add_row(str(i), _fmt_time(w.start_s), _fmt_time(w.end_s), *cells)
    ranking = "  ".join(f"{ls.label} {ls.score:.3f}" for ls in result.top)
    caption = Text.assemble("video: ", (result.label or "", "bold"), f" ({result.score:.3f})   ranking: {ranking}")
    return Group(title, table, caption)


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
    for w in result.windows:
        for rank, ls in enumerate(w.top, start=1):
            yield (result.video, f"{w.start_s:.3f}", f"{w.end_s:.3f}", rank, ls.label, f"{ls.score:.6f}")


@contextlib.contextmanager
def result_writer(fmt: OutputFormat, output: Path | None = None) -> Iterator[Callable[[VideoResult], None]]:
    """Yield `write(result)`; results stream out as they come (jsonl, csv, table) or at the end (json).

    With `output`, everything goes to a temporary file renamed onto `output` when the run completes.
    """
    with contextlib.ExitStack() as stack:
        if output is None:
            stream: IO[str] = sys.stdout
        else:
            tmp = stack.enter_context(atomic_path(output))
            stream = stack.enter_context(open(tmp, "w", encoding="utf-8", newline=""))
        results: list[VideoResult] = []
        console = FullConsole(file=stream)
        writer = csv.writer(stream, lineterminator="\n") if fmt == OutputFormat.csv else None
        if writer is not None:
            writer.writerow(CSV_HEADER)

        def write(result: VideoResult) -> None:
            results.append(result)
            if fmt == OutputFormat.jsonl:
                stream.write(json.dumps(result.to_dict()) + "\n")
            elif writer is not None:
                writer.writerows(csv_rows(result))
            elif fmt == OutputFormat.table and result.ok:
                console.print(video_table(result))
            stream.flush()

        yield write
        if fmt == OutputFormat.json:
            json.dump({"videos": [r.to_dict() for r in results]}, stream, indent=2)
            stream.write("\n")
        elif fmt == OutputFormat.table and len(results) > 1:
            console.print(summary_table(results))
        stream.flush()
