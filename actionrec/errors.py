"""The one exception type users see: every expected failure (bad video, bad model file, bad data, a missing
optional package: `require_extra`) raises it.

`cli` is the only place that turns it into a one-line message and an exit code.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence


class ActionrecError(Exception):
    """A failure caused by the user's input, reported as one line naming the file and the problem."""


class VideoError(ActionrecError):
    """A video that cannot be opened or decoded (missing, corrupt, truncated, empty, not a video)."""


class ModelFileError(ActionrecError):
    """A model file that is missing, corrupt, foreign or inconsistent with its metadata."""


class DataError(ActionrecError):
    """A data set whose layout, split files or labels do not match what was asked for."""


class BusyError(ActionrecError):
    """An output (a results file, a run folder) that another process is writing now (`io.files.exclusive`)."""


class OptionError(ActionrecError, ValueError):
    """Options that cannot work together (streams with compile, compile with ONNX Runtime): the caller's mistake, not
    the input's. `option` names the parameter; the command line shows it as its flag and exits as a usage error."""

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option


def require_extra(what: str, extra: str, modules: Sequence[str]) -> None:
    """Raise one line naming the extra to install when any of `modules` (an optional dependency group of
    pyproject.toml) is missing, e.g. "m.safetensors: ONNX export needs onnx (not installed): pip install
    'actionrec[export]'". `what` names the file and the job."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise ActionrecError(f"{what} needs {', '.join(missing)} (not installed): pip install 'actionrec[{extra}]'")
