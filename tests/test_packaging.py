"""actionrec installs anywhere: the wheel carries the default model, its ONNX twin and the sample clips, and an
installed copy finds them through importlib.resources, away from the checkout; a missing default model is one line
that fits CLI and Python users alike."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import actionrec
from actionrec import pipeline
from actionrec.checkpoint import read_meta
from actionrec.cli import app
from actionrec.errors import ModelFileError

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "actionrec", "models", "samples")  # what a build reads
DEFAULT = "actionrec-default.safetensors"
SAMPLES = sorted(p.name for p in (ROOT / "samples").iterdir() if p.suffix in {".mp4", ".json"})
runner = CliRunner()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel pip builds from a clean copy of the checkout's sources, with the environment's setuptools (no
    build isolation, no index: nothing is downloaded)."""
    pytest.importorskip("setuptools", reason="the build backend is not installed here")
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    proc = subprocess.run([*command, str(src), "-w", str(dist)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = dist.glob("actionrec-*.whl")
    return built


def test_wheel_carries_the_default_model_its_onnx_twin_and_the_samples(wheel):
    """The wheel holds actionrec/models/ (the default model and its ONNX twin, byte for byte the checkout's) and
    actionrec/samples/ (every clip and sequence.json), the `actionrec` command, and no top-level models/,
    samples/, tests/ or bench/."""
    with zipfile.ZipFile(wheel) as z:
        sizes = {info.filename: info.file_size for info in z.infolist()}
        entry_points = next(z.read(n).decode() for n in sizes if n.endswith(".dist-info/entry_points.txt"))
    for name in (DEFAULT, DEFAULT.replace(".safetensors", ".onnx")):
        assert sizes[f"actionrec/models/{name}"] == (ROOT / "models" / name).stat().st_size > 1_000_000
    assert {"sequence.mp4", "sequence.json", "punch.mp4"} <= set(SAMPLES)
    for name in SAMPLES:
        assert sizes[f"actionrec/samples/{name}"] == (ROOT / "samples" / name).stat().st_size
    assert "actionrec/models/__init__.py" in sizes and "actionrec/samples/__init__.py" in sizes
    assert not [n for n in sizes if n.split("/")[0] in ("models", "samples", "tests", "bench")]
    assert "actionrec = actionrec.cli:main" in entry_points


def test_an_installed_copy_finds_its_default_model_and_samples(wheel, tmp_path):
    """The wheel's files unpacked into a folder that a fresh interpreter imports from (its working folder outside
    the checkout): the default model, its ONNX twin and the samples come from that copy, the default model opens,
    and the ONNX twin labels a sample clip with its action."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    code = """
import json
import actionrec, actionrec.samples
from actionrec.hub import resolve_model
from actionrec.pipeline import default_model_path

model = default_model_path()
twin = actionrec.load(model.with_suffix(".onnx")).predict(actionrec.samples.path("punch.mp4"))
print(json.dumps({
    "package": actionrec.__file__,
    "model": str(model),
    "resolved": str(resolve_model(None)),
    "labels": len(actionrec.load().meta.labels),
    "sample": str(actionrec.samples.path("sequence.mp4")),
    "twin_label": twin.label,
}))
"""
    env = {k: v for k, v in os.environ.items() if k != "ACTIONREC_MODEL"} | {"PYTHONPATH": str(site)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["package"] == str(site / "actionrec" / "__init__.py")
    assert found["model"] == found["resolved"] == str(site / "actionrec" / "models" / DEFAULT)
    assert found["sample"] == str(site / "actionrec" / "samples" / "sequence.mp4")
    assert found["labels"] == len(read_meta(ROOT / "models" / DEFAULT).labels) > 1
    assert found["twin_label"] == "punch"


def test_the_checkout_is_the_editable_install():
    """In the checkout (installed with `pip install -e`), the default model and the samples are the top-level
    models/ and samples/ folders, found through the same package names."""
    assert pipeline.default_model_path() == ROOT / "models" / DEFAULT
    from actionrec import samples

    assert samples.path("sequence.json") == ROOT / "samples" / "sequence.json"
    with pytest.raises(FileNotFoundError, match=r"nope\.mp4: no such sample"):
        samples.path("nope.mp4")


def test_a_bare_checkout_finds_models_beside_the_package(monkeypatch):
    """Without an install (no `actionrec.models` package to import) the default model is models/ beside the
    package; $ACTIONREC_MODEL overrides both."""

    def no_package(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(pipeline, "resources", types.SimpleNamespace(files=no_package))
    monkeypatch.delenv("ACTIONREC_MODEL", raising=False)
    assert pipeline.default_model_path() == ROOT / "models" / DEFAULT
    monkeypatch.setenv("ACTIONREC_MODEL", "/elsewhere/m.safetensors")
    assert pipeline.default_model_path() == Path("/elsewhere/m.safetensors")


def test_a_missing_default_model_is_one_line_for_python_and_cli(monkeypatch, tmp_path, videos):
    """An install without the default model: `actionrec.load()` raises ModelFileError and `actionrec predict`
    exits 1, both with the same one line that names the file and gives advice that fits both (no --model)."""
    monkeypatch.delenv("ACTIONREC_MODEL", raising=False)
    monkeypatch.setattr(pipeline, "resources", types.SimpleNamespace(files=lambda name: tmp_path))
    expected = (
        f"{tmp_path / DEFAULT}: the default model is not there (missing from this install); pass a model file or name"
    )
    with pytest.raises(ModelFileError) as e:
        actionrec.load()
    assert str(e.value) == expected and "--model" not in expected
    res = runner.invoke(app, ["predict", str(videos["mp4"])])
    assert res.exit_code == 1 and res.output.strip().splitlines() == [f"error: {expected}"], res.output
