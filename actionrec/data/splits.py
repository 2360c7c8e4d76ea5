"""Train/validation splits: the labelled video (`VideoItem`), the split (`DataSplit`), the grouped random split
(`grouped_split`, groups from a file-name regex) and the checks every split passes (`finish_split`)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, OptionError


@dataclass(frozen=True)
class VideoItem:
    path: Path
    label: int  # index into labels
    group: str  # who/what the clip belongs to (person, source video) for grouped splits


@dataclass(frozen=True)
class DataSplit:
    labels: tuple[str, ...]
    train: tuple[VideoItem, ...]
    val: tuple[VideoItem, ...]  # the held-out side (UCF/HMDB test list, or the grouped val split)
    source: str  # where from and how split: "<videos>; split 1: classInd.txt + ..." / "folder <root>, grouped by file"
    skipped: tuple[str, ...]  # missing/unreadable entries, reported once by name and count
    synthetic: bool = False  # rendered by `actionrec synth` (its synth.json card beside the split files)
    by_file: bool = False  # split by file, for want of a group: one person's clips can fall on both sides
    grouped: bool = False  # split into whole groups here (folder, CSV), not by official split files

    def summary(self) -> str:
        """One line: where the data came from and how many videos (and, split by group, groups) each side holds,
        as split: e.g. "...: 4 classes; split by group: 1 group (9 videos) train, 1 group (9 videos) validation"."""
        text = f"{self.source}: {len(self.labels)} classes; "
        if self.grouped and not self.by_file:
            val = f"{_groups(self.val)} validation" if self.val else "none held out"
            text += f"split by group: {_groups(self.train)} train, {val}"
        else:
            text += f"{len(self.train)} train / {len(self.val)} validation videos"
        if self.skipped:
            names = ", ".join(self.skipped[:5]) + (", ..." if len(self.skipped) > 5 else "")
            text += f"; skipped {len(self.skipped)} missing or unreadable: {names}"
        return text


def _groups(items: Sequence[VideoItem]) -> str:
    """How many groups and videos `items` holds: "1 group (9 videos)"."""
    groups, videos = len({it.group for it in items}), len(items)
    return f"{groups} group{'s' if groups != 1 else ''} ({videos} video{'s' if videos != 1 else ''})"


def group_pattern(group_regex: str | None) -> re.Pattern[str] | None:
    """The compiled group regex (None when none is given); a bad one is the user's option given wrong
    (`OptionError`, --group-regex)."""
    if not group_regex:
        return None
    try:
        return re.compile(group_regex)
    except re.error as e:
        raise OptionError("group-regex", f"{group_regex!r}: not a regular expression ({e})") from None


def group_of(pattern: re.Pattern[str], name: str) -> str | None:
    """The group a file name belongs to: the regex's first capture group, or its whole match; None if no match."""
    m = pattern.search(name)
    if m is None:
        return None
    return m.group(1) if m.groups() and m.group(1) is not None else m.group(0)


def grouped_split(
    items: Sequence[VideoItem], num_classes: int, val_fraction: float, seed: int
) -> tuple[tuple[VideoItem, ...], tuple[VideoItem, ...]]:
    """Split whole groups: about `val_fraction` of each class's clips to validation, every class on both sides
    where it has clips in two or more groups, and at least one clip of every class left for training."""
    by_group: dict[str, list[VideoItem]] = defaultdict(list)
    for it in items:
        by_group[it.group].append(it)
    if val_fraction <= 0 or len(by_group) < 2:
        return tuple(items), ()
    names = sorted(by_group)
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    counts = {g: Counter(it.label for it in by_group[g]) for g in order}
    total = Counter(it.label for it in items)
    groups_of = Counter(c for g in order for c in counts[g])
    target = {c: max(round(val_fraction * total[c]), 1 if groups_of[c] > 1 else 0) for c in total}
    in_val: set[str] = set()
    val_n, train_n = Counter(), Counter(total)

    def safe(g: str) -> bool:  # moving g leaves every class some training clips
        return all(train_n[c] - k > 0 for c, k in counts[g].items())

    def move(g: str) -> None:
        in_val.add(g)
        for c, k in counts[g].items():
            val_n[c] += k
            train_n[c] -= k

    for g in order:
        useful = sum(min(k, max(target[c] - val_n[c], 0)) for c, k in counts[g].items())
        if useful and 2 * useful >= sum(counts[g].values()) and safe(g):
            move(g)
    for c in sorted(total):  # every class on both sides where possible
        if val_n[c] == 0 and groups_of[c] > 1:
            for g in order:
                if g not in in_val and c in counts[g] and safe(g):
                    move(g)
                    break
    train = tuple(it for it in items if it.group not in in_val)
    val = tuple(it for it in items if it.group in in_val)
    return train, val


def finish_split(
    labels: tuple[str, ...],
    train: tuple[VideoItem, ...],
    val: tuple[VideoItem, ...],
    source: str,
    skipped: list[str],
    where: Path,
    need_val: bool = True,
    synthetic: bool = False,
    by_file: bool = False,
    grouped: bool = False,
) -> DataSplit:
    """The DataSplit, once it has two classes, training videos and (where `need_val`) validation videos."""
    if len(labels) < 2:
        raise DataError(f"{where}: only {len(labels)} class ({', '.join(labels)}); a classifier needs at least 2")
    if not train:
        raise DataError(f"{where}: the training side of the split is empty")
    if need_val and not val:
        raise DataError(f"{where}: the validation side of the split is empty (too few videos or groups)")
    return DataSplit(labels, train, val, source, tuple(skipped), synthetic, by_file, grouped)
