"""Data sets: official split files (UCF-101, HMDB-51), CSV lists, grouped folder splits, missing files, mismatched
split files, training/validation clips, and the decoded-frame cache."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from helpers import SHARED, moving_square_frames, write_cv2_video

from actionrec.data import (
    ClipDataset,
    DataLayout,
    FrameCache,
    VideoItem,
    grouped_split,
    open_dataset,
)
from actionrec.errors import DataError, OptionError, VideoError
from actionrec.io.video import read_frames
from actionrec.model_meta import Preprocessing
from actionrec.transforms import centre_box, frame_resizer, preprocess

UCF_CLASSES = ("ApplyEyeMakeup", "Archery", "Basketball")


def _touch(path: Path) -> Path:
    """A stand-in video: the split readers only check that listed files exist and are not empty."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00" * 16)
    return path


def _ucf(root: Path, *, lists_dir: str = "ucfTrainTestlist", videos_dir: str = "UCF-101") -> Path:
    """A miniature UCF-101: 3 classes x groups g01-g04 x 2 clips; split 1 tests on g01, trains on g02-g04."""
    lists = root / lists_dir
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(UCF_CLASSES, 1)))
    train, test = [], []
    for i, c in enumerate(UCF_CLASSES, 1):
        for g in range(1, 5):
            for clip in range(1, 3):
                rel = f"{c}/v_{c}_g{g:02d}_c{clip:02d}.avi"
                _touch(root / videos_dir / rel)
                (test if g == 1 else train).append((rel, i))
    (lists / "trainlist01.txt").write_text("".join(f"{r} {i}\r\n" for r, i in train))
    (lists / "testlist01.txt").write_text("".join(f"{r}\r\n" for r, _ in test))
    return root


def test_ucf101_split_files(tmp_path):
    """classInd/trainlist/testlist are read: labels in classInd order, groups gXX, test side = testlist; the source
    names the files and counts the videos on each side."""
    root = _ucf(tmp_path / "ucf")
    split = open_dataset(root)
    assert split.labels == UCF_CLASSES
    assert len(split.train) == 18 and len(split.val) == 6 and not split.skipped
    assert {it.group for it in split.val} == {"g01"}
    assert {it.group for it in split.train} == {"g02", "g03", "g04"}
    for it in split.train + split.val:
        assert it.path.is_file() and UCF_CLASSES[it.label] in it.path.name
    assert "split 1: classInd.txt + trainlist01.txt / testlist01.txt (18 / 6 videos)" in split.source
    assert str(root) in split.source and not split.synthetic
    with pytest.raises(DataError, match="testlist02"):  # split 2 files absent
        open_dataset(root, split=2)


def test_ucf101_lists_in_root_and_missing_videos_reported(tmp_path):
    """Split files beside the class folders work; a missing listed video is skipped and reported by name."""
    root = _ucf(tmp_path / "ucf", lists_dir=".", videos_dir=".")
    (root / "Archery" / "v_Archery_g03_c02.avi").unlink()
    split = open_dataset(root, layout=DataLayout.ucf101)
    assert split.skipped == ("Archery/v_Archery_g03_c02.avi",)
    assert len(split.train) == 17
    assert "skipped 1" in split.summary() and "v_Archery_g03_c02" in split.summary()


def test_ucf101_mismatched_split_files_raise(tmp_path):
    """A class missing from classInd, a label number contradicting the folder, or most files missing: DataError."""
    root = _ucf(tmp_path / "a")
    lists = root / "ucfTrainTestlist"
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n")
    with pytest.raises(DataError, match=r"Basketball.*not in classInd"):
        open_dataset(root)

    root = _ucf(tmp_path / "b")
    lists = root / "ucfTrainTestlist"
    text = (lists / "trainlist01.txt").read_text().replace("c01.avi 1", "c01.avi 2", 1)
    (lists / "trainlist01.txt").write_text(text)
    with pytest.raises(DataError, match=r"trainlist01\.txt line 1: label 2 is Archery"):
        open_dataset(root)

    root = _ucf(tmp_path / "c")
    for f in list((root / "UCF-101").rglob("*.avi"))[:-3]:
        f.unlink()
    with pytest.raises(DataError, match="does not match the video folder"):
        open_dataset(root)

    root = _ucf(tmp_path / "d")
    (root / "ucfTrainTestlist" / "testlist01.txt").write_text("\n")
    with pytest.raises(DataError, match="empty split file"):
        open_dataset(root)


def _hmdb(root: Path) -> Path:
    """A miniature HMDB-51: 2 classes x 6 clips from 3 source videos; marks 1 (train), 2 (test), 0 (unused)."""
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for c in ("brush_hair", "wave"):
        lines = []
        for src in range(3):
            for k in range(2):
                name = f"Source{src}_{c}_f_nm_np1_ba_goo_{k}.avi"
                _touch(root / "videos" / c / name)
                lines.append(f"{name} {(1, 2, 0)[src]} ")
        (splits / f"{c}_test_split1.txt").write_text("\n".join(lines) + "\n")
    return root


def test_hmdb51_split_files(tmp_path):
    """<class>_test_split1.txt: 1 = train, 2 = test, 0 = unused; videos found under a subfolder; clips of one
    source video share a group."""
    split = open_dataset(_hmdb(tmp_path / "hmdb"))
    assert split.labels == ("brush_hair", "wave")
    assert len(split.train) == 4 and len(split.val) == 4
    assert all("Source0" in it.path.name for it in split.train)
    assert all("Source1" in it.path.name for it in split.val)
    assert len({it.group for it in split.train}) == 2  # one source video per class
    assert "hmdb51 split 1" in split.source


def test_hmdb51_bad_mark_raises(tmp_path):
    """A split line whose mark is not 0, 1 or 2 raises DataError naming the file and line."""
    root = _hmdb(tmp_path / "hmdb")
    f = root / "testTrainMulti_7030_splits" / "wave_test_split1.txt"
    f.write_text(f.read_text().replace(" 2 ", " 7 ", 1))
    with pytest.raises(DataError, match=r"wave_test_split1.txt line \d+: expected"):
        open_dataset(root)


def test_csv_list_header_optional_and_grouped(tmp_path):
    """A path,label CSV (paths relative to it, header optional) is split by group; missing rows are skipped."""
    rows = []
    for label in ("left", "right"):
        for person in range(5):
            for take in range(2):
                rel = f"clips/{label}_p{person}_t{take}.mp4"
                _touch(tmp_path / rel)
                rows.append(f"{rel},{label}")
    rows.append("clips/gone.mp4,left")
    for header in ("path,label\n", ""):
        (tmp_path / "list.csv").write_text(header + "\n".join(rows) + "\n")
        split = open_dataset(tmp_path / "list.csv", group_regex=r"_(p\d)_", val_fraction=0.2, seed=3)
        assert split.labels == ("left", "right")
        assert len(split.train) + len(split.val) == 20
        assert split.skipped == (str(tmp_path / "clips" / "gone.mp4"),)
        assert not {it.group for it in split.train} & {it.group for it in split.val}
        assert {it.label for it in split.val} == {0, 1}


def test_grouped_split_keeps_groups_together_and_classes_on_both_sides():
    """Grouped split: no group on both sides, every class on both sides, about val_fraction held out, and
    the same split for the same seed."""
    items = [VideoItem(Path(f"c{c}/p{p}_{k}.mp4"), c, f"p{p}") for c in range(4) for p in range(10) for k in range(3)]
    train, val = grouped_split(items, 4, 0.2, seed=5)
    assert not {it.group for it in train} & {it.group for it in val}
    assert {it.label for it in train} == {it.label for it in val} == set(range(4))
    assert 0.1 <= len(val) / len(items) <= 0.3
    assert grouped_split(items, 4, 0.2, seed=5) == (train, val)
    assert grouped_split(items, 4, 0.2, seed=6) != (train, val)


def test_folder_regex_and_bad_input(tmp_path):
    """Folder-per-class: labels from folder names, groups from the regex; no videos raise DataError, a bad regex or
    a regex matching nothing an OptionError naming --group-regex (a usage error)."""
    for c in ("jump", "run"):
        for p in range(4):
            _touch(tmp_path / "data" / c / "sub" / f"{c}_s{p}_a.avi")
            _touch(tmp_path / "data" / c / f"{c}_s{p}_b.mp4")
    split = open_dataset(tmp_path / "data", group_regex=r"_(s\d)_", val_fraction=0.25)
    assert split.labels == ("jump", "run")
    assert not {it.group for it in split.train} & {it.group for it in split.val}
    assert len(split.train) + len(split.val) == 16
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no videos"):
        open_dataset(tmp_path / "empty")
    with pytest.raises(DataError, match="no such data folder"):
        open_dataset(tmp_path / "nope")
    with pytest.raises(OptionError, match="not a regular expression") as e:  # the option given wrong: exit 2
        open_dataset(tmp_path / "data", group_regex="(unclosed")
    assert e.value.option == "group-regex"
    with pytest.raises(OptionError, match="matches none") as e:
        open_dataset(tmp_path / "data", group_regex=r"zzz")
    assert e.value.option == "group-regex"


@pytest.fixture(scope="module")
def clip_videos(tmp_path_factory) -> list[VideoItem]:
    d = tmp_path_factory.mktemp("clipvids")
    return [
        VideoItem(write_cv2_video(d / "long.avi", moving_square_frames(30, 64, 48, seed=1), 25, "MJPG"), 0, "a"),
        VideoItem(write_cv2_video(d / "short.mp4", moving_square_frames(5, 64, 48, seed=2)), 1, "b"),
    ]


def test_training_clips_are_reproducible_and_jittered(clip_videos):
    """A training item depends only on (seed, epoch, index): the same twice, different in another epoch."""
    spec = Preprocessing(clip_len=6, frame_step=2, resize=36, crop=32)
    ds = ClipDataset(clip_videos, spec, train=True, seed=1)
    x, label = ds[0]
    assert x.shape == (3, 6, 32, 32) and x.dtype.is_floating_point and label == 0
    assert np.array_equal(ds[0][0], ClipDataset(clip_videos, spec, train=True, seed=1)[0][0])
    seen = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        seen.add(ds[0][0].numpy().tobytes())
    assert len(seen) > 1
    assert ds[1][0].shape == (3, 6, 32, 32)  # a 5-frame video is looped to fill the window


def test_validation_clips_use_the_one_pipeline(clip_videos):
    """Validation clips are evenly spaced windows, centre-cropped by `preprocess`, exactly as computed by hand."""
    spec = Preprocessing(clip_len=4, resize=36, crop=32)
    ds = ClipDataset(clip_videos, spec, train=False, clips_per_video=3, tagged=True)
    assert len(ds) == 6
    x, label, index, decoded = ds[2]  # video 0, third window: starts at 30 - 4 = 26
    frames = read_frames(clip_videos[0].path, [26, 27, 28, 29], frame_resizer(spec))
    expected = preprocess(frames, spec, centre_box(*frames.shape[1:3], spec))[0]
    assert index == 2 and label == 0 and decoded and np.array_equal(x.numpy(), expected)


def test_cache_gives_identical_clips(clip_videos, tmp_path):
    """Clips read from the frame cache equal clips decoded directly, in training and validation mode."""
    spec = Preprocessing(clip_len=4, frame_step=2, resize=36, crop=32)
    cache = FrameCache(tmp_path / "cache")
    for train in (True, False):
        direct = ClipDataset(clip_videos, spec, train=train, seed=2, clips_per_video=2)
        cached = ClipDataset(clip_videos, spec, train=train, seed=2, clips_per_video=2, cache=cache)
        for epoch in range(2):
            direct.set_epoch(epoch)
            cached.set_epoch(epoch)
            for i in range(len(direct)):
                assert np.array_equal(direct[i][0].numpy(), cached[i][0].numpy())
    files = list((tmp_path / "cache").glob("*.npy"))
    assert len(files) == 2  # one per video, reused across epochs and modes
    stamp = {f: f.stat().st_mtime_ns for f in files}
    time.sleep(0.01)
    cached[0]
    assert {f: f.stat().st_mtime_ns for f in files} == stamp  # read, not rewritten


def test_cache_key_follows_the_video_and_resize(clip_videos, tmp_path):
    """Another resize or a changed video gets another cache file."""
    cache = FrameCache(tmp_path)
    a = cache.file_for(clip_videos[0].path, Preprocessing(resize=36, crop=32))
    b = cache.file_for(clip_videos[0].path, Preprocessing(resize=40, crop=32))
    assert a != b
    assert cache.frames(clip_videos[0].path, Preprocessing(resize=36, crop=32)).shape == (30, 36, 48, 3)


@pytest.mark.skipif(not (SHARED / "real" / "weizmann4").is_dir(), reason="shared data absent")
def test_weizmann_split_by_person():
    """The real Weizmann subset, split by person: no person (and so no mirrored copy) on both sides."""
    split = open_dataset(SHARED / "real" / "weizmann4", group_regex=r"_(s\d+)_")
    assert split.labels == ("bend", "jack", "wave1", "wave2")
    assert not {it.group for it in split.train} & {it.group for it in split.val}
    assert {it.label for it in split.val} == set(range(4))


def test_unreadable_videos_are_skipped_and_reported(clip_videos, tmp_path, caplog):
    """verify=True drops videos whose container cannot be opened, naming them in `skipped`; a clip that fails to
    decode later gives, in a tagged dataset (training and validation alike), a blank clip marked not decoded that
    keeps its video's index and label, so that the training loop can drop it and name the file once; an untagged
    dataset raises the VideoError."""
    for c in ("a", "b"):
        for k in range(3):
            (tmp_path / c).mkdir(exist_ok=True)
            (tmp_path / c / f"{k}.avi").write_bytes(clip_videos[0].path.read_bytes())
    (tmp_path / "b" / "1.avi").write_bytes(b"RIFF" + bytes(range(200)))
    split = open_dataset(tmp_path, val_fraction=0.34, verify=True)
    assert split.skipped == (str(tmp_path / "b" / "1.avi"),)
    assert len(split.train) + len(split.val) == 5 and "skipped 1" in split.summary()
    assert len(open_dataset(tmp_path, val_fraction=0.34).skipped) == 0  # without verify: only existence checked

    spec = Preprocessing(clip_len=4, resize=36, crop=32)
    items = [VideoItem(tmp_path / "b" / "1.avi", 1, "x"), clip_videos[0]]
    for train in (True, False):
        bad = ClipDataset(items, spec, train=train, tagged=True)[0]
        assert not bad.decoded and (bad.index, bad.label) == (0, 1)
        assert bad.clip.shape == (3, 4, 32, 32) and not bad.clip.any()
        good = ClipDataset(items, spec, train=train, tagged=True)[1]
        assert good.decoded and good.label == clip_videos[0].label and good.clip.any()
        with pytest.raises(VideoError, match=r"1\.avi"):
            ClipDataset(items, spec, train=train)[0]
