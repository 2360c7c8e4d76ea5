"""Training reliability: under torchrun a process whose whole batch is undecodable still takes part in the step (no
hang); a run folder has one writer; ties in validation accuracy go to the lower validation loss; the split line says
the real counts; errors keep their type; a regex that matches nothing is a usage error; an unusable frame cache
falls back to none with one warning; a run folder that cannot be written is one line before any training."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, moving_square_frames, write_cv2_video


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
