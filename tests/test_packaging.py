"""actionrec installs anywhere: the wheel carries the default model, its ONNX twin and the sample clips, and an
installed copy finds them through importlib.resources, away from the checkout; a missing default model is one line
that fits CLI and Python users alike; a command whose optional extra is missing stops with one line naming it; an
.onnx file is read without the onnx package; OpenVINO's plug-in, where it offers nothing, leaves ONNX Runtime's
own kernels running."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT
from typer.testing import CliRunner

import actionrec
from actionrec import hub
from actionrec.cli import app
from actionrec.errors import ActionrecError, ModelFileError, require_extra
from actionrec.io import checkpoint
from actionrec.io.checkpoint import read_meta
from actionrec.runtime import backends, pipeline

SOURCES = ("pyproject.toml", "README.md", "actionrec", "models", "samples")  # what a build reads
DEFAULT = "actionrec-default.safetensors"
SAMPLES = sorted(p.name for p in (ROOT / "samples").iterdir() if p.suffix in {".mp4", ".json"})
runner = CliRunner()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel pip builds from a clean copy of the checkout's sources, with the environment's setuptools (no
    build isolation, no index: nothing is downloaded)."""
    pytest.importorskip("setuptools", reason="the build backend is not installed here ([dev] installs it)")
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


@pytest.mark.slow
def test_wheel_carries_the_default_model_its_onnx_twin_and_the_samples(wheel):
    """The wheel holds actionrec/models/ (the default model and its ONNX twin, byte for byte the checkout's) and
    actionrec/samples/ (every clip and sequence.json), every module of the package's source tree, the `actionrec`
    command, and no top-level models/, samples/, tests/ or bench/."""
    with zipfile.ZipFile(wheel) as z:
        sizes = {info.filename: info.file_size for info in z.infolist()}
        entry_points = next(z.read(n).decode() for n in sizes if n.endswith(".dist-info/entry_points.txt"))
    for name in (DEFAULT, DEFAULT.replace(".safetensors", ".onnx")):
        assert sizes[f"actionrec/models/{name}"] == (ROOT / "models" / name).stat().st_size > 1_000_000
    assert {"sequence.mp4", "sequence.json", "punch.mp4"} <= set(SAMPLES)
    for name in SAMPLES:
        assert sizes[f"actionrec/samples/{name}"] == (ROOT / "samples" / name).stat().st_size
    assert "actionrec/models/__init__.py" in sizes and "actionrec/samples/__init__.py" in sizes
    assert (
        sizes["actionrec/ops/attention_kernels.c"]
        == (ROOT / "actionrec" / "ops" / "attention_kernels.c").stat().st_size
    )
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "actionrec").rglob("*.py")}
    assert modules <= set(sizes), sorted(modules - set(sizes))  # every module of every subpackage is in the wheel
    assert not [n for n in sizes if n.split("/")[0] in ("models", "samples", "tests", "bench")]
    assert "actionrec = actionrec.cli:main" in entry_points


@pytest.mark.slow
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
from actionrec.runtime.pipeline import default_model_path

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

    monkeypatch.setattr(hub, "resources", types.SimpleNamespace(files=no_package))
    monkeypatch.delenv("ACTIONREC_MODEL", raising=False)
    assert pipeline.default_model_path() == ROOT / "models" / DEFAULT
    monkeypatch.setenv("ACTIONREC_MODEL", "/elsewhere/m.safetensors")
    assert pipeline.default_model_path() == Path("/elsewhere/m.safetensors")


def test_a_missing_default_model_is_one_line_for_python_and_cli(monkeypatch, tmp_path, videos):
    """An install without the default model: `actionrec.load()` raises ModelFileError and `actionrec predict`
    exits 1, both with the same one line that names the file and gives advice that fits both (no --model)."""
    monkeypatch.delenv("ACTIONREC_MODEL", raising=False)
    monkeypatch.setattr(hub, "resources", types.SimpleNamespace(files=lambda name: tmp_path))
    expected = (
        f"{tmp_path / DEFAULT}: the default model is not there (missing from this install); pass a model file or name"
    )
    with pytest.raises(ModelFileError) as e:
        actionrec.load()
    assert str(e.value) == expected and "--model" not in expected
    res = runner.invoke(app, ["predict", str(videos["mp4"])])
    assert res.exit_code == 1 and res.output.strip().splitlines() == [f"error: {expected}"], res.output


def test_require_extra_names_the_extra():
    """A missing optional package raises one line naming the job, the package and the extra to install; present
    packages raise nothing."""
    require_extra("x", "plot", ("json", "os"))
    with pytest.raises(ActionrecError) as e:
        require_extra("m.safetensors: ONNX export", "export", ("json", "no_such_module_here"))
    assert str(e.value) == (
        "m.safetensors: ONNX export needs no_such_module_here (not installed): pip install 'actionrec[export]'"
    )


def test_export_without_its_extra_stops_at_once(monkeypatch, tiny_model, tmp_path):
    """Without onnxscript (the [export] extra), `actionrec export` exits 1 with one error line naming the model
    file, the package and `pip install 'actionrec...`, and writes nothing."""
    from actionrec.onnx_export import export_onnx

    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import fails, find_spec says absent
    src = tmp_path / "tiny.safetensors"
    src.write_bytes(tiny_model.read_bytes())
    with pytest.raises(ActionrecError) as e:
        export_onnx(src)
    assert str(e.value) == f"{src}: ONNX export needs onnxscript (not installed): pip install 'actionrec[export]'"
    res = runner.invoke(app, ["export", str(src), "--onnx"])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 1 and len(lines) == 1, res.output
    assert lines[0].startswith(f"error: {src}: ONNX export needs onnxscript") and "pip install 'actionrec" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.safetensors"]


def test_cli_prints_the_extra_verbatim(monkeypatch, tiny_model, tmp_path):
    """The CLI's error line carries the install command exactly: pip install 'actionrec[export]'."""
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    res = runner.invoke(app, ["export", str(tiny_model), "--onnx", "-o", str(tmp_path / "t.onnx")])
    assert "pip install 'actionrec[export]'" in res.output, res.output


def test_an_onnx_file_is_read_without_the_onnx_package(tmp_path):
    """In a fresh interpreter where `import onnx` fails, the shipped ONNX twin's metadata reads (the same as the
    .safetensors model's), and `actionrec info` on it lists its labels."""
    code = f"""
import sys
sys.modules["onnx"] = None
from typer.testing import CliRunner
from actionrec.io.checkpoint import read_meta
from actionrec.cli import app

twin = {str(ROOT / "models" / "actionrec-default.onnx")!r}
assert read_meta(twin) == read_meta(twin.replace(".onnx", ".safetensors"))
res = CliRunner().invoke(app, ["info", twin])
assert res.exit_code == 0, res.output
print(res.stdout)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(label in proc.stdout for label in read_meta(ROOT / "models" / DEFAULT).labels)


def test_onnx_metadata_reader_matches_onnx_and_refuses_junk(tmp_path):
    """The torch- and onnx-free reader of metadata_props gives what onnx.load gives on the shipped model, and
    refuses random bytes and a file cut short with ModelFileError naming the file."""
    import onnx

    twin = ROOT / "models" / "actionrec-default.onnx"
    expected = {p.key: p.value for p in onnx.load(str(twin), load_external_data=False).metadata_props}
    assert checkpoint.onnx_metadata_props(twin) == expected and "actionrec" in expected
    data = twin.read_bytes()
    for name, content in {
        "random.onnx": np.random.default_rng(1).integers(0, 256, 8192, dtype=np.uint8).tobytes(),
        "cut.onnx": data[: len(data) - 10],
        "empty.onnx": b"",
    }.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelFileError, match=rf"{name}: not a readable ONNX file"):
            checkpoint.read_onnx_meta(tmp_path / name)


def test_openvino_plugin_that_offers_nothing_leaves_the_cpu_provider(monkeypatch):
    """With no OpenVINO built into onnxruntime: a plug-in package that is absent or cannot register gives no
    devices; one whose device refuses the session falls back to ONNX Runtime's CPU provider under provider="auto"
    and is a one-line error under provider="openvino"; without any, provider="openvino" says how to install it."""
    import onnxruntime as ort

    if backends.OPENVINO in ort.get_available_providers():
        pytest.skip("this onnxruntime has OpenVINO built in (onnxruntime-openvino)")
    twin = ROOT / "models" / "actionrec-default.onnx"
    broken = types.SimpleNamespace(get_library_path=lambda: "/nonexistent/libplugin.so")
    monkeypatch.setitem(sys.modules, "onnxruntime_ep_openvino", broken)
    backends._register_openvino_plugin.cache_clear()
    try:
        assert backends.openvino_plugin_devices() == []  # registering a missing library fails: no devices
    finally:
        backends._register_openvino_plugin.cache_clear()
    monkeypatch.setattr(backends, "openvino_plugin_devices", lambda: ["not a device"])
    assert backends.OnnxBackend(twin).provider == "CPUExecutionProvider"
    with pytest.raises(ActionrecError, match=r"actionrec-default\.onnx: OpenVINO's plug-in cannot run it \("):
        backends.OnnxBackend(twin, provider="openvino")
    monkeypatch.setattr(backends, "openvino_plugin_devices", lambda: [])
    with pytest.raises(ActionrecError) as e:
        backends.OnnxBackend(twin, provider="openvino")
    assert str(e.value) == f"{twin}: no OpenVINO provider here ({backends.OPENVINO_HINT})"
    assert "pip install 'actionrec[openvino]'" in backends.OPENVINO_HINT
