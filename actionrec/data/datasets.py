"""Labelled video data sets: reading the layouts (folder per class, UCF-101 and HMDB-51 split files, CSV lists),
grouped train/validation splits, the training/validation clip Dataset, and the decoded-frame cache.

Every clip goes through `transforms.preprocess`; this module only picks which frames and which crop box.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..config import DataFormat, Preprocessing
from ..errors import DataError, VideoError
from ..io.files import atomic_path
from ..io.video import VIDEO_EXTENSIONS, iter_windows, probe, read_frames, uniform_starts
from ..synth import SYNTH_CARD, SYNTH_DATA
from ..transforms import color_augment, frame_resizer, preprocess, random_box

log = logging.getLogger(__name__)  # clips replaced mid-training; no handler configured: one plain line on stderr
MAX_MISSING_FRACTION = 0.5  # a list with more than this share of its videos missing does not match the folder


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
    source: (
        str  # human description, e.g. "<videos>; split 1: classInd.txt + ..." / "folder, grouped 80/20 by regex ..."
    )
    skipped: tuple[str, ...]  # missing/unreadable entries, reported once by name and count
    synthetic: bool = False  # rendered by `actionrec synth` (its synth.json card beside the split files)
    by_file: bool = False  # split by file, for want of a group: one person's clips can fall on both sides

    def summary(self) -> str:
        """One line: where the data came from and how many videos each side holds."""
        text = f"{self.source}: {len(self.labels)} classes, {len(self.train)} train / {len(self.val)} val videos"
        if self.skipped:
            names = ", ".join(self.skipped[:5]) + (", ..." if len(self.skipped) > 5 else "")
            text += f"; skipped {len(self.skipped)} missing or unreadable: {names}"
        return text


def open_dataset(
    root: Path,
    *,
    fmt: DataFormat = DataFormat.auto,
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
    split_ = _open(Path(root), DataFormat(fmt), split, val_fraction, group_regex, seed, csv_path)
    return _verified(split_, Path(root)) if verify else split_


def _open(
    root: Path,
    fmt: DataFormat,
    split: int,
    val_fraction: float,
    group_regex: str | None,
    seed: int,
    csv_path: Path | None,
) -> DataSplit:
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val fraction {val_fraction}: must be at least 0 and below 1")
    if csv_path is None and root.suffix.lower() == ".csv" and (fmt in (DataFormat.auto, DataFormat.csv)):
        csv_path = root
    if fmt == DataFormat.auto:
        fmt = detect_format(root) if csv_path is None else DataFormat.csv
    if fmt in (DataFormat.ucf101, DataFormat.hmdb51) and split not in (1, 2, 3):
        raise DataError(f"{root}: split {split}: {fmt.value} has splits 1, 2 and 3")
    if fmt == DataFormat.csv:
        if csv_path is None:
            raise DataError(f"{root}: the csv format needs a .csv file (give it as DATA or with --csv)")
        return _open_csv(Path(csv_path), val_fraction, group_regex, seed)
    _check_dir(root)
    if fmt == DataFormat.ucf101:
        return _open_ucf101(root, split)
    if fmt == DataFormat.hmdb51:
        return _open_hmdb51(root, split)
    return _open_folder(root, val_fraction, group_regex, seed)


def _verified(split: DataSplit, where: Path, threads: int = 8) -> DataSplit:
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
    return _finish(
        split.labels,
        train,
        val,
        split.source,
        skipped,
        where,
        need_val=bool(split.val),
        synthetic=split.synthetic,
        by_file=split.by_file,
    )


def detect_format(root: Path) -> DataFormat:
    """UCF-101 when a classInd.txt is near the root, HMDB-51 when split files are, otherwise folder per class."""
    if root.is_file() and root.suffix.lower() == ".csv":
        return DataFormat.csv
    _check_dir(root)
    if _find_near(root, "classInd.txt"):
        return DataFormat.ucf101
    if _find_near(root, "*_test_split[123].txt"):
        return DataFormat.hmdb51
    return DataFormat.folder


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
    source = f"{what}; split {split}: {class_file.name} + {train_file.name} / {test_file.name}"
    return _finish(labels, sides[0], sides[1], source, skipped, root, synthetic=synthetic)


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
    return _finish(labels, sides[0], sides[1], f"hmdb51 split {split} ({videos})", missing, root)


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
    pattern = _compile(group_regex)
    unmatched = 0
    items = []
    for p, name in found:
        if str(p) in gone:
            continue
        group = (groups or {}).get(p)
        if group is None and pattern is not None:
            m = pattern.search(p.name)
            group = (m.group(1) if m.groups() and m.group(1) is not None else m.group(0)) if m else None
            unmatched += m is None
        items.append(VideoItem(p, index[name], group if group is not None else f"{name}/{p.stem}"))
    if pattern is not None and unmatched == len(items):
        raise DataError(f"{where}: group regex {group_regex!r} matches none of the {len(items)} file names")
    train, val = grouped_split(items, len(labels), val_fraction, seed)
    how = f"by regex {group_regex!r}" if pattern else ("by the group column" if groups else "by file")
    source = f"{kind} {where}, grouped {how}, {round(100 * (1 - val_fraction))}/{round(100 * val_fraction)} split"
    if unmatched:
        source += f" ({unmatched} names did not match the regex: each its own group)"
    by_file = not pattern and not groups
    return _finish(labels, train, val, source, missing, where, need_val=val_fraction > 0, by_file=by_file)


def _compile(group_regex: str | None) -> re.Pattern[str] | None:
    if not group_regex:
        return None
    try:
        return re.compile(group_regex)
    except re.error as e:
        raise DataError(f"group regex {group_regex!r}: {e}") from None


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


def _finish(
    labels: tuple[str, ...],
    train: tuple[VideoItem, ...],
    val: tuple[VideoItem, ...],
    source: str,
    skipped: list[str],
    where: Path,
    need_val: bool = True,
    synthetic: bool = False,
    by_file: bool = False,
) -> DataSplit:
    if len(labels) < 2:
        raise DataError(f"{where}: only {len(labels)} class ({', '.join(labels)}); a classifier needs at least 2")
    if not train:
        raise DataError(f"{where}: the training side of the split is empty")
    if need_val and not val:
        raise DataError(f"{where}: the validation side of the split is empty (too few videos or groups)")
    return DataSplit(labels, train, val, source, tuple(skipped), synthetic, by_file)


# ---- decoding, cache, clips ----


def decode_all(path: Path, spec: Preprocessing) -> np.ndarray:
    """Every frame of a video, resized as `preprocess` expects: (N, H, W, 3) uint8 RGB."""
    resize = frame_resizer(spec)
    count = probe(path).frames
    if count > 0:
        return read_frames(path, range(count), resize)
    return np.stack([w.frames[0] for w in iter_windows(path, clip_len=1, stride=1, transform=resize)])


class FrameCache:
    """Decoded, resized frames of each video as one uint8 `.npy` file, memory-mapped on read.

    Keyed by the video's absolute path, modification time, size and the resize, so that a changed video or
    another resize never reads stale frames. Files are written atomically: concurrent workers are safe.
    """

    VERSION = 1  # part of the key: bump when the stored layout changes

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(f"{self.directory}: cannot create the frame cache folder ({e.strerror})") from None

    def file_for(self, path: Path, spec: Preprocessing) -> Path:
        st = Path(path).stat()
        key = f"{Path(path).resolve()}|{st.st_mtime_ns}|{st.st_size}|{spec.resize}|{spec.resize_to}|{self.VERSION}"
        return self.directory / f"{hashlib.sha1(key.encode()).hexdigest()}.npy"

    def frames(self, path: Path, spec: Preprocessing) -> np.ndarray:
        """All frames of the video (N, H, W, 3) uint8, decoded once and read from disk afterwards."""
        target = self.file_for(path, spec)
        try:
            return np.load(target, mmap_mode="r")
        except FileNotFoundError:
            pass
        except (ValueError, OSError):  # unreadable (e.g. a disk that filled up): decode again
            target.unlink(missing_ok=True)
        frames = decode_all(path, spec)
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(frames))
        return np.load(target, mmap_mode="r")


def window_indices(n_frames: int, start: int, spec: Preprocessing) -> list[int]:
    """Frame indices of the window starting at `start`; a video shorter than one window is looped."""
    if n_frames < spec.span:
        return [(k * spec.frame_step) % n_frames for k in range(spec.clip_len)]
    return [start + k * spec.frame_step for k in range(spec.clip_len)]


class EpochSampler(Sampler):
    """A sampler's indices as (epoch, index) pairs: the epoch reaches `ClipDataset` with each item, also in
    persistent DataLoader workers, whose copies of the dataset `set_epoch` cannot reach."""

    def __init__(self, sampler: Sampler):
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self):
        return ((self.epoch, int(i)) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


def skipped_label(video: int) -> int:
    """The label a clip of an undecodable video carries: negative, and it names the video (-1 - its index)."""
    return -1 - video


def skipped_video(label: int) -> int:
    """The video index a negative label names (`skipped_label`'s inverse)."""
    return -1 - label


class ClipDataset(Dataset):
    """Clips of labelled videos for training (random window start, multi-scale crop, optional flip and colour
    changes) or validation (`clips_per_video` evenly spaced windows, centre crop). Items are (float32
    (3, T, crop, crop), label), plus the item index with `with_index`; the clip of video v, window k is item
    v * clips_per_video + k.

    The random choices of item i in epoch e come from a generator seeded with (seed, e, i): the same whatever
    the number of workers or processes. Call `set_epoch` before each epoch.
    """

    def __init__(
        self,
        items: Sequence[VideoItem],
        spec: Preprocessing,
        *,
        train: bool,
        seed: int = 0,
        clips_per_video: int = 1,
        cache: FrameCache | None = None,
        hflip: bool = True,
        scales: tuple[float, ...] = (1.0, 0.875, 0.75, 0.66),
        color_jitter: float = 0.0,
        channel_shuffle: bool = False,
        with_index: bool = False,
    ):
        if clips_per_video < 1:
            raise ValueError("clips_per_video must be at least 1")
        self.items = tuple(items)
        self.spec = spec
        self.train = train
        self.seed = seed
        self.clips_per_video = 1 if train else clips_per_video
        self.cache = cache
        self.hflip = hflip  # off for direction-dependent classes (walk left vs walk right)
        self.scales = scales  # crop side / short side choices of the multi-scale crop
        self.color_jitter = color_jitter  # brightness / contrast / saturation jitter strength (training only)
        self.channel_shuffle = channel_shuffle  # random RGB order per clip (training only)
        self.with_index = with_index
        self.epoch = 0
        self._counts: dict[Path, int] = {}  # frame counts from the container, per worker

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items) * self.clips_per_video

    def video_of(self, index: int) -> int:
        return index // self.clips_per_video

    def __getitem__(self, index: int | tuple[int, int]):
        """(clip, label[, index]) of item `index`, or of `(epoch, index)` as `EpochSampler` gives them (a persistent
        worker's copy of the dataset never sees `set_epoch`). A video that opens but does not decode gives a blank
        clip whose label is `skipped_label(video)` (negative): the training loop drops it and names the file once."""
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        video = self.video_of(index)
        try:
            x, label = self.clip_array(index, epoch), self.items[video].label
        except VideoError:
            spec = self.spec
            x, label = np.zeros((3, spec.clip_len, spec.crop, spec.crop), np.float32), skipped_label(video)
        out = torch.from_numpy(x)  # (3, T, crop, crop) float32
        return (out, label, index) if self.with_index else (out, label)

    def clip_array(self, index: int, epoch: int | None = None) -> np.ndarray:
        """The preprocessed clip of item `index` (in `epoch`, default the one set): float32 (3, T, crop, crop)."""
        spec = self.spec
        item = self.items[self.video_of(index)]
        frames = self.cache.frames(item.path, spec) if self.cache is not None else None
        n = len(frames) if frames is not None else self._frame_count(item.path)
        if n == 0:
            frames = decode_all(item.path, spec)
            n = len(frames)
        epoch = self.epoch if epoch is None else epoch
        rng = np.random.default_rng([self.seed, epoch, index]) if self.train else None
        last_start = max(n - spec.span, 0)
        if rng is not None:
            start = int(rng.integers(0, last_start + 1))  # temporal jitter
        else:
            starts = uniform_starts(n, spec.span, self.clips_per_video)
            start = starts[min(index % self.clips_per_video, len(starts) - 1)]
        indices = window_indices(n, start, spec)
        if frames is not None:
            clip = np.asarray(frames[indices])  # (T, H, W, 3), copied out of the memory map
        else:
            clip = read_frames(item.path, indices, frame_resizer(spec))
        box = None
        if rng is not None:
            box = random_box(clip.shape[1], clip.shape[2], spec, rng, scales=self.scales, flip=self.hflip)
            if self.color_jitter > 0 or self.channel_shuffle:
                clip = color_augment(clip, rng, jitter=self.color_jitter, shuffle=self.channel_shuffle)
        return preprocess(clip, spec, box)[0]  # (3, T, crop, crop)

    def _frame_count(self, path: Path) -> int:
        if path not in self._counts:
            self._counts[path] = probe(path).frames
        return self._counts[path]
