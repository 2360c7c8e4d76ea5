"""The command line explains itself: every option's default shows in --help, each option has one spelling across
commands (-o/--output for what a command writes, -f/--format for how results are written, --layout for a data
set), tables and logs come out whole when piped, and an option beyond what the model allows is a one-line usage
error."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from helpers import ROOT, moving_square_frames, random_model_file, write_cv2_video
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.model_meta import Preprocessing

runner = CliRunner()
COMMANDS = typer.main.get_command(app).commands
LONG_LABELS = tuple(
    f"{name}_with_a_label_far_longer_than_any_table_cell_of_eighty_columns" for name in ("walk", "wave")
)
ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    """Help text with click's line wrapping undone: one space between words, hyphenated breaks rejoined."""
    return " ".join(re.sub(r"-\n\s+", "-", text).split())


def visible_options(command) -> set[str]:
    return {name for p in command.params if not p.hidden for name in (*p.opts, *p.secondary_opts)}


# ---- --help ----


def test_help_shows_the_defaults_of_train_predict_and_evaluate():
    """--help of train, predict and evaluate shows the "[default: ...]" texts written in help strings (once eaten
    as rich markup, leaving "Total epochs .") beside the defaults click shows itself."""
    shown = {name: flat(run(name, "--help").stdout) for name in ("train", "predict", "evaluate")}
    expected = {
        "train": [
            "Total epochs [default: fine-tuning (--init) at least 15 and 150 steps, 40 from scratch].",
            "Peak learning rate [default: 0.0005 fine-tuning, 0.1 from scratch].",
            "[default: --init's or r3d18]",
            "[default: on fine-tuning, off from scratch]",
            "[default: auto]",
            "[default: 8; x>=1]",
        ],
        "predict": [
            "[default: half a window, at most 12 frames, in whole frame_steps]",
            "[default: 5, or every label of a model with fewer]",
            "[default: stdout]",
            "[default: table; with -o, by its suffix: .json, .jsonl, .csv, else table]",
            "[default: the shipped model]",
        ],
        "evaluate": [
            "[default: the model's, 1]",
            "[default: the model's run's, auto]",
            "[default: 10; x>=1]",
            "[default: none, the tables only]",
        ],
    }
    for name, texts in expected.items():
        for text in texts:
            assert text in shown[name], (name, text)
    assert "Total epochs ." not in shown["train"] and "Total epochs [default:" in shown["train"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_of_every_command_shows_its_default(name):
    """Each visible option and argument of every command says in --help what it is when not given: a
    "[default: ...]" (click's or written in its help) or "[required...]"; its whole help text is on the page."""
    command = COMMANDS[name]
    page = flat(run(name, "--help").stdout)
    ctx = typer.Context(command, info_name=name)
    for param in command.get_params(ctx):  # as --help shows them (train's defaults are filled in here)
        if param.hidden or param.name == "help":
            continue
        help_text = flat(param.get_help_record(ctx)[1])
        assert "[default: " in help_text or "[required" in help_text, (name, param.name, help_text)
        assert help_text in page, (name, param.name)


def test_command_list_is_one_readable_line_per_command():
    """`actionrec --help` lists each command on one line with a summary that is not cut short."""
    res = run("--help")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    for name in COMMANDS:
        line = next(line for line in lines if line.strip().startswith(name + " "))
        assert line.rstrip().endswith(".") and "..." not in line and len(line) <= 80, line
    assert "actionrec COMMAND --help" in flat(res.stdout)


# ---- one spelling per option ----


def test_one_spelling_per_option_across_commands():
    """-o is --output wherever it exists, and every command that writes a file has it; --format (-f) is how
    results are written (predict, info, watch) and --layout how a data set is laid out (train, evaluate); the former
    --out and --json no longer show."""
    for name, command in COMMANDS.items():
        options = visible_options(command)
        for param in command.params:
            if "-o" in param.opts:
                assert "--output" in param.opts, name
        assert "--out" not in options and "--json" not in options, name
        if "--format" in options:
            assert name in {"predict", "info", "watch"}, name
    for name in ("predict", "evaluate", "train", "export", "synth", "explain"):
        assert {"-o", "--output"} <= visible_options(COMMANDS[name]), name
    for name in ("train", "evaluate"):
        assert "--layout" in visible_options(COMMANDS[name]) and "--format" not in visible_options(COMMANDS[name])
    assert {"-f", "--format"} <= visible_options(COMMANDS["predict"]) & visible_options(COMMANDS["info"])


def test_out_is_still_accepted_as_a_hidden_alias(tiny_model, videos, tmp_path):
    """--out, the former spelling, still reaches the command (export refuses the path it names) without showing
    in --help; given with a different --output it is a usage error."""
    res = run("export", tiny_model, "--out", tmp_path / "model.bin")
    assert res.exit_code == 1 and "must end in .onnx" in res.output and str(tmp_path / "model.bin") in res.output
    assert "--out " not in run("export", "--help").stdout
    res = run("explain", videos["mp4"], "-m", tiny_model, "--output", tmp_path / "a.mp4", "--out", tmp_path / "b.mp4")
    assert res.exit_code == 2 and "given twice" in res.output
    assert list(tmp_path.iterdir()) == []


def test_info_format_json_and_a_fast_text_default(tiny_model):
    """`info --format json` prints the full metadata; plain `info` describes the shipped model without importing
    torch (what keeps it well under a second)."""
    res = run("info", tiny_model, "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["labels"] == ["left", "right", "still"]
    assert run("info", tiny_model, "--json").exit_code == 2
    code = (
        "import sys\n"
        "from actionrec.cli import app\n"
        "try:\n"
        "    app(['info'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print('torch imported:', 'torch' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "network" in proc.stdout and "labels (" in proc.stdout
    assert proc.stdout.strip().endswith("torch imported: False")


# ---- whole lines when piped ----


@pytest.fixture(scope="module")
def long_label_model(tmp_path_factory) -> Path:
    """A random r3d10 whose two labels are far longer than a table cell fits in 80 columns."""
    spec = Preprocessing(clip_len=4, frame_step=2, resize=36, crop=32)
    return random_model_file(tmp_path_factory.mktemp("long") / "long.safetensors", LONG_LABELS, spec, 4)


@pytest.fixture(scope="module")
def long_label_data(tmp_path_factory) -> Path:
    """A folder per long label, deep under long folder names: 3 short videos each."""
    root = tmp_path_factory.mktemp("data") / ("a_folder_with_a_long_name_" * 3) / ("and_another_one_inside_it_" * 3)
    for c, label in enumerate(LONG_LABELS):
        (root / label).mkdir(parents=True)
        for k in range(3):
            frames = moving_square_frames(12, 48, 40, seed=10 * c + k)
            write_cv2_video(root / label / f"{label}_{k}.avi", frames, 25.0, "MJPG")
    return root


@pytest.mark.slow
def test_predict_table_is_whole_through_a_pipe(long_label_model, long_label_data):
    """`actionrec predict` writing its tables into a pipe keeps every long path and label whole: the video's
    path on its title line, both labels on each window's row, path and label on one summary row; no ellipsis."""
    clips = sorted(long_label_data.rglob("*_0.avi"))
    cmd = [sys.executable, "-m", "actionrec", "predict", *map(str, clips), "-m", str(long_label_model), "-k", "2"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert ELLIPSIS not in proc.stdout
    for clip in map(str, clips):
        assert any(line.startswith(clip + "  ") for line in lines), clip  # the title line
        summary = [line for line in lines if clip in line and any(label in line for label in LONG_LABELS)]
        assert summary, clip  # the summary row: path and label together
    windows = [line for line in lines if re.match(r"│ +\d+ │ \d:\d\d\.\d\d │", line)]
    assert len(windows) >= 2 and all(label in line for line in windows for label in LONG_LABELS)
    rankings = [line for line in lines if line.startswith("video: ")]
    assert len(rankings) == 2 and all(label in line for line in rankings for label in LONG_LABELS)


def test_evaluate_tables_are_whole_when_not_a_terminal(long_label_model, long_label_data):
    """`actionrec evaluate` run without a terminal prints its per-class table with every long label whole, on
    one row with its numbers and the label it is most confused with; no ellipsis."""
    res = run("evaluate", "-m", long_label_model, "-d", long_label_data, "--subset", "all", "-K", "2")
    assert res.exit_code == 0, res.output
    assert ELLIPSIS not in res.stdout
    for label in LONG_LABELS:
        row = next(line for line in res.stdout.splitlines() if line.startswith(f"│ {label} "))
        assert row.count("%") == 2  # clip and video top-1 on the label's own row


def test_training_log_is_whole_when_not_a_terminal(long_label_data, tmp_path):
    """`actionrec train`'s epoch log on a stderr that is not a terminal keeps each epoch on one whole line:
    number, steps, training loss and accuracy, speed and validation accuracy."""
    args = ["train", long_label_data, "-o", tmp_path / "run", "--arch", "r3d10", "--width", "4", "--clip-len", "4"]
    args += ["--crop", "32", "--resize", "36", "--epochs", "2", "-b", "2", "--workers", "0", "--precision", "fp32"]
    args += ["--val-fraction", "0.34", "--val-clips", "1", "--threads", "1"]
    res = run(*args)
    assert res.exit_code == 0, res.output
    for epoch in (1, 2):
        line = next(line for line in res.stderr.splitlines() if line.startswith(f"epoch {epoch}/2 "))
        assert re.search(r"train loss \d+\.\d+ acc [\d.]+% [\d.]+ clips/s \| val clip [\d.]+% video [\d.]+%", line)
    assert ELLIPSIS not in res.stderr


# ---- options out of range ----


def test_top_k_beyond_the_models_labels_is_a_usage_error(videos, tiny_model):
    """--top-k above the model's label count is a one-line error naming the option, the value and the maximum
    (exit code 2), not a silent cap; at the maximum it runs."""
    res = run("predict", videos["mp4"], "-m", tiny_model, "--top-k", "1000")
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.strip() == "error: --top-k 1000: this model has 3 labels; give at most --top-k 3"
    res = run("predict", videos["mp4"], "-m", tiny_model, "-k", "3", "-f", "json")
    assert res.exit_code == 0, res.output
    assert all(len(w["top"]) == 3 for w in json.loads(res.stdout)["videos"][0]["windows"])


def test_streams_beyond_threads_or_batch_are_usage_errors(videos, tiny_model):
    """--streams more than --threads, or more than the windows of a batch, could never all run: one line each,
    exit code 2, naming both options and the maximum."""
    res = run("predict", videos["mp4"], "-m", tiny_model, "--streams", "3", "--threads", "2")
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "--streams 3" in res.stderr and "--threads 2" in res.stderr and "at most 2" in res.stderr
    res = run("predict", videos["mp4"], "-m", tiny_model, "--streams", "2", "-b", "1")
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "--streams 2" in res.stderr and "--batch-size" in res.stderr and "at most 1" in res.stderr


def test_terminal_width_still_applies_on_a_terminal():
    """On a terminal the console keeps the terminal's width (only pipes and files get whole lines)."""
    from actionrec.io.output import PIPE_WIDTH, FullConsole

    class Tty:
        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            pass

    assert FullConsole(file=Tty(), width=100).width == 100
    assert FullConsole(file=Tty()).width < PIPE_WIDTH
    assert FullConsole(file=io.StringIO()).width == FullConsole(file=io.StringIO(), width=100).width == PIPE_WIDTH
