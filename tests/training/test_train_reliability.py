"""Training reliability: under torchrun a process whose whole batch is undecodable still takes part in the step (no
hang); a run folder has one writer; ties in validation accuracy go to the lower validation loss; the split line says
the real counts; errors keep their type; a regex that matches nothing is a usage error; an unusable frame cache
falls back to none with one warning; a run folder that cannot be written is one line before any training."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import ROOT, moving_square_frames, tiny, write_cv2_video
from rich.console import Console
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.data import frame_cache
from actionrec.errors import ActionrecError, BusyError, OptionError
from actionrec.io.checkpoint import read_meta
from actionrec.io.files import exclusive
from actionrec.model_meta import Preprocessing
from actionrec.training import METRICS_FILE, STATE_FILE, loop, resume_config, run_dir, train
from actionrec.training.validation import improved

runner = CliRunner()


def undecodable_copy(good: Path, bad: Path) -> Path:
    """`good` (an MJPG AVI) with every frame's JPEG data zeroed: the container opens and counts its frames, but no
    frame decodes."""
    data = bytearray(good.read_bytes())
    at = data.find(b"00dc")
    while at >= 0:
        size = int.from_bytes(data[at + 4 : at + 8], "little")
        if 0 < size <= len(data) - at - 8:
            data[at + 8 : at + 8 + size] = bytes(size)
        at = data.find(b"00dc", at + 8)
    bad.write_bytes(bytes(data))
    return bad


@pytest.fixture(scope="module")
def one_bad(tmp_path_factory) -> Path:
    """left / right squares, 3 videos a class, plus one left video that opens but never decodes."""
    root = tmp_path_factory.mktemp("onebad")
    for label in ("left", "right"):
        (root / label).mkdir()
        for k in range(3):
            frames = moving_square_frames(12, 48, 40, seed=k + (100 if label == "left" else 0))
            write_cv2_video(root / label / f"{label}_{k}.avi", frames[::-1] if label == "left" else frames, 25, "MJPG")
    undecodable_copy(root / "left" / "left_0.avi", root / "left" / "bitrot.avi")
    return root


def descendants(pid: int) -> set[int]:
    """Every live descendant of `pid`, from /proc (torchrun starts its workers in sessions of their own)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def run_bounded(cmd: list[str], timeout: float) -> subprocess.CompletedProcess | None:
    """Run `cmd`; None if it is still running after `timeout` s (then it and every process it started are
    killed)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in [*descendants(proc.pid), proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.communicate()
        return None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.slow
def test_torchrun_rank_with_only_undecodable_clips_does_not_hang(one_bad, tmp_path):
    """Two processes under torchrun (gloo, CPU), one clip each per step, and one training video that never decodes:
    each epoch one process's whole batch is that video, yet both take every step together, so the run finishes
    (instead of one process waiting forever at the gradient all-reduce), names the file once, and writes its
    metrics."""
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    args = [
        *("-m", "actionrec", "train", str(one_bad), "-o", str(run), "--arch", "r3d10", "--width", "4"),
        *("--clip-len", "4", "--crop", "32", "--resize", "36", "--epochs", "2", "-b", "2", "--no-hflip"),
        *("--precision", "fp32", "--workers", "0", "--val-fraction", "0", "--threads", "1", "--no-cache"),
    ]
    done = run_bounded([*cmd, *args], timeout=240)
    assert done is not None, "torchrun hung: a process waited for one that skipped its step"
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("bitrot.avi: cannot decode") == 1, done.stderr[-3000:]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2


@pytest.fixture(scope="module")
def two_people(tmp_path_factory) -> Path:
    """left / right squares filmed of two people, s1 and s2, three clips each per class: 12 videos."""
    root = tmp_path_factory.mktemp("twopeople")
    for label in ("left", "right"):
        (root / label).mkdir()
        for person in (1, 2):
            for k in range(3):
                frames = moving_square_frames(12, 48, 40, seed=10 * person + k + (100 if label == "left" else 0))
                path = root / label / f"{label}_s{person}_{k}.avi"
                write_cv2_video(path, frames[::-1] if label == "left" else frames, 25, "MJPG")
    return root


COMMON = ["--arch", "r3d10", "--width", "4", "--clip-len", "4", "--crop", "32", "--resize", "36", "--epochs", "1"]
COMMON += ["--workers", "0", "--precision", "fp32", "--no-hflip", "--threads", "1", "--no-cache"]


def test_a_locked_run_folder_refuses_a_second_run(two_people, tmp_path):
    """While another process holds the run folder (its lock taken here as `train` takes it), a second `train` into
    it stops before any training with one line naming the folder, exit code 1, and writes nothing into it."""
    run = tmp_path / "run"
    run.mkdir()
    with exclusive(run, "run folder"):
        result = runner.invoke(app, ["train", str(two_people), "-o", str(run), *COMMON])
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert lines[-1] == (
            f"error: {run}: another actionrec process is writing this run folder; wait for it or choose another"
        )
        assert "Traceback" not in result.output
        assert [p.name for p in run.iterdir()] == [".actionrec.lock"]  # the holder's lock, nothing else
    with pytest.raises(BusyError), exclusive(run, "run folder"):  # the library call too, before training
        train(tiny(two_people, run), progress=False)
    assert not (run / STATE_FILE).exists() and not (run / METRICS_FILE).exists()


def test_the_best_epoch_rule_breaks_accuracy_ties_by_validation_loss():
    """The best epoch: higher video accuracy, then higher clip accuracy, then, at equal accuracy, lower validation
    loss; a worse epoch, or a tie that is not lower in loss, is not the best. Each verdict says why."""
    best = {"epoch": 0, "val_video_acc": None, "val_clip_acc": None, "val_loss": None}
    epochs = [  # (video acc, clip acc, loss)
        (0.5, 0.5, 1.1),
        (1.0, 0.75, 0.9),
        (1.0, 1.0, 0.95),
        (1.0, 1.0, 0.4),
        (1.0, 1.0, 0.4),
        (1.0, 1.0, 0.6),
        (0.75, 1.0, 0.1),
        (1.0, 1.0, 0.09),
    ]
    verdicts = []
    for n, (video, clip, loss) in enumerate(epochs, 1):
        record = {"epoch": n, "val_video_acc": video, "val_clip_acc": clip, "val_loss": loss}
        why = improved(record, best)
        verdicts.append(why)
        if why is not None:
            best = {k: record[k] for k in best}
    assert verdicts == [
        "the first validated epoch",
        "higher video accuracy",
        "higher clip accuracy",
        "same accuracy, lower validation loss",
        None,
        None,
        None,
        "same accuracy, lower validation loss",
    ]
    assert best["epoch"] == 8
    no_val = {"epoch": 1, "val_video_acc": None, "val_clip_acc": None, "val_loss": None}
    assert improved(no_val, best) is not None  # without validation data the latest epoch is kept


@pytest.mark.slow
def test_a_run_at_full_accuracy_keeps_the_epoch_of_lowest_loss(two_people, tmp_path, monkeypatch):
    """Validation accuracy saturated at 100 % every epoch (validation stubbed so) while its loss falls then rises:
    best.safetensors is the epoch of the lowest loss, metrics.jsonl says why each best became the best, and so does
    the log; the split line counts the groups and videos really on each side."""
    losses = iter([0.9, 0.3, 0.5])
    monkeypatch.setattr(
        loop, "validate", lambda *a, **k: {"val_loss": next(losses), "val_clip_acc": 1.0, "val_video_acc": 1.0}
    )
    log = io.StringIO()
    config = tiny(two_people, tmp_path / "run", epochs=3, group_regex=r"_(s\d)_", val_fraction=0.2)
    result = train(config, progress=True, console=Console(file=log, width=400, force_terminal=False))
    records = [json.loads(line) for line in (tmp_path / "run" / METRICS_FILE).read_text().splitlines()]
    assert [r["best"] for r in records] == ["the first validated epoch", "same accuracy, lower validation loss", None]
    assert result.best_epoch == 2 and read_meta(result.best).training["epoch"] == 2
    assert read_meta(result.last).training["epoch"] == 3
    text = log.getvalue()
    assert text.count("best: same accuracy, lower validation loss") == 1, text
    assert "split by group: 1 group (6 videos) train, 1 group (6 videos) validation" in text, text
    assert "80/20" not in text


def test_a_multi_line_option_error_keeps_its_type_and_option(two_people, tmp_path, monkeypatch):
    """An OptionError whose message arrives with a traceback (as from a DataLoader worker) leaves `train` as the
    same OptionError, its option kept and its message the last line (it became a TypeError before)."""

    def fail(*_args, **_kwargs):
        raise OptionError("group-regex", "Traceback (most recent call last):\n  File x\nOptionError: the real reason")

    monkeypatch.setattr(loop, "_open", fail)
    with pytest.raises(OptionError) as e:
        train(tiny(two_people, tmp_path / "run"), progress=False)
    assert e.value.option == "group-regex" and str(e.value) == "the real reason"


def test_a_group_regex_that_matches_nothing_is_a_usage_error(two_people, tmp_path):
    """`--group-regex` matching none of the file names, or not a regex at all, is an option given wrong: exit 2
    naming --group-regex, no traceback, and no run folder left behind."""
    for regex, text in (("zzz", "matches none of the 12 file names"), ("(unclosed", "not a regular expression")):
        run = tmp_path / f"run{len(regex)}"
        result = runner.invoke(app, ["train", str(two_people), "-o", str(run), "--group-regex", regex, *COMMON])
        assert result.exit_code == 2, result.output
        assert "--group-regex" in result.output and text in result.output
        assert "Traceback" not in result.output
        assert not run.exists()


def test_an_unwritable_frame_cache_folder_means_no_cache_and_one_warning(two_people, tmp_path):
    """A frame cache folder that cannot be created or written (here below a regular file, which stops root too, as a
    read-only ~/.cache would stop a user): the run trains all its epochs without the cache, and the log says so in
    exactly one warning naming the folder."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder\n")
    log = io.StringIO()
    config = tiny(two_people, tmp_path / "run", epochs=2, cache=True, cache_dir=blocker / "frames")
    result = train(config, progress=True, console=Console(file=log, width=400, force_terminal=False))
    assert result.epochs_done == 2
    text = log.getvalue()
    assert text.count("without a frame cache") == 1, text
    assert f"{blocker / 'frames'}: cannot write the frame cache folder" in text
    assert blocker.read_text() == "not a folder\n"


def test_a_frame_cache_write_that_fails_midway_decodes_without_it(two_people, tmp_path, monkeypatch, caplog):
    """When writing a cached file fails (a disk that fills up mid-run), `FrameCache.frames` still returns the
    video's frames, exactly as decoded, warns once for the process however many videos follow, and leaves no
    partial file behind."""
    cache = frame_cache.FrameCache(tmp_path / "cache")
    spec = Preprocessing(clip_len=4, frame_step=2, resize=36, crop=32)

    @contextlib.contextmanager
    def full_disk(target):
        raise OSError(errno.ENOSPC, "No space left on device")
        yield target

    monkeypatch.setattr(frame_cache, "atomic_path", full_disk)
    videos = sorted((two_people / "left").iterdir())[:3]
    with caplog.at_level(logging.WARNING, logger=frame_cache.__name__):
        for video in videos:
            assert np.array_equal(cache.frames(video, spec), frame_cache.decode_all(video, spec))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "No space left on device" in warnings[0] and str(tmp_path / "cache") in warnings[0]
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_run_folder_that_cannot_be_made_or_written_is_one_line_before_training(two_people, tmp_path, monkeypatch):
    """`-o` below a regular file is the option given wrong: exit 2 naming --output, nothing made. A run folder that
    cannot be written (read-only; simulated, as the tests run as root) is one line naming it and the reason, exit 1,
    before any training."""
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    result = runner.invoke(app, ["train", str(two_people), "-o", str(blocker / "run"), *COMMON])
    assert result.exit_code == 2, result.output
    assert "--output" in result.output and f"{blocker} is a file, not a folder" in result.output
    assert "Traceback" not in result.output and blocker.read_text() == "x"

    read_only = tmp_path / "read_only"
    real = Path.write_bytes

    def refused(self: Path, data: bytes) -> int:
        if self.parent == read_only:
            raise OSError(errno.EROFS, "Read-only file system")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", refused)
    monkeypatch.setattr(loop, "open_dataset", lambda *a, **k: pytest.fail("training started"))
    result = runner.invoke(app, ["train", str(two_people), "-o", str(read_only), *COMMON])
    assert result.exit_code == 1, result.output
    line = result.output.strip().splitlines()[-1]
    assert line == f"error: {read_only}: cannot write the run folder (Read-only file system)"


def test_a_run_folder_with_missing_parents_is_made(two_people, tmp_path):
    """`-o` whose parent folders do not exist yet: they are made, as for every other output, and the run done."""
    nested = tmp_path / "missing" / "parents" / "run"
    result = runner.invoke(app, ["train", str(two_people), "-o", str(nested), *COMMON])
    assert result.exit_code == 0, result.output
    assert (nested / STATE_FILE).is_file()


def test_a_disk_that_fills_up_mid_run_is_one_line_and_the_run_resumable(two_people, tmp_path, monkeypatch):
    """A model file that cannot be written after epoch 2 (disk full) stops the run with one line naming the file
    and the reason (exit 1 on the command line), and the run folder keeps epoch 1 whole: resumable."""
    real = run_dir.save_model
    calls = []

    def fills_up(path, *args, **kwargs):
        calls.append(path)
        if len(calls) > 2:  # epoch 1: last and best written
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(run_dir, "save_model", fills_up)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(two_people), "-o", str(run), *COMMON[:-1], "--epochs", "3"])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"error: {run / 'last.safetensors'}: cannot write (No space left on device)"
    )
    assert "Traceback" not in result.output
    assert len((run / METRICS_FILE).read_text().splitlines()) == 1
    assert resume_config(run).epochs == 3  # the state of epoch 1 is there to go on from


class _Planted:
    """Unpickling this runs code: it touches the file it names."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_planted_resume_state_is_refused_without_pointing_at_the_unsafe_path(tmp_path):
    """A `state.pt` that would run code when unpickled: --resume refuses it in one line that never relays torch's
    advice to re-run with weights_only=False, and the planted code does not run."""
    marker = tmp_path / "ran"
    torch.save({"version": 1, "evil": _Planted(str(marker))}, tmp_path / STATE_FILE)
    with pytest.raises(ActionrecError) as caught:
        run_dir.load_state(tmp_path)
    message = str(caught.value)
    assert "weights_only" not in message and "\n" not in message and STATE_FILE in message
    assert not marker.exists()
