"""The sample clips (and `sequence.json`, the script of the long one): package data of `actionrec.samples` (this
folder, mapped in pyproject.toml), so that an installed wheel can run the quick start: `path("sequence.mp4")`."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def path(name: str) -> Path:
    """The installed file of one sample, e.g. `path("sequence.mp4")`; FileNotFoundError names it when absent."""
    found = Path(str(files(__name__) / name))
    if not found.is_file():
        raise FileNotFoundError(f"{found}: no such sample")
    return found
