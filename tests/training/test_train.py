"""Training: the loss falls on a learnable task, the run folder is complete and self-describing, validation uses
the prediction pipeline, resume (after a clean stop or SIGKILL) reproduces an uninterrupted run exactly, two
processes under torchrun, the caller's random generators and threads left as they were, and every user mistake is
one line."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import ROOT, moving_square_frames, tiny, write_cv2_video
from safetensors.torch import load_file
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.errors import ActionrecError
from actionrec.io.checkpoint import load_model, read_meta
from actionrec.runtime.backends import Precision, TorchBackend
from actionrec.runtime.pipeline import Recognizer
from actionrec.training import STATE_FILE, TrainConfig, arch_args_for, lr_factor, resolve, resume_config, train

runner = CliRunner()


@pytest.fixture(autouse=True)
def one_thread():
    """One BLAS thread: fast on a busy 2-core machine, and the same arithmetic in every run compared here."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def left_right(tmp_path_factory) -> Path:
    """Two direction-dependent classes: a square moving left, or right (8 videos each, 12 frames of 48x40)."""
    root = tmp_path_factory.mktemp("leftright")
    for label in ("left", "right"):
        (root / label).mkdir()
        for k in range(8):
            frames = moving_square_frames(12, 48, 40, seed=k + (100 if label == "left" else 0))
            write_cv2_video(root / label / f"{label}_{k}.avi", frames[::-1] if label == "left" else frames, 25, "MJPG")
    return root


def test_training_lowers_loss_and_writes_a_complete_run(left_right, tmp_path):
    """A few epochs on left- vs right-moving squares lower the training loss; the run folder holds both model
    files (self-describing), metrics.jsonl with one line per epoch, the plots, and a weights-only resume state."""
    config = tiny(left_right, tmp_path / "run", epochs=6, milestones=(100,))
    result = train(config, progress=False)
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == list(range(1, 7))
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    for h in history:
        assert 0 <= h["val_clip_acc"] <= 1 and 0 <= h["val_video_acc"] <= 1 and h["clips_per_s"] > 0
    for name in ("best.safetensors", "last.safetensors", "loss.png", "accuracy.png", "config.json", STATE_FILE):
        assert (tmp_path / "run" / name).stat().st_size > 0, name
    assert (tmp_path / "run" / "loss.png").read_bytes()[:4] == b"\x89PNG"
    _, meta = load_model(result.best)
    assert meta.labels == ("left", "right") and meta.arch == "r3d10" and meta.arch_args == {"width": 4}
    assert meta.preprocessing.clip_len == 4 and meta.preprocessing.crop == 32
    assert meta.training["best_epoch"] == result.best_epoch
    assert meta.training["best_val_video_acc"] == max(h["val_video_acc"] for h in history)
    assert meta.training["recipe"]["lr"] == 0.05 and meta.training["seed"] == 0
    assert "grouped" in meta.training["data"] and meta.training["date"]
    state = torch.load(tmp_path / "run" / STATE_FILE, weights_only=True)
    assert state["epoch"] == 6 and set(state["rng"]) >= {"python", "numpy", "torch"}


def test_training_runs_channels_last_through_the_fused_kernels(left_right, tmp_path, monkeypatch):
    """Training feeds the network channels_last_3d clips, and every attention block's forward and backward go
    through the fused training kernels where they can be built (a tiny run: one epoch)."""
    from actionrec.ops import fused_attention as kernels

    layouts, fused = [], []
    original = kernels.attention_residual
    monkeypatch.setattr(kernels, "attention_residual", lambda *a: fused.append(1) or original(*a))
    import actionrec.networks as networks

    forward = networks.ResNet3d.forward

    def spy(self, x):
        layouts.append(x.is_contiguous(memory_format=torch.channels_last_3d) and not x.is_contiguous())
        return forward(self, x)

    monkeypatch.setattr(networks.ResNet3d, "forward", spy)
    train(tiny(left_right, tmp_path / "run", epochs=1), progress=False)
    assert layouts and all(layouts)
    if kernels.library() is not None:
        assert len(fused) >= 4 * 3  # 4 blocks of r3d10, each training step (3 steps of 4 clips)


def test_adamw_option_trains_and_resumes_with_its_optimizer(left_right, tmp_path):
    """--optimizer adamw lowers the loss too, and its run records and resumes with AdamW state."""
    train(tiny(left_right, tmp_path / "run", epochs=3, optimizer="adamw", lr=0.003, milestones=(100,)), progress=False)
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    state = torch.load(tmp_path / "run" / STATE_FILE, weights_only=True)
    assert "exp_avg" in next(iter(state["optimizer"]["state"].values()))  # Adam moments, not SGD momentum
    assert json.loads((tmp_path / "run" / "config.json").read_text())["optimizer"] == "adamw"


def test_validation_matches_the_prediction_pipeline(left_right, tmp_path):
    """The video accuracy of training's validation equals what Recognizer.window_probs (the predict path) gives
    with the same number of evenly spaced windows: both go through the one preprocessing."""
    result = train(tiny(left_right, tmp_path / "run", epochs=1, val_clips=3), progress=False)
    model, meta = load_model(result.last)
    recognizer = Recognizer(TorchBackend(model, meta, precision=Precision.fp32))
    from actionrec.data import open_dataset

    split = open_dataset(left_right, val_fraction=0.25, seed=0)
    correct = []
    for item in split.val:
        probs, windows = recognizer.window_probs(item.path, num_windows=3)
        assert len(windows) == 3
        correct.append(int(probs.mean(0).argmax()) == item.label)
    assert result.history[-1]["val_video_acc"] == pytest.approx(np.mean(correct))


def _same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a)), load_file(str(b))
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=1e-6, msg=k)


def _losses(run: Path) -> list[float]:
    """Training loss and validation accuracies of each epoch, in order."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [h[k] for h in map(json.loads, lines) for k in ("train_loss", "train_acc", "val_loss", "val_clip_acc")]


@pytest.mark.slow
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(left_right, tmp_path):
    """2 epochs straight == 1 epoch, stop, resume for the second (even with another number of workers): same
    weights, same metrics, under a warmup + cosine schedule that depends on the step count."""
    recipe = {"schedule": "cosine", "warmup_epochs": 0.5, "epochs": 2}
    straight = train(tiny(left_right, tmp_path / "a", **recipe), progress=False)
    train(tiny(left_right, tmp_path / "b", **recipe), progress=False, stop_after=1)
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 1
    resumed = train(resume_config(tmp_path / "b", workers=1), progress=False)
    assert resumed.epochs_done == 2
    _same_weights(straight.last, resumed.last)
    assert _losses(tmp_path / "a") == pytest.approx(_losses(tmp_path / "b"), abs=1e-6)
    assert read_meta(resumed.last).training["epoch"] == 2


@pytest.mark.slow
def test_sigkilled_run_resumes_to_the_same_result(left_right, tmp_path):
    """`actionrec train` killed with SIGKILL right after its first epoch is saved, then `--resume`d, ends with
    the weights of an uninterrupted run and one metrics line per epoch."""
    straight = train(tiny(left_right, tmp_path / "a", epochs=2), progress=False)
    run = tmp_path / "killed"
    args = [
        *(str(left_right), "-o", str(run), "--arch", "r3d10", "--width", "4", "--clip-len", "4", "--frame-step"),
        *("2", "--crop", "32", "--resize", "36", "--epochs", "2", "-b", "4", "--lr", "0.05", "--no-hflip"),
        *("--precision", "fp32", "--device", "cpu", "--workers", "0", "--val-fraction", "0.25", "--val-clips", "2"),
        *("--threads", "1"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "actionrec", "train", *args], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (run / STATE_FILE).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (run / STATE_FILE).exists()
    done = torch.load(run / STATE_FILE, weights_only=True)["epoch"]
    assert 1 <= done <= 2
    out = subprocess.run(
        [sys.executable, "-m", "actionrec", "train", "--resume", str(run), "--threads", "1"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["epochs_done"] == 2
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    _same_weights(straight.last, run / "last.safetensors")


@pytest.mark.slow
def test_torchrun_two_processes(left_right, tmp_path):
    """The same command under torchrun with 2 CPU processes (gloo, DDP): one complete run folder written by
    rank 0, the summary printed once, metadata recording 2 processes."""
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    args = [
        *("-m", "actionrec", "train", str(left_right), "-o", str(run), "--arch", "r3d10", "--width", "4"),
        *("--clip-len", "4", "--crop", "32", "--epochs", "1", "-b", "4", "--lr", "0.05", "--no-hflip"),
        *("--precision", "fp32", "--workers", "0", "--val-fraction", "0.25", "--val-clips", "2"),
    ]
    out = subprocess.run([*cmd, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count('"best_epoch"') == 1
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["val_video_acc"] is not None
    meta = read_meta(run / "best.safetensors")
    assert meta.training["processes"] == 2 and meta.labels == ("left", "right")
    assert sorted(p.name for p in run.iterdir()) == [
        "accuracy.png",
        "best.safetensors",
        "config.json",
        "last.safetensors",
        "loss.png",
        "metrics.jsonl",
        STATE_FILE,
    ]


def test_training_leaves_the_callers_process_state(left_right, tmp_path, monkeypatch):
    """A run seeds the Python, NumPy and torch generators with its own seed and trains on the torch threads it is
    given; once it returns, the caller's generators and thread count are as they were."""
    import actionrec.networks as networks

    def seed() -> None:
        random.seed(123)
        np.random.seed(123)
        torch.manual_seed(123)

    def draw() -> tuple[float, float, float]:
        return random.random(), float(np.random.rand()), torch.rand(1).item()

    seed()
    expected = draw()
    during, forward = [], networks.ResNet3d.forward

    def spy(self, x):
        during.append(torch.get_num_threads())
        return forward(self, x)

    monkeypatch.setattr(networks.ResNet3d, "forward", spy)
    threads = torch.get_num_threads()
    seed()
    train(tiny(left_right, tmp_path / "run", epochs=1), progress=False, threads=threads + 1)
    assert during and set(during) == {threads + 1}
    assert torch.get_num_threads() == threads
    assert draw() == expected


def test_init_loads_pretrained_weights(left_right, tmp_path):
    """--init FILE starts from another model file's weights (through pretrained.load_pretrained) and says so."""
    first = train(tiny(left_right, tmp_path / "a", epochs=1), progress=False)
    result = runner.invoke(
        app,
        [
            *("train", str(left_right), "-o", str(tmp_path / "b"), "--arch", "r3d10", "--width", "4"),
            *("--clip-len", "4", "--crop", "32", "--resize", "36", "--epochs", "1", "-b", "4", "--precision", "fp32"),
            *("--workers", "0", "--init", str(first.last), "--val-fraction", "0.25"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "loaded" in result.output and str(first.last) in result.output


def test_learning_rate_schedules():
    """Warmup rises linearly to the peak; step decays by gamma at the milestones; cosine falls to ~0."""
    c = resolve(TrainConfig(data=Path("d"), out=Path("o"), epochs=10, warmup_epochs=1, milestones=(5, 8)))
    assert lr_factor(c, 0, 10) == pytest.approx(0.1) and lr_factor(c, 9, 10) == pytest.approx(1.0)
    assert lr_factor(c, 49, 10) == 1.0 and lr_factor(c, 50, 10) == pytest.approx(0.1)
    assert lr_factor(c, 85, 10) == pytest.approx(0.01)
    cos = dataclasses.replace(c, schedule="cosine")
    values = [lr_factor(cos, s, 10) for s in range(10, 100)]
    assert values == sorted(values, reverse=True) and values[-1] < 0.01
    assert resolve(TrainConfig(data=Path("d"), out=Path("o"), epochs=40)).step_milestones == (20, 30)


def test_arch_options():
    """Architecture options map to builder arguments; options an architecture lacks are refused."""
    assert arch_args_for("r3d18", width=16, attention=False) == {"width": 16, "attention": False}
    assert arch_args_for("dense3d", growth=12) == {"growth": 12}
    assert arch_args_for("c3d") == {}
    with pytest.raises(ActionrecError, match="--growth"):
        arch_args_for("r3d18", growth=12)
    with pytest.raises(ActionrecError, match="--attention"):
        arch_args_for("c3d", attention=True)
    with pytest.raises(ActionrecError, match="unknown architecture"):
        arch_args_for("resnet9000")


def test_training_without_matplotlib_stops_before_any_work(left_right, tmp_path, monkeypatch):
    """Without matplotlib (the [plot] extra) train raises one line naming the run folder, the package and the
    extra before anything is built or written; the CLI exits 1 with that line last, after the recipe it read."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails, find_spec says absent
    run = tmp_path / "run"
    with pytest.raises(ActionrecError) as e:
        train(tiny(left_right, run), progress=False)
    assert str(e.value) == (
        f"{run}: drawing the loss and accuracy plots needs matplotlib (not installed): pip install 'actionrec[plot]'"
    )
    assert not run.exists()
    common = ["--arch", "r3d10", "--width", "4", "--epochs", "1", "--workers", "0"]
    result = runner.invoke(app, ["train", str(left_right), "-o", str(run), *common])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and lines[-1].startswith(f"error: {run}: drawing the loss"), result.output
    assert "needs matplotlib" in lines[-1] and "Traceback" not in result.output
    assert not (run / STATE_FILE).exists()


def test_user_mistakes_are_one_line(left_right, tmp_path):
    """No data, a bad split file, an unknown arch, an unwritable run folder, a resume folder without state and
    recipe options given with --resume: each is a one-line error with exit code 1 (2 for usage)."""
    common = ["--arch", "r3d10", "--width", "4", "--epochs", "1", "--workers", "0"]
    cases = [
        ([str(tmp_path / "nothing"), "-o", str(tmp_path / "r1"), *common], 1, "no such data folder"),
        ([str(left_right), "-o", str(tmp_path / "r2"), "--layout", "ucf101", *common], 1, "classInd.txt"),
        ([str(left_right), "-o", str(tmp_path / "r3"), "--arch", "r3d99"], 2, "r3d99"),
        ([str(left_right), "-o", str(tmp_path / "r4"), "--arch", "c3d", "--attention"], 1, "--attention"),
        ([str(left_right), "-o", str(left_right / "left" / "left_0.avi"), *common], 1, "not a folder"),
        (["--resume", str(tmp_path)], 1, "no resume state"),
        (["--resume", str(tmp_path), "--lr", "0.2"], 2, "keeps its recipe"),
        ([str(left_right)], 2, "-o/--output"),
    ]
    for args, code, text in cases:
        result = runner.invoke(app, ["train", *args])
        assert result.exit_code == code, (args, result.output)
        assert text in result.output, (args, result.output)
        assert "Traceback" not in result.output
    bad = tmp_path / "ucf"
    (bad / "lists").mkdir(parents=True)
    (bad / "lists" / "classInd.txt").write_text("1 Walk\n2 Run\n")
    (bad / "lists" / "trainlist01.txt").write_text("Jump/v_Jump_g01_c01.avi 1\n")
    (bad / "lists" / "testlist01.txt").write_text("Walk/v_Walk_g01_c01.avi\n")
    result = runner.invoke(app, ["train", str(bad), "-o", str(tmp_path / "r5"), *common])
    assert result.exit_code == 1 and "'Jump'" in result.output and "not in classInd" in result.output
    assert not (tmp_path / "r5" / STATE_FILE).exists()
