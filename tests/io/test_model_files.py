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
from conftest import ROOT
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.errors import ModelFileError
from actionrec.io.checkpoint import META_KEY, describe, read_meta

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
