"""Which videos a batch run labels: the paths and folders given, a manifest (`--files-from`, one path or URL a line)
and one deterministic shard of them (`--shard i/n`), the same on every run and machine whatever the listing order."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..errors import ActionrecError
from .video import VideoScan, is_url, scan_videos

STDIN = "-"  # the manifest name that reads standard input
_SHARD = re.compile(r"(\d+)/(\d+)")

Input = Path | str  # a local path, or a URL kept as its text (a Path would fold its "//")


def video_key(video: str | os.PathLike[str]) -> str:
    """The name an input goes by: its text as given, which is also the "video" of its result (how --resume matches
    a result to its input) and what its shard is drawn from."""
    return os.fspath(video)


def shard_of(video: str | os.PathLike[str], count: int) -> int:
    """The shard (0 .. count-1) that holds `video`: a SHA-1 of its name, so the same on every run, machine and
    Python (never the salted built-in hash) and independent of the other inputs or their order."""
    digest = hashlib.sha1(video_key(video).encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    """Part `index` of `count` (counted from 0) of a run's inputs. Each input falls in exactly one shard, by
    `shard_of`: shards 0 .. count-1 together cover every input once, each about 1/count of them."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"{self}: the shard count must be at least 1")
        if not 0 <= self.index < self.count:
            raise ValueError(f"{self}: the shard number runs from 0 to {self.count - 1}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`i/n`, e.g. "0/4"; ValueError with a one-line reason for anything else."""
        match = _SHARD.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r}: give i/n, the shard's number (from 0) and the count of shards, e.g. 0/4")
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, video: str | os.PathLike[str]) -> bool:
        return shard_of(video, self.count) == self.index

    def select(self, videos: Iterable[Input]) -> list[Input]:
        """The videos of this shard, in their given order."""
        return [v for v in videos if self.holds(v)]


def parse_manifest(lines: Iterable[str]) -> list[str]:
    """One input a line, surrounding whitespace stripped; blank lines and lines starting with "#" skipped."""
    entries = (line.strip() for line in lines)
    return [e for e in entries if e and not e.startswith("#")]


def read_manifest(source: str | os.PathLike[str], stdin: TextIO | None = None) -> list[str]:
    """The inputs a manifest file lists (`parse_manifest`), or standard input's when `source` is "-"."""
    if os.fspath(source) == STDIN:
        return parse_manifest(stdin if stdin is not None else sys.stdin)
    path = Path(source)
    try:
        with open(path, encoding="utf-8") as f:
            return parse_manifest(f)
    except FileNotFoundError:
        raise ActionrecError(f"{path}: no such manifest file (--files-from: one video path or URL a line)") from None
    except IsADirectoryError:
        raise ActionrecError(f"{path}: is a folder; --files-from takes a file listing one video a line") from None
    except UnicodeDecodeError:
        raise ActionrecError(f"{path}: not a text file; --files-from takes one video path or URL a line") from None
    except OSError as e:
        raise ActionrecError(f"{path}: cannot read the manifest ({e.strerror or e})") from None


def list_inputs(
    paths: Sequence[str | os.PathLike[str]] = (),
    *,
    files_from: str | os.PathLike[str] | None = None,
    stdin: TextIO | None = None,
) -> VideoScan:
    """The videos of a run, in order: `paths`, then the manifest's entries; folders expanded to the videos inside
    (`scan_videos`), URLs kept as written, an input named twice taken once. `Shard.select` then takes a shard."""
    given: list[str | os.PathLike[str]] = list(paths)
    if files_from is not None:
        given.extend(read_manifest(files_from, stdin))
    videos: list[Input] = []
    skipped: list[Path] = []
    empty: list[Path] = []
    for item in given:
        if isinstance(item, str) and is_url(item):
            videos.append(item)
            continue
        scan = scan_videos([item])
        videos.extend(scan.videos)
        skipped.extend(scan.skipped)
        empty.extend(scan.empty_folders)
    first: dict[str, Input] = {}
    for video in videos:
        first.setdefault(video_key(video), video)
    return VideoScan(list(first.values()), skipped, empty)  # type: ignore[arg-type]  # a URL stays str
