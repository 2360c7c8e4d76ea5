"""Videos that do not decode: those whose container does not open are dropped from a split up front (`verified`).
(A clip of one that opens but does not decode says so itself: `clips.Clip.decoded`.)"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import VideoError
from ..io.video import probe
from .splits import DataSplit, VideoItem, finish_split


def verified(split: DataSplit, where: Path, threads: int = 8) -> DataSplit:
    """The split without the videos whose container cannot be opened, those added to `skipped`."""

    def bad(item: VideoItem) -> bool:
        try:
            probe(item.path)
            return False
        except VideoError:
            return True

    items = split.train + split.val
    with ThreadPoolExecutor(threads) as pool:  # OpenCV releases the GIL while it opens a file
        broken = {it.path for it, b in zip(items, pool.map(bad, items), strict=True) if b}
    if not broken:
        return split
    train = tuple(it for it in split.train if it.path not in broken)
    val = tuple(it for it in split.val if it.path not in broken)
    skipped = [*split.skipped, *sorted(str(p) for p in broken)]
    return finish_split(
        split.labels,
        train,
        val,
        split.source,
        skipped,
        where,
        need_val=bool(split.val),
        synthetic=split.synthetic,
        by_file=split.by_file,
        grouped=split.grouped,
    )
