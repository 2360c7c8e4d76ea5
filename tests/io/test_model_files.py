"""Damaged and tampered model files (a generated fault corpus: metadata out of range or of the wrong type, a header
larger than its file, a file cut in half, a bit-rotted header) are refused before anything is allocated from them,
with one `error:` line naming the file and exit code 1, from every command that opens a model."""

from __future__ import annotations

import dataclasses
import json
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import ROOT
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.cli.info import describe
from actionrec.errors import ModelFileError
from actionrec.io.checkpoint import META_KEY, load_state, parameter_count, read_meta

runner = CliRunner()
SAMPLE = ROOT / "samples" / "punch.mp4"


def rewrite_meta(source: Path, target: Path, change: Callable[[dict], None]) -> Path:
    """A copy of a safetensors model file whose actionrec metadata went through `change` (tensors untouched)."""
    data = source.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    meta = json.loads(header["__metadata__"][META_KEY])
    change(meta)
    header["__metadata__"][META_KEY] = json.dumps(meta)
    raw = json.dumps(header).encode()
    target.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + size :])
    return target


def _set(path: str, value) -> Callable[[dict], None]:
    def change(meta: dict) -> None:
        *parents, last = path.split(".")
        node = meta
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value

    return change


TAMPERED = {
    "std zero": (_set("preprocessing.std", [0, 0, 0]), "preprocessing.std"),
    "clip_len 1e9": (_set("preprocessing.clip_len", 10**9), "preprocessing.clip_len"),
    "5,000,000 labels": (_set("labels", [f"c{i}" for i in range(5_000_000)]), "labels"),
    "labels as a string": (_set("labels", "left,right,still"), "labels"),
    "width -1": (_set("arch_args.width", -1), "arch_args.width"),
    "width NaN": (_set("arch_args.width", float("nan")), "arch_args.width"),
    "arch os.system": (_set("arch", "os.system"), "arch"),
    "labels and classifier disagree": (_set("labels", ["a", "b", "c", "d"]), "classifier"),
}


@pytest.fixture(scope="module")
def fault_corpus(tiny_model, tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """Each fault as a file beside what its error must mention."""
    d = tmp_path_factory.mktemp("faults")
    corpus = {
        name: (rewrite_meta(tiny_model, d / f"{i}.safetensors", change), word)
        for i, (name, (change, word)) in enumerate(TAMPERED.items())
    }
    data = tiny_model.read_bytes()
    half = d / "cut-in-half.safetensors"
    half.write_bytes(data[: len(data) // 2])
    corpus["cut in half"] = (half, "cut-in-half")
    huge = d / "header-larger-than-file.safetensors"
    huge.write_bytes(struct.pack("<Q", 10 * len(data)) + data[8:])
    corpus["header larger than the file"] = (huge, "header")
    rot = bytearray(data)
    for i in range(20, 60, 3):  # bit rot inside the JSON header
        rot[i] ^= 0x5A
    rotted = d / "bit-rotted.safetensors"
    rotted.write_bytes(bytes(rot))
    corpus["bit-rotted header"] = (rotted, "bit-rotted")
    return corpus


@pytest.mark.parametrize("fault", [*TAMPERED, "cut in half", "header larger than the file", "bit-rotted header"])
def test_read_meta_refuses_each_fault_quickly(fault_corpus, fault):
    """read_meta raises ModelFileError naming the file and the field, within a second (nothing big allocated)."""
    path, word = fault_corpus[fault]
    t0 = time.perf_counter()
    with pytest.raises(ModelFileError) as caught:
        read_meta(path)
    assert str(path) in str(caught.value) or word in str(caught.value)
    if fault in TAMPERED:
        assert word in str(caught.value)
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("fault", ["std zero", "5,000,000 labels", "width NaN", "arch os.system", "cut in half"])
@pytest.mark.parametrize("command", ["predict", "info", "evaluate"])
def test_every_command_gives_one_error_line(fault_corpus, fault, command, tmp_path):
    """predict, info and evaluate with a bad model file: exit 1, one `error:` line naming the file, no traceback."""
    path, _ = fault_corpus[fault]
    args = {
        "predict": ["predict", SAMPLE, "--model", path],
        "info": ["info", path],
        "evaluate": ["evaluate", "--data", tmp_path, "--model", path],
    }[command]
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(path) in lines[0]
    assert "Traceback" not in res.output


def test_a_good_file_still_reads(tiny_model):
    """The checks let a normal model file through unchanged."""
    meta = read_meta(tiny_model)
    assert meta.labels == ("left", "right", "still") and meta.preprocessing.std[0] > 0


def test_info_gives_the_accuracy_of_the_weights_in_the_file(tiny_model):
    """A run's last file reports its own epoch's held-out accuracy, not the best epoch's (which is another file)."""
    meta = read_meta(tiny_model)
    training = {**meta.training, "val_video_acc": 0.9, "best_val_video_acc": 0.95, "val_videos": 20}
    lines = dict(describe(tiny_model, dataclasses.replace(meta, training=training)))
    assert lines["accuracy"] == "held-out video top-1 90.0 % (20 videos)"


def _with_header(source: Path, target: Path, raw: bytes) -> Path:
    """`source`'s tensor bytes behind the header `raw` (any bytes: crafted JSON)."""
    data = source.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    target.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + size :])
    return target


def _crafted_headers(tiny_model: Path) -> dict[str, bytes]:
    """Headers a hostile file could carry: deep nesting (in the header, in the metadata string), a shape given as
    an int, data_offsets of 1e400 (JSON's infinity once parsed)."""
    data = tiny_model.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    text = data[8 : 8 + size].decode()
    header = json.loads(text)
    deep = "[" * 200_000 + "]" * 200_000
    some = next(k for k in header if k != "__metadata__")
    shape_int = dict(header, **{some: {**header[some], "shape": 5}})
    meta_deep = dict(header, __metadata__={META_KEY: deep})
    offsets = json.dumps(header).replace(json.dumps(header[some]["data_offsets"]), "[0, 1e400]", 1)
    return {
        "nested header": ('{"x": ' + deep + "}").encode(),
        "nested metadata": json.dumps(meta_deep).encode(),
        "shape an int": json.dumps(shape_int).encode(),
        "offsets 1e400": offsets.encode(),
    }


@pytest.mark.parametrize("case", ["nested header", "nested metadata", "shape an int", "offsets 1e400"])
def test_crafted_headers_are_one_model_file_error(tiny_model, tmp_path, case):
    """A header nested 200,000 deep (itself or its metadata string), a tensor shape given as an int and
    data_offsets of 1e400 each raise ModelFileError naming the file (not RecursionError, TypeError or
    OverflowError); `info` shows one `error:` line and exits 1."""
    path = _with_header(tiny_model, tmp_path / "crafted.safetensors", _crafted_headers(tiny_model)[case])
    with pytest.raises(ModelFileError) as caught:
        read_meta(path)
    assert str(path) in str(caught.value)
    res = runner.invoke(app, ["info", str(path)])
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(path) in lines[0]


def test_the_parameter_count_trusts_only_a_header_read_meta_accepts(tiny_model, tmp_path):
    """The parameter count and `read_meta` read the header through one checked parse: a file whose tensors run
    past its end (its header intact) is refused by both, and `info` shows no count for it; the good file's count
    is its learnable tensors' sizes, BatchNorm statistics left out."""
    data = tiny_model.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: 8 + size + (len(data) - 8 - size) // 2])
    with pytest.raises(ModelFileError, match="cut short"):
        read_meta(cut)
    assert parameter_count(cut) is None
    state = load_state(tiny_model)
    stats = ("running_mean", "running_var", "num_batches_tracked")
    assert parameter_count(tiny_model) == sum(t.numel() for k, t in state.items() if not k.endswith(stats)) > 0


def test_a_fifo_as_model_is_refused_without_blocking(tmp_path):
    """`--model` at a FIFO (nobody writing) is refused as not a regular file, in one line with exit 1, instead of
    blocking forever on the read; the library says the same."""
    import os

    from actionrec.runtime.pipeline import load

    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    for opener in (read_meta, load):
        with pytest.raises(ModelFileError, match=r"model\.safetensors: is a FIFO, not a regular file"):
            opener(fifo)
    res = runner.invoke(app, ["predict", str(SAMPLE), "--model", str(fifo)])
    assert res.exit_code == 1, res.output
    assert res.stderr.strip() == f"error: {fifo}: is a FIFO, not a regular file; give a model file"


def test_a_300_character_model_name_is_a_usage_error(tmp_path):
    """A --model of 300 characters (longer than a file name may be) is one usage error naming the option and
    the reason (exit 2), not an internal error (ENAMETOOLONG); `info` says the same of its argument."""
    name = "a" * 300
    for value in (name, f"{name}.safetensors", str(tmp_path / f"{name}.onnx")):
        res = runner.invoke(app, ["predict", str(SAMPLE), "--model", value])
        assert res.exit_code == 2, res.output
        assert "--model" in res.stderr and "File name too long" in res.stderr and "internal" not in res.output
    res = runner.invoke(app, ["info", name])
    assert res.exit_code == 2 and "MODEL" in res.stderr and "File name too long" in res.stderr


TWIN = ROOT / "models" / "actionrec-default.onnx"


@pytest.mark.parametrize("size", [2**40, 0])
def test_an_onnx_graph_that_disagrees_with_its_metadata_is_refused_when_opened(tmp_path, size):
    """The shipped ONNX twin with its input's height edited to 2^40 or 0 (its metadata still says 64): opening it
    is one ModelFileError naming the file and both shapes, instead of a failure on the first batch; predict
    gives one `error:` line and exit 1."""
    onnx = pytest.importorskip("onnx")
    from actionrec.runtime.pipeline import load

    proto = onnx.load(str(TWIN))
    proto.graph.input[0].type.tensor_type.shape.dim[3].dim_value = size
    path = tmp_path / "edited.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(ModelFileError) as caught:
        load(path)
    assert str(caught.value) == (
        f"{path}: its graph takes clips ['batch', 3, 8, {size}, 64], but its metadata's preprocessing makes clips "
        "of [batch, 3, 8, 64, 64]"
    )
    res = runner.invoke(app, ["predict", str(SAMPLE), "--model", str(path)])
    assert res.exit_code == 1 and res.stderr.strip() == f"error: {caught.value}"


def test_an_onnx_graph_with_a_fixed_batch_runs_any_batch(tmp_path):
    """A graph exported for batches of exactly 3 clips labels a batch of 8 (run as 3 + 3 + 2 padded to 3) with the
    same logits as the twin whose batch is free."""
    onnx = pytest.importorskip("onnx")
    import numpy as np

    from actionrec.runtime.pipeline import load

    proto = onnx.load(str(TWIN))
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 3
    path = tmp_path / "batch3.onnx"
    onnx.save(proto, str(path))
    clips = np.random.default_rng(0).standard_normal((8, 3, 8, 64, 64)).astype(np.float32)
    with load(path) as fixed, load(TWIN) as free:
        assert fixed.backend.fixed_batch == 3 and free.backend.fixed_batch is None
        np.testing.assert_allclose(fixed.backend(clips), free.backend(clips), rtol=1e-5, atol=1e-5)


def test_onnx_external_data_that_is_not_a_regular_file_says_so(tmp_path):
    """An .onnx whose external weights file is /dev/zero is refused as "a device, not a regular file", not as
    "missing"; a deleted one is still "missing"."""
    onnx = pytest.importorskip("onnx")
    from actionrec.runtime.pipeline import load

    path = tmp_path / "ext.onnx"
    onnx.save_model(onnx.load(str(TWIN)), str(path), save_as_external_data=True, location="ext.data", size_threshold=0)
    proto = onnx.load(str(path), load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "/dev/zero"
    zero = tmp_path / "zero.onnx"
    onnx.save_model(proto, str(zero))
    with pytest.raises(ModelFileError) as caught:
        load(zero)
    assert str(caught.value) == f"{zero}: its external weights file /dev/zero is a device, not a regular file"
    (tmp_path / "ext.data").unlink()
    with pytest.raises(ModelFileError, match=r"ext\.onnx: its external weights file ext\.data is missing"):
        load(path)


# ---- opening a model: the back ends' lifecycle and compiled batch ----


def test_recognizer_and_back_ends_share_one_lifecycle(tiny_model):
    """`load()` gives a context manager: inside, the torch back end runs its stream threads with the thread count
    it was given; leaving the block (or `close()`, any number of times) stops the threads and puts torch's thread
    count back. The ONNX Runtime back end releases its session the same way and then refuses to run."""
    import numpy as np
    import torch

    from actionrec.errors import ActionrecError
    from actionrec.runtime.pipeline import load

    before = torch.get_num_threads()
    clips = np.zeros((2, 3, 8, 32, 32), np.float32)
    with load(tiny_model, threads=1, streams=2) as rec:
        assert torch.get_num_threads() == 1 and rec.backend._pool is not None
        assert rec.backend(clips).shape == (2, 3)
    assert rec.backend._pool is None and torch.get_num_threads() == before
    rec.close()  # idempotent
    assert torch.get_num_threads() == before
    with load(TWIN) as onnx_rec:
        assert onnx_rec.backend(np.zeros((1, 3, 8, 64, 64), np.float32)).shape == (1, len(onnx_rec.meta.labels))
    assert onnx_rec.backend.session is None
    onnx_rec.close()
    with pytest.raises(ActionrecError, match="closed"):
        onnx_rec.backend(np.zeros((1, 3, 8, 64, 64), np.float32))


def test_predict_closes_its_recognizer(tiny_model, monkeypatch):
    """`actionrec predict` releases the model's back end when it is done (Recognizer.close is called once)."""
    from actionrec.runtime.pipeline import Recognizer

    closed = []
    monkeypatch.setattr(Recognizer, "close", lambda self: closed.append(self))
    res = runner.invoke(app, ["predict", str(SAMPLE), "--model", str(tiny_model), "-f", "json"])
    assert res.exit_code == 0, res.output
    assert len(closed) == 1 and closed[0].meta.labels == ("left", "right", "still")


def test_compile_builds_for_the_recognizers_batch_size(tiny_model, monkeypatch):
    """With --compile the graph sees only the batch size the recognizer was opened for (4 here): a short first
    call (2 clips) is padded up to it rather than fixing the graph at 2, and a longer one (6) is split into 4s;
    each clip's logits are those it gets in a full batch. torch.compile is replaced by a recorder of input
    shapes, so the test checks what the compiled graph would be called with, without compiling."""
    import numpy as np
    import torch
    from torch import nn

    from actionrec.runtime.pipeline import load

    class Recorder(nn.Module):
        def __init__(self, model: nn.Module):
            super().__init__()
            self._orig_mod, self.batches = model, []

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.batches.append(x.shape[0])
            return self._orig_mod(x)

    monkeypatch.setattr(torch, "compile", lambda model, **options: Recorder(model))
    clips = np.random.default_rng(1).standard_normal((6, 3, 8, 32, 32)).astype(np.float32)
    with load(tiny_model, compile=True, batch_size=4, precision="fp32") as rec:
        assert rec.backend.compiled and rec.backend.compiled_batch == 4
        short, full, long = rec.backend(clips[:2]), rec.backend(clips[:4]), rec.backend(clips)
    assert rec.backend.model.batches == [4, 4, 4, 4]
    assert short.shape == (2, 3) and full.shape == (4, 3) and long.shape == (6, 3)
    np.testing.assert_allclose(short, full[:2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(long[:4], full, rtol=1e-5, atol=1e-6)
