"""The shipped default model and samples: every sample clip gets its label, the long clip's windows follow the
scripted order, and the synthetic benchmark's split files load through the UCF-101 reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import actionrec
from actionrec.checkpoint import read_meta
from actionrec.cli import app
from actionrec.datasets import DataFormat, open_dataset
from actionrec.pipeline import default_model_path
from actionrec.synth import CLASSES, SAMPLE_CLIPS, SAMPLE_SEQUENCE, write_benchmark

ROOT = Path(__file__).resolve().parents[1]
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
    """A generated benchmark's classInd/trainlist01/testlist01 load through the UCF-101 reader, disjoint by actor."""
    summary = write_benchmark(tmp_path / "bench", clips_per_class=2, frames=12, size=(48, 48), seed=3)
    split = open_dataset(summary.out, fmt=DataFormat.ucf101, split=1)
    assert split.labels == CLASSES
    assert len(split.train) == summary.n_train and len(split.val) == summary.n_test
    assert {i.group for i in split.train}.isdisjoint({i.group for i in split.val})
    assert {i.label for i in split.val} == set(range(len(CLASSES)))
