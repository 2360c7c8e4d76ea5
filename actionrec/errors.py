"""The one exception type users see: every expected failure (bad video, bad model file, bad data) raises it.

`cli.py` is the only place that turns it into a one-line message and an exit code.
"""

from __future__ import annotations


class ActionrecError(Exception):
    """A failure caused by the user's input, reported as one line naming the file and the problem."""


class VideoError(ActionrecError):
    """A video that cannot be opened or decoded (missing, corrupt, truncated, empty, not a video)."""


class ModelFileError(ActionrecError):
    """A model file that is missing, corrupt, foreign or inconsistent with its metadata."""


class DataError(ActionrecError):
    """A data set whose layout, split files or labels do not match what was asked for."""
