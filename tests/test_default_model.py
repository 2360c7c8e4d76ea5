"""The shipped default model and samples: every sample clip gets its label, the long clip's windows follow the
scripted order, and the synthetic benchmark's split files load through the UCF-101 reader."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import ROOT
from typer.testing import CliRunner

import actionrec
from actionrec.cli import app
from actionrec.data import DataLayout, open_dataset
from actionrec.io.checkpoint import read_meta
from actionrec.runtime.pipeline import default_model_path
from actionrec.synth import CLASSES, SAMPLE_CLIPS, SAMPLE_SEQUENCE, write_benchmark

SAMPLES = ROOT / "samples"


@pytest.fixture(scope="module")
def default_model():
    return actionrec.load(precision="fp32")


def test_default_model_is_shipped_small_and_self_describing():
    """models/ holds the default model (< 20 MB) whose metadata names the benchmark's classes and its recipe."""
    path = default_model_path()
    assert path.is_file() and path.stat().st_size < 20 * 2**20
    meta = read_meta(path)
    assert meta.labels == CLASSES
    assert meta.training.get("data") and meta.preprocessing.clip_len >= 8
    onnx_twin = path.with_suffix(".onnx")
    assert onnx_twin.is_file() and read_meta(onnx_twin) == meta


@pytest.mark.parametrize("action", SAMPLE_CLIPS)
def test_every_sample_clip_gets_its_label(default_model, action):
    """Each short sample clip (an actor the model never saw) is labelled with its action."""
    result = default_model.predict(SAMPLES / f"{action}.mp4")
    assert result.label == action, [(t.label, round(t.score, 3)) for t in result.top]


def test_sequence_windows_follow_the_script(default_model):
    """In the long sample, every window that lies inside one scripted segment gets that segment's label, and the
    labels change in the scripted order."""
    script = json.loads((SAMPLES / "sequence.json").read_text())
    fps = script["fps"]
    segments = [(s["label"], s["start_frame"] / fps, s["end_frame"] / fps) for s in script["segments"]]
    assert tuple(s[0] for s in segments) == SAMPLE_SEQUENCE
    result = default_model.predict(SAMPLES / "sequence.mp4")
    inside = []
    for w in result.windows:
        owner = [label for label, start, end in segments if start - 1e-3 <= w.start_s and w.end_s <= end + 1e-3]
        if owner:
            inside.append((owner[0], w.top[0].label))
    assert len(inside) >= 2 * len(segments)
    correct = sum(truth == got for truth, got in inside)
    assert correct / len(inside) >= 0.9, inside
    order = [label for label in (got for _, got in inside)]
    collapsed = [label for i, label in enumerate(order) if i == 0 or label != order[i - 1]]
    assert [label for label in collapsed if label in SAMPLE_SEQUENCE][: len(SAMPLE_SEQUENCE)] == list(SAMPLE_SEQUENCE)


def test_readme_main_job_runs():
    """The README's main command, `actionrec predict samples/sequence.mp4`, works with the default model."""
    res = CliRunner().invoke(app, ["predict", str(SAMPLES / "sequence.mp4"), "--format", "json"])
    assert res.exit_code == 0, res.output
    video = json.loads(res.stdout)["videos"][0]
    assert video["error"] is None and len(video["windows"]) > 4


def test_synth_split_files_load_with_the_ucf101_reader(tmp_path):
    """A generated benchmark's classInd/trainlist01/testlist01 load through the UCF-101 reader, disjoint by actor;
    the split's source says it is synthetic and counts its videos and actors."""
    summary = write_benchmark(tmp_path / "bench", clips_per_class=2, frames=12, size=(48, 48), seed=3)
    split = open_dataset(summary.out, layout=DataLayout.ucf101, split=1)
    assert split.labels == CLASSES
    assert len(split.train) == summary.n_train and len(split.val) == summary.n_test
    assert {i.group for i in split.train}.isdisjoint({i.group for i in split.val})
    assert {i.label for i in split.val} == set(range(len(CLASSES)))
    assert split.synthetic and split.source.startswith("synthetic: 18 actions")
    assert f"({summary.n_train} / {summary.n_test} videos, 2 actors, 1 held out)" in split.source


def _readme_json_example() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Output schema") :]
    block = section[section.index("```json") + len("```json") : section.index("```", section.index("```json") + 7)]
    return json.loads(block)


def test_readme_json_example_is_real_output():
    """The README's JSON example is what its command prints: the same fields with the same types, the same video
    facts and labels, scores within rounding (and bf16's wobble), its window the first one predict gives."""
    example = _readme_json_example()
    cwd = Path.cwd()
    try:
        os.chdir(ROOT)  # the example names the video as the command does, relative to the checkout
        res = CliRunner().invoke(app, ["predict", "samples/punch.mp4", "--format", "json", "--top-k", "2"])
    finally:
        os.chdir(cwd)
    assert res.exit_code == 0, res.output
    real = json.loads(res.stdout)["videos"][0]

    def shape(v):
        if isinstance(v, dict):
            return {k: shape(x) for k, x in v.items()}
        if isinstance(v, list):
            return [shape(v[0])] if v else []
        return type(v).__name__ if v is not None else None

    assert shape(example) == shape(real)
    for key in ("video", "frames", "fps", "duration_s", "label", "error"):
        assert example[key] == real[key], key
    assert example["score"] == pytest.approx(real["score"], abs=0.02)
    pairs = [(example["top"], real["top"]), (example["windows"][0]["top"], real["windows"][0]["top"])]
    for shown, got in pairs:
        assert [t["label"] for t in shown] == [t["label"] for t in got]
        assert [t["score"] for t in shown] == pytest.approx([t["score"] for t in got], abs=0.02)
    assert {k: example["windows"][0][k] for k in ("start_s", "end_s")} == {
        k: real["windows"][0][k] for k in ("start_s", "end_s")
    }
