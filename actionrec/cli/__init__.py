"""The command line: parses, calls the library, prints. Results go to stdout, progress and messages to stderr.

This is the only place where an ActionrecError becomes a one-line message and an exit code
(0 all good, 1 some input failed, 2 usage error). One spelling per option across commands: -o/--output is what a
command writes, -f/--format how results are written, --layout how a data set is laid out.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.markup import escape

from . import evaluate, explain, export, hub, info, predict, synth, train, watch
from .common import err, stopped_by_signals

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
# One module per command, each with its own Typer; added without a name, their commands sit at the top level, listed
# by `actionrec --help` in this order.
app.add_typer(predict.app)
app.add_typer(watch.app)
app.add_typer(info.app)
app.add_typer(train.app)
app.add_typer(evaluate.app)
app.add_typer(export.app)
app.add_typer(synth.app)
app.add_typer(explain.app)
app.add_typer(hub.app)


# Commands that never open a video: they skip `quiet_decoder_logs`, whose import of OpenCV would be a tenth of their
# run (`actionrec info`).
NO_VIDEO = (info.app, hub.app)


def _stoppable(command: Callable[..., Any], decodes: bool) -> Callable[..., Any]:
    """The command run inside `stopped_by_signals`: SIGTERM and Ctrl-C remove its temporary files, exit 143/130.
    A command that `decodes` video first silences FFmpeg's own messages: a bad video is one VideoError line."""

    @functools.wraps(command)  # Typer reads the options from the wrapped function's signature
    def run(*args: Any, **kwargs: Any) -> Any:
        if decodes:
            from ..io.video import quiet_decoder_logs

            quiet_decoder_logs()
        with stopped_by_signals():
            return command(*args, **kwargs)

    return run


for _group in app.registered_groups:  # every command, those that write files (train, export, ...) above all
    for _command in _group.typer_instance.registered_commands:
        _command.callback = _stoppable(_command.callback, _group.typer_instance not in NO_VIDEO)

__all__ = ["app", "main"]


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
