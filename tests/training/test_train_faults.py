"""Training under faults and for reproducibility: a video that opens but does not decode, in the training or the
validation split, is skipped and named once per run while the run goes on; kill -9 leaves no worker processes
behind; the same seed gives the same metrics with and without persistent decoding workers."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import moving_square_frames, tiny, write_cv2_video
from rich.console import Console

from actionrec.data import DataLayout, clips, frame_cache, open_dataset
from actionrec.errors import VideoError
from actionrec.training import METRICS_FILE, train, training_clips
from actionrec.training.recipe import resolve


@pytest.fixture(scope="module")
def with_bitrot(tmp_path_factory):
    """left / right squares, 8 videos a class, of which 3 a class are named bitrot_* (made undecodable below)."""
    root = tmp_path_factory.mktemp("faulty")
    for label in ("left", "right"):
        (root / label).mkdir()
        for k in range(8):
            frames = moving_square_frames(12, 48, 40, seed=k + (100 if label == "left" else 0))
            name = f"bitrot_{label}_{k}.avi" if k < 3 else f"{label}_{k}.avi"
            write_cv2_video(root / label / name, frames[::-1] if label == "left" else frames, 25, "MJPG")
    return root


def test_training_clips_say_undecodable_with_a_type_only_when_tagged(with_bitrot, tmp_path, monkeypatch):
    """`training_clips` as the benches take it gives (clip, label) pairs, and a video that does not decode raises
    its VideoError naming the file; tagged (as the training loop takes it), that clip is a `Clip` marked not
    decoded, keeping its true label and index: no sentinel label in the data."""

    def rotten(path, *_args, **_kwargs):
        raise VideoError(f"{path}: frame could not be decoded (corrupt stream)")

    monkeypatch.setattr(clips, "read_frames", rotten)
    items = open_dataset(with_bitrot, layout=DataLayout.folder, val_fraction=0.0).train[:1]
    config = resolve(tiny(with_bitrot, tmp_path / "run"))
    with pytest.raises(VideoError, match=items[0].path.name):
        training_clips(items, config, None)[0]
    clip = training_clips(items, config, None, tagged=True)[0]
    assert (clip.decoded, clip.label, clip.index) == (False, items[0].label, 0) and not clip.clip.any()


def test_undecodable_videos_are_skipped_and_named_once(with_bitrot, tmp_path, monkeypatch):
    """Videos whose frames fail to decode (as a bit-rotted file's do) on both sides of the split: the run finishes
    all its epochs, each such file is named exactly once in the log, and validation is scored on the others."""

    def rotten(real):
        def read(path, *args, **kwargs):
            if "bitrot" in Path(path).name:
                raise VideoError(f"{path}: frame could not be decoded (corrupt stream)")
            return real(path, *args, **kwargs)

        return read

    # the two readers of frames: clips as decoded, and the frame cache
    monkeypatch.setattr(clips, "read_frames", rotten(clips.read_frames))
    monkeypatch.setattr(frame_cache, "read_all", rotten(frame_cache.read_all))
    split = open_dataset(with_bitrot, layout=DataLayout.folder, val_fraction=0.25, seed=1)
    bad = {it.path for it in split.train + split.val if "bitrot" in it.path.name}
    assert any("bitrot" in it.path.name for it in split.train) and any("bitrot" in it.path.name for it in split.val)
    torch.set_num_threads(1)
    log = io.StringIO()
    config = tiny(with_bitrot, tmp_path / "run", epochs=3, hflip=True, seed=1)
    result = train(config, progress=True, console=Console(file=log, width=400, force_terminal=False))
    assert result.epochs_done == 3
    text = log.getvalue()
    for path in bad:
        assert text.count(str(path)) == 1, path
    records = [json.loads(line) for line in (tmp_path / "run" / METRICS_FILE).read_text().splitlines()]
    assert len(records) == 3
    assert all(np.isfinite(r["train_loss"]) and r["val_video_acc"] is not None for r in records), records


def _children(pid: int) -> set[int]:
    """Every live descendant of `pid`, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_sigkilled_training_leaves_no_orphans(with_bitrot, tmp_path):
    """kill -9 of `actionrec train` with decoding workers: its forkserver, resource tracker and DataLoader workers
    all end within seconds instead of living on under PID 1."""
    cmd = [sys.executable, "-m", "actionrec", "train", str(with_bitrot), "--output", str(tmp_path / "run")]
    cmd += ["--arch", "r3d10", "--width", "4", "--clip-len", "4", "--crop", "32", "--resize", "36"]
    cmd += ["--epochs", "200", "--workers", "2", "--precision", "fp32", "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(_children(proc.pid)) < 4:  # tracker, server, 2+ workers
            time.sleep(0.2)
        children = _children(proc.pid)
        assert len(children) >= 4, "the workers never started"
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(p) for p in children):
        time.sleep(0.2)
    assert not [p for p in children if _alive(p)]


@pytest.mark.slow
def test_same_seed_same_metrics_with_or_without_persistent_workers(with_bitrot, tmp_path):
    """Two fresh runs with one seed give identical metrics every epoch, whether clips are decoded in the training
    process or by 2 persistent DataLoader workers (whose dataset copies learn the epoch from each index)."""

    def metrics(name: str, workers: int) -> list[tuple[float, float]]:
        config = tiny(with_bitrot, tmp_path / name, epochs=3, hflip=True, workers=workers, seed=5)
        train(config, progress=False)
        rows = [json.loads(line) for line in (tmp_path / name / METRICS_FILE).read_text().splitlines()]
        return [(r["train_loss"], r["val_loss"]) for r in rows]

    torch.set_num_threads(1)
    first = metrics("a", 0)
    assert len(first) == 3 and len({loss for loss, _ in first}) == 3  # the epochs differ from each other
    assert metrics("b", 0) == first
    assert metrics("c", 2) == first
