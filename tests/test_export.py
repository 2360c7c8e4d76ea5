"""`actionrec export --onnx` and the ONNX Runtime back end: every architecture exports and matches PyTorch, the
file alone is a usable model (metadata, info, predict), predict through ONNX never imports torch, bad files give
one-line errors, a failing parity check leaves nothing behind, and the optional int8 model works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from actionrec import onnx_export
from actionrec.cli import app
from actionrec.errors import ActionrecError, ModelFileError
from actionrec.io.checkpoint import META_KEY, load_model, read_meta, save_model
from actionrec.model_meta import ModelMeta, Preprocessing
from actionrec.runtime.backends import OPENVINO, OnnxBackend

runner = CliRunner()
SMALL = Preprocessing(clip_len=8, frame_step=1, resize=36, crop=32)


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def leftovers(folder: Path) -> list[str]:
    """Files in `folder` other than the inputs a test put there."""
    return sorted(p.name for p in folder.iterdir() if p.suffix != ".safetensors")


@pytest.fixture(scope="module")
def exported(tiny_model, videos, tmp_path_factory) -> tuple[Path, str]:
    """The tiny r3d10 (attention on) exported through the CLI with a real check video: (file, stdout)."""
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    res = run("export", tiny_model, "--onnx", "--output", out, "--check-video", videos["mp4"])
    assert res.exit_code == 0, res.output
    return out, res.stdout


@pytest.mark.slow
def test_export_writes_one_checked_file_with_dynamic_batch(exported, tiny_model):
    """The CLI reports parity on random and video clips, and writes one valid, self-contained .onnx file whose
    batch axis is symbolic and whose T, H, W are the model's; batches of 1 and 3 match PyTorch."""
    path, stdout = exported
    assert f"wrote {path}" in stdout and "check video: square.mp4" in stdout
    assert "2 random clips" in stdout and "8 video clips" in stdout and "top-1 agreement" in stdout
    assert leftovers(path.parent) == ["tiny.onnx"]  # no external data file, no temporary file
    proto = onnx.load(str(path), load_external_data=False)
    onnx.checker.check_model(proto, full_check=True)
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].HasField("dim_value")
    assert [d.dim_value for d in dims[1:]] == [3, 8, 32, 32]

    import torch

    model, _ = load_model(tiny_model)
    backend = OnnxBackend(path)
    for n in (1, 3):
        clips = np.random.default_rng(n).standard_normal((n, 3, 8, 32, 32), dtype=np.float32)
        with torch.inference_mode():
            ref = model(torch.from_numpy(clips)).numpy()
        assert np.abs(backend(clips) - ref).max() <= 1e-4 * np.abs(ref).max()


@pytest.mark.slow
def test_exported_file_carries_metadata(exported, tiny_model):
    """read_meta on the .onnx gives back the model file's metadata exactly; labels and arch are readable props."""
    path, _ = exported
    assert read_meta(path) == read_meta(tiny_model)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert ModelMeta.from_json(props[META_KEY]).preprocessing == SMALL
    assert props["labels"] == "left, right, still" and props["arch"] == "r3d10" and props["precision"] == "fp32"


@pytest.mark.slow
def test_info_reads_an_onnx_file(exported):
    """`actionrec info x.onnx --format json` prints the metadata, parameters and GFLOPs."""
    path, _ = exported
    res = run("info", path, "--format", "json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["labels"] == ["left", "right", "still"] and info["parameters"] > 0 and info["gflops_per_clip"] > 0


def test_both_back_ends_predict_the_same(exported, tiny_model, videos):
    """predict on one video through ONNX Runtime and through PyTorch fp32 gives the same labels and scores
    (within 1e-4), per window and per video; --backend onnxruntime is what the .onnx suffix picks anyway."""
    path, _ = exported
    docs = {}
    for name, args in {
        "ort": ("--model", path, "--backend", "onnxruntime"),
        "torch": ("--model", tiny_model, "--precision", "fp32"),
    }.items():
        res = run("predict", videos["avi"], *args, "--format", "json", "--top-k", "3")
        assert res.exit_code == 0, res.output
        docs[name] = json.loads(res.stdout)["videos"][0]
    ort, ref = docs["ort"], docs["torch"]
    assert ort["label"] == ref["label"] and len(ort["windows"]) == len(ref["windows"]) > 1
    windows = zip(ort["windows"], ref["windows"], strict=True)
    pairs = [(ort["top"], ref["top"])] + [(a["top"], b["top"]) for a, b in windows]
    for a, b in pairs:
        assert [s["label"] for s in a] == [s["label"] for s in b]
        assert max(abs(s["score"] - t["score"]) for s, t in zip(a, b, strict=True)) < 1e-4


def test_onnx_runtime_runs_on_openvino_where_installed(exported):
    """Where OpenVINO's provider is present (built into onnxruntime-openvino, or the [openvino] plug-in offering
    this CPU) the back end runs the graph there; provider="cpu" forces ONNX Runtime's own kernels; both give the
    same logits. Without it, asking for OpenVINO is a one-line error that says how to install it."""
    import onnxruntime as ort

    from actionrec.runtime.backends import OPENVINO_HINT, openvino_plugin_devices

    path, _ = exported
    has_openvino = OPENVINO in ort.get_available_providers() or bool(openvino_plugin_devices())
    auto, cpu = OnnxBackend(path), OnnxBackend(path, provider="cpu")
    assert auto.provider == (OPENVINO if has_openvino else "CPUExecutionProvider")
    assert cpu.provider == "CPUExecutionProvider"
    clips = np.random.default_rng(0).standard_normal((3, 3, 8, 32, 32), dtype=np.float32)
    assert np.allclose(auto(clips), cpu(clips), atol=1e-4)
    if not has_openvino:
        with pytest.raises(ActionrecError) as e:
            OnnxBackend(path, provider="openvino")
        assert str(e.value) == f"{path}: no OpenVINO provider here ({OPENVINO_HINT})"


def test_onnx_predict_does_not_import_torch(exported, videos):
    """In a fresh interpreter, predicting with an .onnx model (Python API and CLI) never imports torch."""
    path, _ = exported
    code = f"""
import sys
import actionrec
from typer.testing import CliRunner
from actionrec.cli import app

result = actionrec.load({str(path)!r}).predict({str(videos["mp4"])!r})
assert result.label in ("left", "right", "still"), result
res = CliRunner().invoke(app, ["predict", {str(videos["avi"])!r}, "--model", {str(path)!r}, "--format", "jsonl"])
assert res.exit_code == 0, res.output
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
assert not loaded, loaded
print("torch-free")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "torch-free" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arch", "arch_args", "check_video"),
    [
        ("r3d18", {"width": 8, "attention": False}, "avi"),
        ("dense3d", {"growth": 8, "block_layers": [2, 2, 2, 2]}, "vfr"),
        ("c3d", {"width": 8, "hidden": 64}, None),
    ],
)
def test_every_architecture_exports_and_matches(arch, arch_args, check_video, videos, tmp_path):
    """Plain 3D ResNet, the dense variant and C3D (the attention r3d10 is the module fixture) export, and ONNX
    Runtime matches PyTorch within 1e-4 x max |logit| on random and video clips; without --check-video the check
    says it used a generated video."""
    import torch

    from actionrec.networks import build

    torch.manual_seed(1)
    meta = ModelMeta(arch=arch, arch_args=arch_args, labels=("a", "b", "c", "d"), preprocessing=SMALL)
    src = save_model(tmp_path / f"{arch}.safetensors", build(arch, num_classes=4, **arch_args), meta)
    result = onnx_export.export_onnx(src, check_videos=[videos[check_video]] if check_video else ())
    assert result.path == tmp_path / f"{arch}.onnx" and result.path.exists() and result.int8_path is None
    assert [p.clips for p in result.parity] == [2, 8]
    for p in result.parity:
        assert p.max_abs_diff <= 1e-4 * p.scale and p.top1_agreement == 1.0
    assert ("generated" in result.check_video) == (check_video is None)
    assert read_meta(result.path) == meta
    assert leftovers(tmp_path) == [f"{arch}.onnx"]


def _foreign_onnx(path: Path) -> Path:
    """A valid ONNX model built by hand, without actionrec metadata."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "foreign", [x], [y])
    onnx.save(helper.make_model(graph), str(path))
    return path


@pytest.mark.parametrize("kind", ["random bytes", "foreign model"])
def test_bad_onnx_files_give_one_line_errors(kind, videos, tmp_path):
    """A corrupt .onnx (random bytes) or a valid ONNX model without actionrec metadata: predict and info exit 1
    with one `error:` line naming the file, and no traceback; OnnxBackend raises ModelFileError."""
    path = tmp_path / "model.onnx"
    if kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    else:
        _foreign_onnx(path)
    for args in (("predict", videos["mp4"], "--model", path), ("info", path)):
        res = run(*args)
        assert res.exit_code == 1, res.output
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and "model.onnx" in lines[0], res.output
        assert "Traceback" not in res.output
    with pytest.raises(ModelFileError, match=r"model\.onnx"):
        OnnxBackend(path)


def test_failing_parity_leaves_no_file(exported, tiny_model, tmp_path, monkeypatch):
    """When the exported graph disagrees with PyTorch (here: its classifier weights tampered by 1%), export exits 1
    with a one-line message and leaves neither the .onnx file nor a temporary file behind."""
    good, _ = exported

    def tampered(model, meta, path, *, opset, precision):
        proto = onnx.load(str(good))
        gemm = next(n for n in proto.graph.node if n.op_type == "Gemm")
        weight = next(t for t in proto.graph.initializer if t.name == gemm.input[1])
        array = onnx.numpy_helper.to_array(weight) * 1.01
        weight.CopyFrom(onnx.numpy_helper.from_array(array, weight.name))
        onnx.save(proto, str(path))
        return 20

    monkeypatch.setattr(onnx_export, "write_onnx", tampered)
    src = tmp_path / "tiny.safetensors"
    src.write_bytes(tiny_model.read_bytes())
    res = run("export", src, "--onnx")
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "disagrees with PyTorch" in lines[0] and "nothing written" in lines[0], res.output
    assert leftovers(tmp_path) == []


def test_export_rejects_a_non_onnx_output(tiny_model, tmp_path):
    """-o/--output must end in .onnx; the error is one line and nothing is written."""
    res = run("export", tiny_model, "--onnx", "-o", tmp_path / "model.bin")
    assert res.exit_code == 1 and "must end in .onnx" in res.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_int8_export_is_a_usable_model(tiny_model, videos, tmp_path):
    """--int8 writes MODEL.int8.onnx (QDQ, metadata kept) after the fp32 parity check and keeps the fp32 MODEL.onnx
    beside it, as --help says ("also"); both are named on stdout, it reports int8's agreement with fp32 and its
    speed, and predict runs both."""
    src = tmp_path / "tiny.safetensors"
    src.write_bytes(tiny_model.read_bytes())
    res = run("export", src, "--onnx", "--int8", "--check-video", videos["mp4"])
    assert res.exit_code == 0, res.output
    out, fp32 = tmp_path / "tiny.int8.onnx", tmp_path / "tiny.onnx"
    assert "int8 vs ORT fp32" in res.stdout and "ORT int8" in res.stdout
    assert f"wrote {fp32} (fp32" in res.stdout and f"wrote {out} (int8" in res.stdout
    assert leftovers(tmp_path) == ["tiny.int8.onnx", "tiny.onnx"]
    assert {p.key: p.value for p in onnx.load(str(fp32)).metadata_props}["precision"] == "fp32"
    assert json.loads(run("predict", videos["avi"], "--model", fp32, "--format", "json").stdout)["videos"][0]["label"]
    named = tmp_path / "named"
    res = run("export", src, "--int8", "-o", named / "int8.onnx", "--check-video", videos["mp4"])
    assert res.exit_code == 0, res.output  # -o names the int8 model (as before); the fp32 one lies beside it
    assert sorted(p.name for p in named.iterdir()) == ["int8.fp32.onnx", "int8.onnx"]
    assert onnx_export.output_pair(Path("m.int8.onnx")) == (Path("m.onnx"), Path("m.int8.onnx"))
    proto = onnx.load(str(out))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in proto.graph.node}
    assert {p.key: p.value for p in proto.metadata_props}["precision"] == "int8"
    assert read_meta(out) == read_meta(tiny_model)
    res = run("predict", videos["avi"], "--model", out, "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["videos"][0]["label"] in ("left", "right", "still")


@pytest.mark.slow
@pytest.mark.parametrize("int8", [False, True])
def test_sigterm_mid_export_leaves_no_temporary_file_or_folder(tiny_model, videos, tmp_path, int8):
    """`actionrec export` killed by SIGTERM while it writes (its work folder in $TMPDIR and its hidden file beside
    the target both exist): exit 143, "terminated" on stderr, and neither the actionrec-export-* folder nor any
    hidden temporary file is left; the model folder holds the model alone."""
    import os
    import signal
    import time

    models, tmp = tmp_path / "models", tmp_path / "tmp"
    models.mkdir()
    tmp.mkdir()
    src = models / "tiny.safetensors"
    src.write_bytes(tiny_model.read_bytes())
    cmd = [sys.executable, "-m", "actionrec", "export", str(src), "--check-video", str(videos["mp4"])]
    proc = subprocess.Popen(
        [*cmd, *(["--int8"] if int8 else [])],
        env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120  # a guard against a hang, not a measurement
    while proc.poll() is None and time.monotonic() < deadline:
        if list(tmp.glob("actionrec-export-*")) and list(models.glob(".tiny.onnx.*")):
            break
        time.sleep(0.01)
    assert proc.poll() is None, "export finished before it could be killed mid-way"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == "terminated"
    assert list(tmp.iterdir()) == []
    assert [p.name for p in models.iterdir()] == ["tiny.safetensors"]
