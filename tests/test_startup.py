"""Start-up: what a command imports before its first label (issue 28 point 2). The ONNX Runtime path never imports
torch or onnx, `--help` and `info` import neither torch nor the decoder, and `--backend auto` picks the shipped
model's ONNX twin for short inputs with the labels torch fp32 gives."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import ROOT

from actionrec.io import checkpoint

TWIN = ROOT / "models" / "actionrec-default.onnx"
HEAVY = ("torch", "onnx", "cv2")  # modules whose import is most of a cold start
# What `--help` and `info` must not import either: numpy (0.05 s; the segment defaults their options show come
# from runtime.segments without it) and pydantic (0.09 s; typer 0.29 imports it for every option, hence typer<0.29).
NOT_FOR_HELP = (*HEAVY, "numpy", "pydantic")


def imported_after(code: str, modules: tuple[str, ...] = HEAVY) -> dict[str, bool]:
    """Run `code` in a fresh interpreter and say which of `modules` it left imported (its stdout must be empty)."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps({{m: m in sys.modules for m in {modules!r}}}))\n"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_onnx_external_data_reader_matches_onnx(tmp_path):
    """The onnx-free reader of external-data locations gives, in graph order, what onnx.load gives: none for the
    shipped twin (weights inside), and each initializer's file for a model saved with two external files."""
    onnx = pytest.importorskip("onnx")

    assert checkpoint.onnx_external_data(TWIN) == []
    proto = onnx.load(str(TWIN))
    path = tmp_path / "ext.onnx"
    onnx.save_model(proto, str(path), save_as_external_data=True, location="a.data", size_threshold=0)
    proto = onnx.load(str(path), load_external_data=False)
    for i, tensor in enumerate(proto.graph.initializer):  # every other tensor points at a second file
        for entry in tensor.external_data:
            if entry.key == "location" and i % 2:
                entry.value = "b.data"
    onnx.save_model(proto, str(path))
    expected = [
        next(e.value for e in t.external_data if e.key == "location")
        for t in proto.graph.initializer
        if t.data_location == onnx.TensorProto.EXTERNAL
    ]
    assert len(expected) == len(proto.graph.initializer) > 2 and set(expected) == {"a.data", "b.data"}
    assert checkpoint.onnx_external_data(path) == expected


def test_onnx_external_data_reader_refuses_junk(tmp_path):
    """Bytes that are not an ONNX model (random, or the twin cut short) are a ValueError or EOFError, never a
    wrong answer."""
    data = TWIN.read_bytes()
    for name, content in {"cut.onnx": data[: len(data) // 2], "junk.onnx": bytes(range(256)) * 32}.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises((ValueError, EOFError)):
            checkpoint.onnx_external_data(tmp_path / name)


@pytest.mark.slow
def test_predict_on_onnx_runtime_imports_neither_torch_nor_onnx():
    """`actionrec predict` with the ONNX twin, run in a fresh interpreter, labels the punch sample as punch
    without ever importing torch or the onnx package (whose import alone took 0.6-0.9 s)."""
    code = (
        "from actionrec.cli import app\n"
        "try:\n"
        f"    app(['predict', {str(ROOT / 'samples' / 'punch.mp4')!r}, '-m', {str(TWIN)!r}, '-f', 'json'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
    )
    probe = f"{code}\nimport sys, json\nprint(json.dumps({{m: m in sys.modules for m in ('torch', 'onnx')}}))\n"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result, _, imported = proc.stdout.strip().rpartition("\n")
    assert json.loads(result)["videos"][0]["label"] == "punch"
    assert json.loads(imported) == {"torch": False, "onnx": False}


SAMPLES = sorted((ROOT / "samples").glob("*.mp4"))


@pytest.fixture(scope="module")
def torch_fp32():
    """The shipped model on torch at fp32: the reference labels."""
    from actionrec.runtime.pipeline import load

    with load(backend="torch", precision="fp32") as recognizer:
        yield recognizer


@pytest.mark.slow
def test_auto_runs_the_onnx_twin_on_short_samples_with_torch_fp32_labels(torch_fp32):
    """On each of the 6 shipped samples (2-15 s, at most 64 clips), `backend=auto` given the video opens the
    shipped model's ONNX twin on ONNX Runtime, and its video label, segments and every window's top label equal
    torch fp32's."""
    from actionrec.runtime.pipeline import load

    assert len(SAMPLES) == 6
    for sample in SAMPLES:
        with load(videos=[sample]) as auto:
            assert auto.backend.name == "onnxruntime", sample
            got, want = auto.predict(sample), torch_fp32.predict(sample)
        assert got.label == want.label, sample
        assert [(s.label, s.start_s, s.end_s) for s in got.segments] == [
            (s.label, s.start_s, s.end_s) for s in want.segments
        ], sample
        assert [w.top[0].label for w in got.windows] == [w.top[0].label for w in want.windows], sample


def test_clip_count_from_headers_is_the_windows_predict_makes(torch_fp32):
    """`count_clips` reads only the headers, yet gives exactly the windows predict labels, for each sample and
    stride 4; a URL, a missing file or a name the system refuses counts as past the limit (it may be long), and the
    count stops past it."""
    from actionrec.runtime.pipeline import count_clips

    spec = torch_fp32.meta.preprocessing
    for sample in (ROOT / "samples" / "punch.mp4", ROOT / "samples" / "sequence.mp4"):
        for stride in (None, 4):
            windows = torch_fp32.window_probs(sample, stride=stride)[1]
            assert count_clips([sample], spec, stride=stride, limit=10_000) == len(windows)
    assert count_clips(["http://camera.local/stream"], spec, limit=64) == 65
    assert count_clips([ROOT / "samples" / "missing.mp4"], spec, limit=64) == 65
    assert count_clips(["a" * 5000 + ".mp4"], spec, limit=64) == 65  # a name too long: its own error, not the run's
    assert 64 < count_clips([ROOT / "samples" / "sequence.mp4"] * 10, spec, limit=64) < 31 * 10


def test_auto_keeps_torch_where_the_twin_does_not_apply(tiny_model):
    """`backend=auto` opens torch: without `videos` (the Python API as before), for a run of more clips than
    AUTO_ONNX_MAX_CLIPS (the 15 s sample 3 times: 93), with bf16 asked for, with --compile or --streams 2 (torch
    options), and for a model that is not the shipped one."""
    from actionrec.runtime.pipeline import AUTO_ONNX_MAX_CLIPS, load

    sequence = ROOT / "samples" / "sequence.mp4"
    assert AUTO_ONNX_MAX_CLIPS < 93
    cases = [
        {},
        {"videos": [sequence] * 3},
        {"videos": [sequence], "precision": "bf16"},
        {"videos": [sequence], "streams": 2},
        {"videos": [sequence], "model": tiny_model},
    ]
    for options in cases:
        with load(**options) as recognizer:
            assert recognizer.backend.name == "torch", options
    with load(videos=[sequence], precision="fp32") as recognizer:
        assert recognizer.backend.name == "onnxruntime"


def test_help_and_info_import_neither_torch_nor_onnx_nor_opencv_nor_numpy_nor_pydantic():
    """`actionrec --help`, `actionrec info` (on the shipped model and on its ONNX twin) and `actionrec predict
    --help` run in a fresh interpreter without importing torch, onnx, OpenCV (cv2), numpy or pydantic: what they
    print needs none of them."""
    for argv in (["--help"], ["info"], ["info", str(TWIN)], ["predict", "--help"]):
        code = (
            f"from actionrec.cli import app\ntry:\n    app({argv!r})\nexcept SystemExit as e:\n    assert not e.code\n"
        )
        assert imported_after(code, NOT_FOR_HELP) == dict.fromkeys(NOT_FOR_HELP, False), argv


@pytest.mark.slow
def test_a_broken_video_is_still_one_line_on_stderr(tmp_path):
    """FFmpeg's own messages stay silenced now that OpenCV is imported only by commands that read video: predict
    on an .mp4 cut to its first 5,000 bytes prints actionrec's lines only (the model note, the error, the count)."""
    broken = tmp_path / "cut.mp4"
    broken.write_bytes((ROOT / "samples" / "punch.mp4").read_bytes()[:5000])
    proc = subprocess.run(
        [sys.executable, "-m", "actionrec", "predict", str(broken), "-m", str(TWIN)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1
    assert [line.split(":")[0] for line in lines] == ["note", "error", "1 of 1 videos failed"], proc.stderr
    assert str(broken) in lines[1]


def test_importing_the_package_imports_no_runtime():
    """`import actionrec` imports neither numpy, OpenCV, torch nor onnx; its runtime names (`load`, `Recognizer`,
    `VideoResult`) arrive on first use and are the runtime's own objects; an unknown name is an AttributeError."""
    code = (
        "import sys, actionrec\n"
        "assert 'numpy' not in sys.modules, 'numpy'\n"
        "from actionrec.runtime import aggregate, pipeline\n"
        "assert actionrec.load is pipeline.load and actionrec.Recognizer is pipeline.Recognizer\n"
        "assert actionrec.VideoResult is aggregate.VideoResult and 'load' in dir(actionrec)\n"
        "assert not hasattr(actionrec, 'no_such_name')\n"
    )
    assert imported_after("import actionrec") == dict.fromkeys(HEAVY, False)
    assert imported_after(code)["torch"] is False
