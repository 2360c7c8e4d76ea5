"""A batch of videos survives its faults: an unreadable file, a skipped format, a bad output path, a signal, a
network that returns NaN; each gets one line on stderr naming it, and what finished is kept, whole and strict."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT, moving_square_frames, write_cv2_video
from typer.testing import CliRunner

from actionrec.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def strict_loads(text: str):
    """json.loads that refuses NaN, Infinity and -Infinity (which Python's json accepts by default)."""

    def refuse(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_unreadable_file_on_the_command_line_is_a_per_file_error(videos, tiny_model, tmp_path, monkeypatch):
    """A file named on the command line that cannot be read is that file's error (one stderr line naming it, its
    JSON `error` set), not a usage error that stops the batch: the others are labelled and the exit code is 1."""
    locked = tmp_path / "locked.mp4"
    locked.write_bytes(videos["mp4"].read_bytes())
    locked.chmod(0)
    real_access = os.access

    def access(path, mode, *args, **kwargs):  # root reads anything: deny this one file as a user would see it
        if Path(path).name == locked.name and mode & os.R_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    res = run("predict", videos["mp4"], locked, videos["avi"], "--model", tiny_model, "--format", "json")
    assert res.exit_code == 1, res.output
    doc = strict_loads(res.stdout)
    by_name = {v["video"]: v for v in doc["videos"]}
    assert list(by_name) == [str(videos["mp4"]), str(locked), str(videos["avi"])]
    assert by_name[str(videos["mp4"])]["label"] and by_name[str(videos["avi"])]["label"]
    assert "permission denied" in by_name[str(locked)]["error"]
    assert [line for line in res.stderr.splitlines() if str(locked) in line] == [f"error: {locked}: permission denied"]
    assert "Traceback" not in res.output


def test_folder_scan_takes_gif_and_names_what_it_skips(videos, tiny_model, tmp_path):
    """A folder scan picks up every container the decoder reads (an animated .gif, a .webm-named file, ...) and
    says on one stderr line how many files it skipped and which; a folder named like a video, given on the
    command line, is a per-file error, not silence."""
    image = pytest.importorskip("PIL.Image")
    clips = tmp_path / "clips"
    clips.mkdir()
    frames = [image.fromarray(f) for f in moving_square_frames(20, seed=4)]
    frames[0].save(clips / "anim.gif", save_all=True, append_images=frames[1:], duration=40, loop=0)
    (clips / "square.mkv").write_bytes(videos["avi"].read_bytes())
    (clips / "notes.txt").write_text("not a video")
    (clips / "folder.mp4").mkdir()
    given_folder = tmp_path / "x.mp4"
    given_folder.mkdir()
    res = run("predict", clips, given_folder, "--model", tiny_model, "--format", "jsonl")
    assert res.exit_code == 1, res.output
    by_name = {v["video"]: v for v in map(strict_loads, res.stdout.splitlines())}
    assert set(by_name) == {str(clips / "anim.gif"), str(clips / "square.mkv"), str(given_folder)}
    assert by_name[str(clips / "anim.gif")]["label"] and by_name[str(clips / "anim.gif")]["frames"] == 20
    assert by_name[str(clips / "square.mkv")]["label"]
    assert "folder" in by_name[str(given_folder)]["error"]
    skipped = [line for line in res.stderr.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1 and "skipped 2 files" in skipped[0]
    assert str(clips / "notes.txt") in skipped[0] and str(clips / "folder.mp4") in skipped[0]
    assert sum(str(given_folder) in line for line in res.stderr.splitlines()) == 1


@pytest.mark.parametrize("fmt", ["json", "jsonl", "table"])
def test_output_that_is_a_folder_is_a_one_line_usage_error(videos, tiny_model, tmp_path, fmt):
    """-o naming a folder (or a path below a file) is one stderr line naming it, exit code 2, before any video is
    read: not "internal error: IsADirectoryError", and nothing is written into the folder."""
    folder = tmp_path / "results"
    folder.mkdir()
    res = run("predict", videos["mp4"], "--model", tiny_model, "--format", fmt, "-o", folder)
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines() == [
        f"error: --output {folder}: is a folder; give a file to write the results to"
    ]
    assert res.stdout == "" and list(folder.iterdir()) == []
    below_a_file = videos["mp4"].parent / "square.mp4" / "out.json"
    res = run("predict", videos["mp4"], "--model", tiny_model, "--format", fmt, "-o", below_a_file)
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1 and str(below_a_file) in res.stderr


# ---- interrupted runs: SIGINT, SIGTERM, SIGKILL, --resume ----


@pytest.fixture(scope="module")
def many_videos(tmp_path_factory) -> list[Path]:
    """Eighty distinct video files (hard links of one generated clip), enough that a signal lands mid-run."""
    d = tmp_path_factory.mktemp("many")
    first = write_cv2_video(d / "clip000.mp4", moving_square_frames(48, seed=5), 25.0, "mp4v")
    paths = [first]
    for i in range(1, 80):
        os.link(first, d / f"clip{i:03d}.mp4")
        paths.append(d / f"clip{i:03d}.mp4")
    return paths


def start_predict(paths, model, *args) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "actionrec", "predict", *map(str, paths), "--model", str(model), *map(str, args)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def interrupted_status(returncode: int, sig: int) -> int:
    """The exit status a shell reports: 128 + N for a process ended by signal N. After Ctrl-C's clean-up (the
    stderr line the tests check) Python sometimes ends by SIGINT itself rather than exit(130) (about 1 run in 6 on
    2 loaded cores); `$?` is 130 either way. SIGTERM has no such second path: -15 would mean no clean-up ran."""
    return 128 + sig if returncode == -signal.SIGINT == -sig else returncode


def wait_for_lines(path: Path, proc: subprocess.Popen, n: int = 1, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no result line in {path} after {timeout} s")


def hidden_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_signal_keeps_finished_jsonl_lines_and_resume_finishes_the_run(
    many_videos, tiny_model, tmp_path, sig, code, word
):
    """--format jsonl -o FILE: each video's line is in FILE as soon as it finishes; SIGINT / SIGTERM keep those
    lines (whole, strict JSON), say on stderr where they are, exit 130 / 143 and leave no hidden file; `--resume`
    then skips the videos already there, drops a half-written last line (as SIGKILL may leave) and appends the
    rest, so that every video is in FILE exactly once."""
    out = tmp_path / "out.jsonl"
    proc = start_predict(many_videos, tiny_model, "--format", "jsonl", "-o", out)
    wait_for_lines(out, proc, 2)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert interrupted_status(proc.returncode, sig) == code, stderr
    text = out.read_text()
    assert text.endswith("\n")
    kept = [strict_loads(line)["video"] for line in text.splitlines()]
    assert 2 <= len(kept) < len(many_videos), "the signal should land mid-run"
    assert kept == [str(p) for p in many_videos[: len(kept)]]
    assert f"{word}: {len(kept)} of {len(many_videos)} videos' results kept in {out}" in stderr
    assert "Traceback" not in stderr and hidden_files(tmp_path) == []

    with out.open("a") as f:  # a run killed mid-line
        f.write('{"video": "' + str(many_videos[len(kept)]) + '", "frames": 4')
    res = run("predict", *many_videos, "--model", tiny_model, "--resume", "-o", out)
    assert res.exit_code == 0, res.output
    assert "dropped a half-written last line" in res.stderr
    assert f"resuming {out}: {len(kept)} of {len(many_videos)} videos already there" in res.stderr
    final = [strict_loads(line)["video"] for line in out.read_text().splitlines()]
    assert final == [str(p) for p in many_videos]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_leaves_no_temp_file_of_json_output(many_videos, tiny_model, tmp_path, sig):
    """--format json -o FILE stays whole or absent: a SIGINT or SIGTERM mid-run removes the temporary file, leaves
    no FILE, and says so on stderr."""
    out = tmp_path / "out.json"
    proc = start_predict(many_videos, tiny_model, "--format", "json", "-o", out)
    deadline = time.monotonic() + 60
    while not hidden_files(tmp_path) and time.monotonic() < deadline:  # the temporary file: the run is writing
        assert proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert interrupted_status(proc.returncode, sig) == (130 if sig == signal.SIGINT else 143), stderr
    assert not out.exists() and hidden_files(tmp_path) == []
    assert f"{out} not written" in stderr and "Traceback" not in stderr


# ---- non-finite scores ----


@pytest.fixture(scope="module")
def nan_model(tiny_model, tmp_path_factory) -> Path:
    """tiny_model (r3d10, width 8, 3 labels, 8x32x32) with one classifier weight set to NaN."""
    import torch

    from actionrec.io.checkpoint import load_model, save_model

    model, meta = load_model(tiny_model)
    with torch.no_grad():
        last_weight = [p for name, p in model.named_parameters() if name.endswith("weight")][-1]
        last_weight.view(-1)[0] = float("nan")
    return save_model(tmp_path_factory.mktemp("nan_model") / "nan.safetensors", model, meta)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_non_finite_scores_are_the_videos_error_never_nan_in_json(videos, nan_model, tmp_path, fmt):
    """A network that returns NaN scores gives each video `error` = "... non-finite scores ..." (one stderr line
    naming it, exit code 1), and the JSON written, to stdout or to -o, parses with a strict parser: no NaN."""
    res = run("predict", videos["mp4"], videos["avi"], "--model", nan_model, "--format", fmt)
    out = tmp_path / f"out.{fmt}"
    res_file = run("predict", videos["mp4"], videos["avi"], "--model", nan_model, "--format", fmt, "-o", out)
    for result, text in ((res, res.stdout), (res_file, out.read_text())):
        assert result.exit_code == 1, result.output
        docs = [strict_loads(text)] if fmt == "json" else [{"videos": list(map(strict_loads, text.splitlines()))}]
        entries = docs[0]["videos"]
        assert [v["video"] for v in entries] == [str(videos["mp4"]), str(videos["avi"])]
        for v in entries:
            assert "non-finite scores" in v["error"] and v["label"] is None and v["score"] is None
            assert v["top"] == [] and v["windows"] == []
        for name in ("mp4", "avi"):
            assert sum(str(videos[name]) in line for line in result.stderr.splitlines()) == 1


# ---- explain and predict agree ----


@pytest.mark.slow
def test_explain_reports_predicts_video_label(tmp_path):
    """explain's video label and score are predict's for the same model and video (samples/sequence.mp4 and the
    shipped model: once walk_right over explain's 9 drawn windows against predict's squat over its 16)."""
    sample = ROOT / "samples" / "sequence.mp4"
    predicted = run("predict", sample, "--format", "json")
    assert predicted.exit_code == 0, predicted.output
    video = strict_loads(predicted.stdout)["videos"][0]
    explained = run("explain", sample, "--sheet", tmp_path / "sheet.png")
    assert explained.exit_code == 0, explained.output
    first = explained.stdout.splitlines()[0]
    n = len(video["windows"])
    assert first.startswith(f"{sample}: {video['label']} {video['score']:.3f} (predict's label, over its {n} windows;")


# ---- stderr carries actionrec's lines only ----


def test_onnx_with_missing_external_data_is_one_short_line(videos, tmp_path):
    """An .onnx whose external-data file was deleted: exactly one stderr line, under 200 characters, naming the
    .onnx and the missing data file; no ONNX Runtime log lines."""
    onnx = pytest.importorskip("onnx")
    model = tmp_path / "ext.onnx"
    shipped = ROOT / "models" / "actionrec-default.onnx"
    proto = onnx.load(str(shipped))
    onnx.save_model(proto, str(model), save_as_external_data=True, location="ext.onnx.data", size_threshold=0)
    (tmp_path / "ext.onnx.data").unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "actionrec", "predict", str(videos["mp4"]), "--model", str(model)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert len(lines[0]) < 200 and str(model) in lines[0] and "ext.onnx.data" in lines[0]


@pytest.mark.slow
def test_no_library_warnings_on_stderr(nan_model):
    """With PYTHONWARNINGS=default (every warning shown once), predict of the sample video prints no library
    warning (numpy's RuntimeWarning over NaN scores, torch's UserWarnings): only actionrec's own lines."""
    sample = ROOT / "samples" / "sequence.mp4"
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    for model in ([], ["--model", str(nan_model)]):
        proc = subprocess.run(
            [sys.executable, "-m", "actionrec", "predict", str(sample), "--format", "json", *model],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert proc.returncode in (0, 1), proc.stderr
        assert "Warning" not in proc.stderr and "warn" not in proc.stderr, proc.stderr


SITECUSTOMIZE = """
import warnings

import actionrec.runtime.pipeline as pipeline

_predict_many = pipeline.Recognizer.predict_many


def predict_many(self, *args, **kwargs):
    warnings.warn("a library's UserWarning", UserWarning)  # as torch's and numpy's reach predict
    warnings.warn("a library's RuntimeWarning", RuntimeWarning)
    return _predict_many(self, *args, **kwargs)


pipeline.Recognizer.predict_many = predict_many
"""


@pytest.mark.slow
def test_a_library_warning_stays_off_stderr(tmp_path):
    """A UserWarning and a RuntimeWarning raised by a library while predict runs (here injected through
    sitecustomize, with PYTHONWARNINGS=default) do not reach stderr; the results still do."""
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    sample = ROOT / "samples" / "punch.mp4"
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONWARNINGS": "default", "PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, "-m", "actionrec", "predict", str(sample), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["videos"][0]["label"] == "punch"
    assert "Warning" not in proc.stderr, proc.stderr
    debug = subprocess.run(  # the same run with ACTIONREC_DEBUG=1 shows them: the injection works
        [sys.executable, "-m", "actionrec", "predict", str(sample), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "ACTIONREC_DEBUG": "1"},
    )
    assert "a library's UserWarning" in debug.stderr


@pytest.mark.slow
def test_a_file_name_that_is_not_utf8_is_labelled_and_the_batch_goes_on(videos, tiny_model, tmp_path):
    """A video whose name holds a byte that is not UTF-8 (which crashed OpenCV: a segmentation fault that killed the
    batch) is decoded and labelled like any other, in a folder and named alone, and the videos after it go on."""
    folder = tmp_path / "names"
    folder.mkdir()
    data = videos["mp4"].read_bytes()
    for name in (b"a_ok.mp4", b"b_bad\xff.mp4", b"c_ok.mp4"):
        Path(os.fsdecode(bytes(folder) + b"/" + name)).write_bytes(data)
    bad = os.fsdecode(bytes(folder) + b"/b_bad\xff.mp4")
    for target in (str(folder), bad):
        proc = subprocess.run(
            [sys.executable, "-m", "actionrec", "predict", target, "-m", tiny_model, "-f", "jsonl"],
            capture_output=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        records = [json.loads(line) for line in proc.stdout.decode().splitlines()]
        assert all(r["error"] is None and r["label"] for r in records)
        assert len(records) == (3 if target == str(folder) else 1)
        assert any(r["video"].endswith("b_bad\udcff.mp4") for r in records)


@pytest.mark.slow
def test_stderr_carries_actionrecs_lines_only_for_files_that_are_no_videos(videos, tiny_model, tmp_path):
    """A text file and a corrupt container named on the command line: OpenCV's "[ WARN:0@...] global cap.cpp"
    line and FFmpeg's own messages never reach stderr; each file is one "error:" line."""
    proc = subprocess.run(
        [sys.executable, "-m", "actionrec", "predict", str(videos["text"]), str(videos["corrupt"]), "-m", tiny_model],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith(("error: ", "warning: ", "note: ", "2 of 2")) for line in lines), lines
    assert sum(line.startswith("error: ") for line in lines) == 2
