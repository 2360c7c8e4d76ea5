"""Labelled video data set layouts: folder per class, UCF-101 and HMDB-51 with their split files, CSV lists; which
layout a path holds (`detect_layout`), and `open_dataset`, which reads one into a train/validation `DataSplit`."""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..choices import DataLayout
from ..errors import DataError, OptionError
from ..io.video import VIDEO_EXTENSIONS
from ..synth import SYNTH_CARD, SYNTH_DATA, benchmark_groups
from .splits import DataSplit, VideoItem, finish_split, group_of, group_pattern, grouped_split
from .undecodable import verified

MAX_MISSING_FRACTION = 0.5  # a list with more than this share of its videos missing does not match the folder


def open_dataset(
    root: Path,
    *,
    layout: DataLayout = DataLayout.auto,
    split: int = 1,
    val_fraction: float = 0.2,
    group_regex: str | None = None,
    seed: int = 0,
    csv_path: Path | None = None,
    verify: bool = False,
) -> DataSplit:
    """Read a labelled data set and split it into train and validation videos.

    UCF-101 and HMDB-51 use their official split `split` (1-3); the folder and CSV layouts get a grouped random
    split: `val_fraction` of each class's clips held out, all clips of a group (first capture group, or whole
    match, of `group_regex` in the file name; default the file stem) on one side, deterministic from `seed`.
    Raises DataError when the layout or split files do not match the videos. With `verify`, every video's
    container is also opened (in threads) and those that cannot be are skipped after the split, so the split
    stays the one `evaluate` reproduces without verifying.
    """
    split_ = _open(Path(root), DataLayout(layout), split, val_fraction, group_regex, seed, csv_path)
    return verified(split_, Path(root)) if verify else split_


def _open(
    root: Path,
    layout: DataLayout,
    split: int,
    val_fraction: float,
    group_regex: str | None,
    seed: int,
    csv_path: Path | None,
) -> DataSplit:
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val fraction {val_fraction}: must be at least 0 and below 1")
    if csv_path is None and root.suffix.lower() == ".csv" and (layout in (DataLayout.auto, DataLayout.csv)):
        csv_path = root
    if layout == DataLayout.auto:
        layout = detect_layout(root) if csv_path is None else DataLayout.csv
    if layout in (DataLayout.ucf101, DataLayout.hmdb51) and split not in (1, 2, 3):
        raise DataError(f"{root}: split {split}: {layout.value} has splits 1, 2 and 3")
    if layout == DataLayout.csv:
        if csv_path is None:
            raise DataError(f"{root}: the csv format needs a .csv file (give it as DATA or with --csv)")
        return _open_csv(Path(csv_path), val_fraction, group_regex, seed)
    _check_dir(root)
    if layout == DataLayout.ucf101:
        return _open_ucf101(root, split)
    if layout == DataLayout.hmdb51:
        return _open_hmdb51(root, split)
    return _open_folder(root, val_fraction, group_regex, seed)


def detect_layout(root: Path) -> DataLayout:
    """UCF-101 when a classInd.txt is near the root, HMDB-51 when split files are, otherwise folder per class."""
    if root.is_file() and root.suffix.lower() == ".csv":
        return DataLayout.csv
    _check_dir(root)
    if _find_near(root, "classInd.txt"):
        return DataLayout.ucf101
    if _find_near(root, "*_test_split[123].txt"):
        return DataLayout.hmdb51
    return DataLayout.folder


def _check_dir(root: Path) -> None:
    if not root.exists():
        raise DataError(f"{root}: no such data folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (give a data folder, or a .csv list)")


def _find_near(root: Path, pattern: str) -> list[Path]:
    """Files matching `pattern` in the root or up to two folders below it (where split files usually sit)."""
    found = sorted(root.glob(pattern))
    level = [d for d in sorted(root.iterdir()) if d.is_dir()]
    for _ in range(2):
        if found:
            break
        for d in level:
            found.extend(sorted(d.glob(pattern)))
        level = [s for d in level for s in sorted(d.iterdir()) if s.is_dir() and not _looks_like_videos(s)]
    return found


def _looks_like_videos(d: Path) -> bool:
    """A class folder full of videos: not worth descending into when looking for split files."""
    for i, f in enumerate(d.iterdir()):
        if f.suffix.lower() in VIDEO_EXTENSIONS:
            return True
        if i > 20:
            break
    return False


def _readable(p: Path) -> bool:
    try:
        return p.is_file() and p.stat().st_size > 0 and os.access(p, os.R_OK)
    except OSError:
        return False


def _video_root(root: Path, rel_paths: Sequence[str], listing: Path) -> Path:
    """The folder the split file's relative paths are under: the root itself or one of its subfolders."""
    sample = rel_paths[:: max(len(rel_paths) // 50, 1)][:50]
    candidates = [root, *(d for d in sorted(root.iterdir()) if d.is_dir())]
    hits = [sum((c / r).is_file() for r in sample) for c in candidates]
    best = int(np.argmax(hits))
    if hits[best] == 0:
        raise DataError(f"{listing}: none of its videos (e.g. {rel_paths[0]}) are under {root} or its subfolders")
    return candidates[best]


def _check_missing(listing: Path, listed: int, missing: list[str]) -> None:
    if listed and len(missing) > MAX_MISSING_FRACTION * listed:
        raise DataError(
            f"{listing}: {len(missing)} of its {listed} videos are missing (e.g. {missing[0]}): "
            "the split file does not match the video folder"
        )


# ---- UCF-101 ----

_UCF_GROUP = re.compile(r"_(g\d+)_c\d+", re.IGNORECASE)


def _open_ucf101(root: Path, split: int) -> DataSplit:
    class_files = _find_near(root, "classInd.txt")
    if not class_files:
        raise DataError(f"{root}: no classInd.txt (UCF-101 split files) in the folder or its subfolders")
    class_file = class_files[0]
    lists = class_file.parent
    labels = _read_class_ind(class_file)
    index = {name: i for i, name in enumerate(labels)}
    train_file, test_file = lists / f"trainlist0{split}.txt", lists / f"testlist0{split}.txt"
    for f in (train_file, test_file):
        if not f.is_file():
            raise DataError(f"{f}: missing (UCF-101 split {split} needs trainlist0{split}.txt, testlist0{split}.txt)")
    train_rows = _read_ucf_list(train_file, labels, index, with_label=True)
    test_rows = _read_ucf_list(test_file, labels, index, with_label=False)
    videos = _video_root(root, [r for r, _ in train_rows + test_rows], train_file)
    skipped: list[str] = []
    sides = []
    for listing, rows in ((train_file, train_rows), (test_file, test_rows)):
        missing = [rel for rel, _ in rows if not _readable(videos / rel)]
        _check_missing(listing, len(rows), missing)
        skipped.extend(missing)
        gone = set(missing)
        sides.append(tuple(_ucf_item(videos / rel, label) for rel, label in rows if rel not in gone))
    synthetic = (lists / SYNTH_CARD).is_file()
    what = SYNTH_DATA if synthetic else str(videos)
    counts = f"{len(sides[0])} / {len(sides[1])} videos"
    if synthetic:
        counts += _synth_actors(lists / SYNTH_CARD)
    source = f"{what}; split {split}: {class_file.name} + {train_file.name} / {test_file.name} ({counts})"
    return finish_split(labels, sides[0], sides[1], source, skipped, root, synthetic=synthetic)


def _synth_actors(card: Path) -> str:
    """ ", N actors, M held out" from a rendered benchmark's card; empty when the card doesn't say."""
    try:
        n_groups, n_test = benchmark_groups(int(json.loads(card.read_text(encoding="utf-8"))["clips_per_class"]))
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f", {n_groups} actors, {n_test} held out"


def _read_class_ind(path: Path) -> tuple[str, ...]:
    names: dict[int, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataError(f"{path} line {n}: expected '<index> <ClassName>', got {line.strip()!r}")
        names[int(parts[0])] = parts[1]
    if not names:
        raise DataError(f"{path}: no classes listed")
    if sorted(names) != list(range(1, len(names) + 1)):
        raise DataError(f"{path}: class indices must run 1..{len(names)} without gaps")
    return tuple(names[i] for i in range(1, len(names) + 1))


def _read_ucf_list(
    path: Path, labels: tuple[str, ...], index: dict[str, int], *, with_label: bool
) -> list[tuple[str, int]]:
    """(relative path, label index) of each line; the label from the folder, checked against the number if any."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        rel = parts[0].replace("\\", "/")
        folder = rel.split("/")[0] if "/" in rel else None
        if folder is None:
            raise DataError(f"{path} line {n}: expected '<Class>/<video>', got {rel!r}")
        if folder not in index:
            raise DataError(f"{path} line {n}: class {folder!r} of {rel} is not in classInd.txt")
        label = index[folder]
        if with_label and len(parts) > 1:
            if not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(labels):
                raise DataError(f"{path} line {n}: label {parts[1]!r} is not a classInd.txt index")
            if int(parts[1]) - 1 != label:
                raise DataError(
                    f"{path} line {n}: label {parts[1]} is {labels[int(parts[1]) - 1]} but the video is in {folder}/"
                )
        rows.append((rel, label))
    if not rows:
        raise DataError(f"{path}: empty split file")
    return rows


def _ucf_item(path: Path, label: int) -> VideoItem:
    m = _UCF_GROUP.search(path.stem)
    return VideoItem(path, label, m.group(1).lower() if m else path.stem)


# ---- HMDB-51 ----

_HMDB_CLIP = re.compile(r"_\d+$")


def _open_hmdb51(root: Path, split: int) -> DataSplit:
    suffix = f"_test_split{split}.txt"
    files = _find_near(root, f"*{suffix}")
    if not files:
        raise DataError(f"{root}: no '<class>{suffix}' files (HMDB-51 split {split}) in the folder or its subfolders")
    labels = tuple(sorted(f.name.removesuffix(suffix) for f in files))
    by_label = {f.name.removesuffix(suffix): f for f in files}
    rows: dict[str, list[tuple[str, int, int]]] = {"train": [], "test": []}  # (class/video, label, line)
    for label, name in enumerate(labels):
        f = by_label[name]
        for n, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise DataError(f"{f} line {n}: expected '<video> <0|1|2>', got {line.strip()!r}")
            if parts[1] != "0":
                rows["train" if parts[1] == "1" else "test"].append((f"{name}/{parts[0]}", label, n))
    for side in ("train", "test"):
        if not rows[side]:
            raise DataError(f"{files[0].parent}: split {split} lists no {side} videos (no '1'/'2' marks)")
    every = [r for r, _, _ in rows["train"] + rows["test"]]
    videos = _video_root(root, every, files[0])
    missing = [rel for rel in every if not _readable(videos / rel)]
    _check_missing(files[0].parent / f"*{suffix}", len(every), missing)
    gone = set(missing)
    sides = [
        tuple(
            VideoItem(videos / rel, label, _HMDB_CLIP.sub("", Path(rel).stem))
            for rel, label, _ in rows[side]
            if rel not in gone
        )
        for side in ("train", "test")
    ]
    return finish_split(labels, sides[0], sides[1], f"hmdb51 split {split} ({videos})", missing, root)


# ---- folder per class, CSV ----


def _open_folder(root: Path, val_fraction: float, group_regex: str | None, seed: int) -> DataSplit:
    classes = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    found: list[tuple[Path, str]] = []
    for d in classes:
        found.extend(
            (f, d.name)
            for f in sorted(d.rglob("*"))
            if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS and not f.name.startswith(".")
        )
    if not found:
        raise DataError(f"{root}: no videos in class folders (expected {root}/<label>/<video>.mp4)")
    labels = tuple(sorted({name for _, name in found}))
    return _grouped(root, labels, found, val_fraction, group_regex, seed, "folder")


def _open_csv(path: Path, val_fraction: float, group_regex: str | None, seed: int) -> DataSplit:
    if not path.is_file():
        raise DataError(f"{path}: no such CSV list")
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"]:
        rows = rows[1:]
    if not rows:
        raise DataError(f"{path}: no rows (expected 'path,label' lines)")
    base = path.parent
    found: list[tuple[Path, str]] = []
    groups: dict[Path, str] = {}
    for n, row in enumerate(rows, start=1):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise DataError(f"{path} row {n}: expected 'path,label[,group]', got {','.join(row)!r}")
        p = Path(row[0].strip())
        p = p if p.is_absolute() else base / p
        found.append((p, row[1].strip()))
        if len(row) > 2 and row[2].strip():
            groups[p] = row[2].strip()
    labels = tuple(sorted({name for _, name in found}, key=lambda s: (0, int(s), s) if s.isdigit() else (1, 0, s)))
    return _grouped(path, labels, found, val_fraction, group_regex, seed, "csv", groups)


def _grouped(
    where: Path,
    labels: tuple[str, ...],
    found: list[tuple[Path, str]],
    val_fraction: float,
    group_regex: str | None,
    seed: int,
    kind: str,
    groups: dict[Path, str] | None = None,
) -> DataSplit:
    missing = [str(p) for p, _ in found if not _readable(p)]
    _check_missing(where, len(found), missing)
    gone = set(missing)
    index = {name: i for i, name in enumerate(labels)}
    pattern = group_pattern(group_regex)
    unmatched = 0
    items = []
    for p, name in found:
        if str(p) in gone:
            continue
        group = (groups or {}).get(p)
        if group is None and pattern is not None:
            group = group_of(pattern, p.name)
            unmatched += group is None
        items.append(VideoItem(p, index[name], group if group is not None else f"{name}/{p.stem}"))
    if pattern is not None and unmatched == len(items):
        raise OptionError("group-regex", f"{group_regex!r} matches none of the {len(items)} file names in {where}")
    train, val = grouped_split(items, len(labels), val_fraction, seed)
    by_file = not pattern and not groups
    how = f"by regex {group_regex!r}" if pattern else ("by the group column" if groups else "by file")
    source = f"{kind} {where}, grouped {how}"
    if unmatched:
        source += f" ({unmatched} names did not match the regex: each its own group)"
    need_val = val_fraction > 0
    return finish_split(labels, train, val, source, missing, where, need_val=need_val, by_file=by_file, grouped=True)
