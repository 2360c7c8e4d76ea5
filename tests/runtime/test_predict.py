"""`actionrec predict` and the Python API end to end: every output format parses, timestamps are sane, a batch
with bad files goes on and exits 1, usage errors exit 2, no traceback reaches the user."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import actionrec
from actionrec.cli import app
from actionrec.io.checkpoint import read_meta
from actionrec.io.output import CSV_HEADER
from actionrec.io.video import plan_starts, read_all
from actionrec.runtime.backends import open_backend

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(map(str, args)))


def test_python_api_predicts_a_video(videos, tiny_model):
    """load() + predict() gives a ranked, timestamped result whose windows follow the stride plan."""
    model = actionrec.load(tiny_model, precision="fp32")
    result = model.predict(videos["mp4"], top_k=2, stride=4)
    assert result.ok and result.frames == 60 and result.fps == pytest.approx(25.0)
    assert result.duration_s == pytest.approx(60 / 25.0)
    assert result.label in model.meta.labels and result.top[0].label == result.label
    assert len(result.windows) == len(plan_starts(60, 8, 4))
    assert all(len(w.top) == 2 and w.top[0].score >= w.top[1].score for w in result.windows)
    assert sum(s.score for s in model.predict(videos["mp4"], top_k=3).top) == pytest.approx(1.0, abs=1e-5)


def test_batch_size_does_not_change_scores(videos, tiny_model):
    """Windows batched 1 or 8 at a time give the same probabilities."""
    model = actionrec.load(tiny_model, precision="fp32")
    a = model.predict(videos["avi"], batch_size=1)
    b = model.predict(videos["avi"], batch_size=8)
    assert [w.top[0].label for w in a.windows] == [w.top[0].label for w in b.windows]
    assert all(abs(x.top[0].score - y.top[0].score) < 1e-5 for x, y in zip(a.windows, b.windows, strict=True))


def test_streams_split_batches_without_changing_scores(videos, tiny_model):
    """A batch split into 2 parts that run at once (streams) scores every window as one pass does, and torch's
    process-wide thread count is what it was after each call."""
    one = open_backend(tiny_model, precision="fp32", streams=1, threads=2)
    two = open_backend(tiny_model, precision="fp32", streams=2, threads=2)
    assert (one.streams, two.streams) == (1, 2)
    clips = np.random.default_rng(0).standard_normal((5, 3, 8, 32, 32), dtype=np.float32)
    threads = torch.get_num_threads()
    assert np.allclose(one(clips), two(clips), atol=1e-5) and np.allclose(two(clips[:1]), one(clips[:1]), atol=1e-5)
    assert torch.get_num_threads() == threads == 2
    a = actionrec.load(tiny_model, precision="fp32", streams=1).predict(videos["mp4"])
    b = actionrec.load(tiny_model, precision="fp32", streams=2).predict(videos["mp4"])
    assert [w.top[0].label for w in a.windows] == [w.top[0].label for w in b.windows]
    assert all(abs(x.top[0].score - y.top[0].score) < 1e-5 for x, y in zip(a.windows, b.windows, strict=True))


def test_json_format_parses_with_schema(videos, tiny_model):
    """--format json writes one {"videos": [...]} document with the documented fields and sane timestamps."""
    res = run("predict", videos["mp4"], videos["vfr"], "--model", tiny_model, "--format", "json", "--top-k", "2")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [v["video"] for v in doc["videos"]] == [str(videos["mp4"]), str(videos["vfr"])]
    for v in doc["videos"]:
        fields = {"video", "frames", "fps", "duration_s", "label", "score", "top", "segments", "windows", "error"}
        assert set(v) == fields
        assert v["error"] is None and v["label"] == v["top"][0]["label"]
        starts = [w["start_s"] for w in v["windows"]]
        assert starts == sorted(starts)
        assert all(0 <= w["start_s"] < w["end_s"] <= v["duration_s"] + 1e-6 for w in v["windows"])
        assert all(len(w["top"]) == 2 for w in v["windows"])


def test_batch_with_corrupt_and_empty_files_goes_on(videos, tiny_model):
    """Bad files get `error` set and one stderr line naming them; the good ones succeed; exit code is 1."""
    paths = [videos["mp4"], videos["corrupt"], videos["avi"], videos["empty"], videos["missing"], videos["truncated"]]
    res = run("predict", *paths, "--model", tiny_model, "--format", "jsonl")
    assert res.exit_code == 1
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    by_name = {line["video"]: line for line in lines}
    assert len(lines) == len(paths)
    assert by_name[str(videos["mp4"])]["error"] is None and by_name[str(videos["avi"])]["error"] is None
    for bad in ("corrupt", "empty", "missing", "truncated"):
        assert by_name[str(videos[bad])]["error"] and by_name[str(videos[bad])]["windows"] == []
        assert sum(str(videos[bad]) in line for line in res.stderr.splitlines()) == 1
    assert "Traceback" not in res.output


def tiny_model_meta_fps(model) -> float:
    return read_meta(model).preprocessing.fps


def test_csv_format_rows_per_window_and_rank(videos, tiny_model):
    """--format csv has the documented header, top_k rows per window (kind "window"), then the video's segments
    (kind "segment", no rank) tiling it from 0 to its duration, then the video's own row."""
    res = run("predict", videos["avi"], "--model", tiny_model, "--format", "csv", "--top-k", "3", "--stride", "8")
    assert res.exit_code == 0, res.output
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert tuple(rows[0]) == CSV_HEADER
    body = rows[1:]
    clock = tiny_model_meta_fps(tiny_model)
    frames = len(read_all(videos["avi"], fps=clock))  # its 45 frames at 30 fps, counted on the model's clock
    n_windows = len(plan_starts(frames, 8, 8))
    windows = [r for r in body if r[6] == "window"]
    segments = [r for r in body if r[6] == "segment"]
    assert len(windows) == 3 * n_windows and body[: len(windows)] == windows
    assert len(segments) == len(body) - len(windows) - 1 >= 1 and body[-1][6] == "video"  # the video's own row last
    assert [int(r[3]) for r in body[:3]] == [1, 2, 3]
    assert all(float(r[1]) < float(r[2]) for r in body)
    assert all(r[3] == "" for r in segments) and float(segments[0][1]) == 0.0
    assert [r[1] for r in segments[1:]] == [r[2] for r in segments[:-1]]
    assert float(segments[-1][2]) == max(float(r[2]) for r in windows)


def test_table_format_and_folder_input(videos, tiny_model, tmp_path):
    """A folder is searched recursively for videos; the table names each video; --output writes a whole file."""
    sub = tmp_path / "clips" / "nested"
    sub.mkdir(parents=True)
    for key in ("mp4", "avi"):
        (sub / videos[key].name).write_bytes(videos[key].read_bytes())
    (sub / "readme.txt").write_text("not a video")
    out = tmp_path / "res.txt"
    res = run("predict", tmp_path / "clips", "--model", tiny_model, "--output", out)
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "square.mp4" in text and "square.avi" in text and "readme" not in text
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".res")] == []  # no temp file left


def test_usage_errors_exit_2(videos, tiny_model, tmp_path):
    """Missing arguments, bad choices and empty folders are usage errors (exit code 2)."""
    assert run("predict").exit_code == 2
    assert run("predict", videos["mp4"], "--model", tiny_model, "--format", "xml").exit_code == 2
    assert run("predict", videos["mp4"], "--model", tiny_model, "--top-k", "0").exit_code == 2
    (tmp_path / "nothing").mkdir()
    assert run("predict", tmp_path / "nothing", "--model", tiny_model).exit_code == 2


def test_bad_model_file_is_one_line_error(videos, tmp_path):
    """A model file that is not one gives exit code 1 and one line naming it, no traceback."""
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"garbage" * 10)
    res = run("predict", videos["mp4"], "--model", bad)
    assert res.exit_code == 1 and str(bad) in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1


def test_info_prints_metadata_parameters_and_gflops(tiny_model):
    """`actionrec info` describes the model in lines (network, input, every label); `--format json` gives the metadata
    with parameter count and GFLOPs per clip."""
    res = run("info", tiny_model)
    assert res.exit_code == 0, res.output
    assert "r3d10" in res.stdout and "left, right, still" in res.stdout and "crop 32" in res.stdout
    res = run("info", tiny_model, "--format", "json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["labels"] == ["left", "right", "still"] and info["arch"] == "r3d10"
    assert info["preprocessing"]["crop"] == 32 and info["parameters"] > 0 and info["gflops_per_clip"] > 0


@pytest.mark.slow
def test_module_entry_point_runs_without_traceback(videos, tiny_model):
    """`python -m actionrec predict` works as a process: results on stdout, exit code 1 with a bad file."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "actionrec",
            "predict",
            str(videos["mp4"]),
            str(videos["corrupt"]),
            "--model",
            str(tiny_model),
            "--format",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert len(proc.stdout.strip().splitlines()) == 2 and "Traceback" not in proc.stderr
    assert str(videos["corrupt"]) in proc.stderr


def test_the_back_end_owns_its_option_rules(tiny_model, tmp_path):
    """open_backend refuses options that cannot work together with an OptionError naming the option (the command line
    turns it into a usage error for that flag): streams with compile or ONNX Runtime, compile with ONNX Runtime."""
    from actionrec.errors import OptionError
    from actionrec.runtime.backends import BackendKind, open_backend

    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"not read: the options are checked first")
    for path, kwargs, option in [
        (tiny_model, {"compile": True, "streams": 2}, "streams"),
        (onnx, {"kind": BackendKind.onnxruntime, "streams": 2}, "streams"),
        (onnx, {"kind": BackendKind.onnxruntime, "compile": True}, "compile"),
    ]:
        with pytest.raises(OptionError) as e:
            open_backend(path, **kwargs)
        assert e.value.option == option and "\n" not in str(e.value)
