"""Evaluation: the metric functions, `evaluate` on real generated videos scored by a back end whose answers are
fixed per (video, window) so that every number can be worked out by hand, and `actionrec evaluate` end to end."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import moving_square_frames, write_cv2_video
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.data import DataLayout, VideoItem
from actionrec.errors import ActionrecError, DataError
from actionrec.model_meta import ModelMeta, Preprocessing
from actionrec.onnx_export import export_onnx
from actionrec.runtime.pipeline import Recognizer
from actionrec.scoring import (
    OTHER,
    accuracy_topk,
    check_outputs,
    confusion_matrix,
    evaluate,
    match_labels,
    mean_class_accuracy,
    write_outputs,
)

MODEL_LABELS = ("a", "b", "c", "d", "e", "f", "g")
SPEC = Preprocessing(clip_len=4, frame_step=1, resize=32, crop=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
FRAMES = 12  # with K=2 windows of 4 frames: windows start at frames 0 and 8


def probs(**given: float) -> np.ndarray:
    """A probability vector over MODEL_LABELS: the given classes, the rest of the mass spread evenly."""
    rest = [c for c in MODEL_LABELS if c not in given]
    left = 1.0 - sum(given.values())
    return np.array([given.get(c, left / len(rest) if rest else 0.0) for c in MODEL_LABELS])


# What the model answers for each (video, window start frame). True classes: v0 a, v1 b, v2 c, v3 a.
ANSWERS = {
    (0, 0): probs(a=0.5, b=0.3, c=0.1),  # a first
    (0, 8): probs(b=0.5, a=0.4),  # a second
    (1, 0): probs(d=0.5, b=0.2),  # b second (the rest 0.06 each)
    (1, 8): probs(d=0.5, b=0.3),  # b second
    (2, 0): probs(c=0.9),
    (2, 8): probs(c=0.9),
    (3, 0): probs(d=0.3, e=0.25, f=0.2, g=0.15, b=0.06, a=0.04, c=0.0),  # a sixth: outside the top 5
    (3, 8): probs(a=0.7, d=0.1),
}


class ScriptedBackend:
    """Reads which video and frame a clip shows from its colour (R = 30 + 40 * video, G = 10 + 20 * frame) and
    returns log(ANSWERS[video, start]) as logits, so that the softmax gives back exactly those probabilities."""

    name = "scripted"

    def __init__(self):
        self.meta = ModelMeta("r3d10", {}, MODEL_LABELS, SPEC)
        self.seen: list[tuple[int, int]] = []

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        assert clips.shape[1:] == (3, 4, 32, 32) and clips.dtype == np.float32
        out = []
        for clip in clips:
            r, g = clip[0, 0].mean() * 255, clip[1, 0].mean() * 255  # first frame of the window
            key = (round((r - 30) / 40), round((g - 10) / 20))
            self.seen.append(key)
            out.append(np.log(np.maximum(ANSWERS[key], 1e-12)))
        return np.stack(out).astype(np.float32)


@pytest.fixture(scope="module")
def scripted_videos(tmp_path_factory):
    """Four coloured 12-frame MJPG videos whose colour encodes (video, frame), and one corrupt file."""
    d = tmp_path_factory.mktemp("scripted")
    paths = []
    for v in range(4):
        frames = np.zeros((FRAMES, 32, 32, 3), np.uint8)
        for j in range(FRAMES):
            frames[j] = (30 + 40 * v, 10 + 20 * j, 128)
        paths.append(write_cv2_video(d / f"v{v}.avi", frames, 25.0, "MJPG"))
    bad = d / "v4.avi"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00AVI " + bytes(200))
    return [*paths, bad]


def test_metric_functions_on_small_arrays():
    """accuracy_topk, confusion_matrix and mean_class_accuracy agree with counting by hand."""
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])
    t = np.array([0, 1, 2, 1])
    assert accuracy_topk(p, t, 1) == 0.5  # rows 0 and 2
    assert accuracy_topk(p, t, 2) == 1.0  # row 1: class 1 second; row 3: class 1 second
    assert accuracy_topk(p, t, 5) == 1.0  # k past the class count counts every row
    m = confusion_matrix(p.argmax(1), t, 3)
    assert m.tolist() == [[1, 0, 0], [1, 0, 1], [0, 0, 1]]
    assert mean_class_accuracy(m) == pytest.approx((1 + 0 + 1) / 3)
    m[2] = 0  # a class without samples is left out of the mean
    assert mean_class_accuracy(m) == pytest.approx(0.5)


def test_labels_are_matched_by_name():
    """Data set classes map to the model's by name (order free, case/space/underscore tolerant); unknown ones
    are a DataError naming them."""
    assert match_labels(("c", "a"), MODEL_LABELS) == [2, 0]
    assert match_labels(("riding_a_bike", "Wave"), ("wave", "riding a bike")) == [1, 0]
    with pytest.raises(DataError, match="does not know: jump, fly"):
        match_labels(("a", "jump", "fly"), MODEL_LABELS)


def test_evaluate_gives_the_hand_computed_numbers(scripted_videos):
    """With known answers per window: clip top-1 4/8, clip top-5 7/8, video top-1 3/4, video top-5 4/4, mean class
    accuracy (1 + 0 + 1) / 3, the confusion matrix in the data set's class order plus (other), and the
    unreadable video skipped once."""
    backend = ScriptedBackend()
    data_labels = ("b", "a", "c")  # another order than the model's: matched by name
    truth = [1, 0, 2, 1, 0]  # v0 a, v1 b, v2 c, v3 a, v4 (corrupt) b
    items = [VideoItem(p, t, f"g{i}") for i, (p, t) in enumerate(zip(scripted_videos, truth, strict=True))]
    calls = []
    report = evaluate(
        Recognizer(backend), items, data_labels, clips_per_video=2, batch_size=3, progress=lambda i, e: calls.append(e)
    )
    assert sorted(backend.seen) == sorted(ANSWERS)  # every window decoded and scored once
    assert report.videos == 4 and report.clips == 8 and report.top_k == 5
    # clips: v0 w0 right, w1 wrong; v1 both wrong; v2 both right; v3 w0 wrong, w1 right
    assert report.clip_top1 == pytest.approx(4 / 8)
    assert report.clip_top5 == pytest.approx(7 / 8)  # only v3 w0 has its class sixth
    # videos (mean of the two windows): v0 a .45 > b .40 right; v1 d .5 wrong; v2 right; v3 a .37 > d .2 right
    assert report.video_top1 == pytest.approx(3 / 4)
    assert report.video_top5 == pytest.approx(1.0)
    assert report.mean_class_accuracy == pytest.approx(2 / 3)  # a 2/2, b 0/1, c 1/1
    assert report.confusion_labels == ("b", "a", "c", OTHER)
    assert report.confusion == ((0, 0, 0, 1), (0, 2, 0, 0), (0, 0, 1, 0), (0, 0, 0, 0))
    by_class = {r.label: r for r in report.per_class}
    assert (by_class["a"].videos, by_class["a"].clips, by_class["a"].clip_top1) == (2, 4, pytest.approx(0.5))
    assert (by_class["b"].clip_top1, by_class["b"].video_top1) == (0.0, 0.0)
    assert (by_class["c"].clip_top1, by_class["c"].video_top1) == (1.0, 1.0)
    v1 = report.outcomes[1]
    assert (v1.label, v1.predicted, v1.clips) == ("b", "d", 2) and v1.score == pytest.approx(0.5)
    assert len(report.skipped) == 1 and report.skipped[0][0].endswith("v4.avi")
    assert calls.count(None) == 4 and len(calls) == 5
    assert "K=2 uniformly spaced 4-frame windows" in report.protocol and "centre crop 32" in report.protocol
    assert report.backend == "scripted"
    d = json.loads(json.dumps(report.to_dict()))
    assert d["video_top1"] == 0.75 and d["skipped"][0]["video"].endswith("v4.avi")


def test_evaluate_refuses_classes_the_model_does_not_know(scripted_videos):
    """A data set class missing from the model is a DataError before any video is decoded."""
    backend = ScriptedBackend()
    with pytest.raises(DataError, match="does not know: zebra"):
        evaluate(Recognizer(backend), [VideoItem(scripted_videos[0], 0, "g")], ("zebra", "a"), clips_per_video=2)
    assert backend.seen == []


def test_report_files(scripted_videos, tmp_path):
    """write_outputs writes the JSON report, the confusion CSV (header of predicted classes, a row per true
    class) and a PNG."""
    items = [VideoItem(p, t, "g") for p, t in zip(scripted_videos[:4], [1, 0, 2, 1], strict=True)]
    report = evaluate(Recognizer(ScriptedBackend()), items, ("b", "a", "c"), clips_per_video=2)
    json_path, csv_path, png_path = write_outputs(tmp_path / "out" / "report.json", report, {"model": "m"})
    assert json.loads(json_path.read_text())["model"] == "m"
    rows = list(csv.reader(csv_path.open()))
    assert csv_path.name == "report.confusion.csv" and rows[0] == ["true \\ predicted", "b", "a", "c", OTHER]
    assert rows[2] == ["a", "0", "2", "0", "0"]
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["report.json", "report.confusion.csv", "report.confusion.png"]
    )  # no temporary files left behind


def test_report_files_without_matplotlib(scripted_videos, tmp_path, monkeypatch):
    """Without matplotlib (the [plot] extra) check_outputs raises one line naming the PNG and the extra, and
    write_outputs raises it before writing anything: the report is all three files or none."""
    items = [VideoItem(p, t, "g") for p, t in zip(scripted_videos[:2], [1, 0], strict=True)]
    report = evaluate(Recognizer(ScriptedBackend()), items, ("b", "a", "c"), clips_per_video=2)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails, find_spec says absent
    out = tmp_path / "out"
    line = (
        f"{out / 'report.confusion.png'}: the confusion matrix's plot needs matplotlib (not installed): "
        "pip install 'actionrec[plot]'"
    )
    with pytest.raises(ActionrecError) as e:
        check_outputs(out / "report.json")
    assert str(e.value) == line
    with pytest.raises(ActionrecError) as e:
        write_outputs(out / "report.json", report, {"model": "m"})
    assert str(e.value) == line
    assert not out.exists() or list(out.iterdir()) == []


def test_report_files_are_all_or_nothing_on_a_full_disk(scripted_videos, tmp_path, monkeypatch):
    """A disk that fills while the PNG is written (the last of the three): one ActionrecError naming the PNG and
    the reason, and neither the JSON report nor the CSV is left, nor any temporary file."""
    import errno

    import actionrec.scoring as ev

    items = [VideoItem(p, t, "g") for p, t in zip(scripted_videos[:2], [1, 0], strict=True)]
    report = evaluate(Recognizer(ScriptedBackend()), items, ("b", "a", "c"), clips_per_video=2)

    def full(path, report):
        Path(path).write_bytes(b"\x89PNG partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ev, "plot_confusion", full)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ActionrecError) as e:
        write_outputs(out / "report.json", report, {"model": "m"})
    assert str(e.value).startswith(f"{out / 'report.confusion.png'}: cannot write it (No space left on device)")
    assert list(out.iterdir()) == []


def test_cli_evaluate_output_that_cannot_be_written(folder_set, tiny_model, tmp_path, monkeypatch):
    """`evaluate -o` below a regular file is one line naming the path and the reason, exit 1, before any video is
    scored (no numbers printed); a full disk at the end is one line too, exit 1, with no report files left."""
    import errno

    import actionrec.scoring as ev

    blocker = tmp_path / "file"
    blocker.write_text("a file")
    runner = CliRunner()
    base = ["evaluate", "-m", str(tiny_model), "-d", str(folder_set), "-K", "2", "--precision", "fp32"]
    result = runner.invoke(app, [*base, "-o", str(blocker / "sub" / "eval.json")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        f"error: {blocker / 'sub' / 'eval.json'}: cannot write the report: {blocker} is a file, not a folder"
    ]
    assert "video accuracy" not in result.stdout

    def full(path, report):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ev, "plot_confusion", full)
    out = tmp_path / "reports"
    result = runner.invoke(app, [*base, "-o", str(out / "eval.json")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "No space left on device" in result.stderr.strip().splitlines()[-1]
    assert not out.exists() or list(out.iterdir()) == []


def test_cli_layout_choices_follow_the_datasets_module():
    """The CLI's data set layouts (train, evaluate) and architectures (train) are the library's own enums (defined
    once, torch-free, no aliases), and the architectures are exactly the networks' builders."""
    import typing

    from actionrec import choices
    from actionrec.cli import evaluate as evaluate_cli
    from actionrec.cli import train as train_cli
    from actionrec.networks import BUILDERS

    def choice(command, name: str):
        annotated = typing.get_type_hints(command, include_extras=True)[name]  # Annotated[X | None, typer.Option]
        return next(t for t in typing.get_args(typing.get_args(annotated)[0]) if t is not type(None))

    layouts = choice(train_cli.train, "layout"), choice(evaluate_cli.evaluate, "layout")
    assert layouts == (choices.DataLayout, choices.DataLayout) and DataLayout is choices.DataLayout
    assert choice(train_cli.train, "arch") is choices.Architecture
    assert [a.value for a in choices.Architecture] == list(BUILDERS)


@pytest.fixture(scope="module")
def folder_set(tmp_path_factory):
    """Folder-per-class data set with the tiny model's classes: 3 classes x 3 short videos, one corrupt."""
    root = tmp_path_factory.mktemp("folder_set")
    for c, name in enumerate(("left", "right", "still")):
        (root / name).mkdir()
        for k in range(3):
            frames = moving_square_frames(20, 48, 40, seed=10 * c + k)
            write_cv2_video(root / name / f"{name}_p{k}.mp4", frames, 25.0, "mp4v")
    (root / "still" / "still_p3.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    return root


def test_cli_evaluate_writes_the_report(folder_set, tiny_model, tmp_path):
    """`actionrec evaluate` on a folder set: exit 0, numbers on stdout, JSON report, confusion CSV and PNG."""
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        app,
        ["evaluate", "--model", str(tiny_model), "--data", str(folder_set), "--clips-per-video", "3",
         "--subset", "all", "--precision", "fp32", "--output", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "video accuracy: top-1" in result.stdout and "K=3 uniformly spaced 8-frame windows" in result.stdout
    report = json.loads(out.read_text())
    assert report["videos"] == 9 and len(report["skipped"]) == 1 and report["top_k"] == 3
    assert report["clips_per_video"] == 3 and report["clips"] <= 27
    assert report["video_top5"] == 1.0  # top-3 of a 3-class model
    assert sum(map(sum, report["confusion"])) == 9 and report["confusion_labels"] == ["left", "right", "still"]
    assert 0.0 <= report["mean_class_accuracy"] <= 1.0 and report["model"] == str(tiny_model)
    rows = list(csv.reader((tmp_path / "eval.confusion.csv").open()))
    assert len(rows) == 4 and sum(int(v) for r in rows[1:] for v in r[1:]) == 9
    assert (tmp_path / "eval.confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_evaluate_errors(folder_set, tiny_model, tmp_path):
    """A data set class the model lacks, and a missing data folder, are one-line errors with exit code 1."""
    extra = tmp_path / "extra"
    for name in ("left", "jump"):
        (extra / name).mkdir(parents=True)
        for k in range(2):
            (extra / name / f"{name}{k}.mp4").write_bytes((folder_set / "left" / f"left_p{k}.mp4").read_bytes())
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", "-m", str(tiny_model), "-d", str(extra), "--subset", "all"])
    assert result.exit_code == 1 and "does not know: jump" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["evaluate", "-m", str(tiny_model), "-d", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "no such data folder" in result.output


@pytest.mark.slow
def test_cli_evaluate_runs_both_back_ends_alike(folder_set, tiny_model, tmp_path):
    """`evaluate --backend onnxruntime` on an exported twin gives the torch report's numbers; --streams 2 and
    --compile are refused together (a usage error), and eager torch with 2 streams matches 1 stream."""
    onnx_file = export_onnx(tiny_model, tmp_path / "tiny.onnx").path
    reports = {}
    for name, extra in {
        "onnx": ["-m", str(onnx_file), "--backend", "onnxruntime"],
        "torch1": ["-m", str(tiny_model), "--precision", "fp32", "--streams", "1"],
        "torch2": ["-m", str(tiny_model), "--precision", "fp32", "--streams", "2", "--threads", "2"],
    }.items():
        out = tmp_path / f"{name}.json"
        args = ["evaluate", "-d", str(folder_set), "-K", "3", "--subset", "all", "-o", str(out), *extra]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        reports[name] = json.loads(out.read_text())
    for key in ("video_top1", "clip_top1", "confusion", "clips"):
        assert reports["onnx"][key] == reports["torch1"][key] == reports["torch2"][key], key
    args = ["evaluate", "-m", str(tiny_model), "-d", str(folder_set), "--compile", "--streams", "2"]
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 2 and "--streams" in bad.output


def _model_trained_on(tiny_model, data, out):
    """The tiny model's weights in a file whose `training` metadata says it was trained on `data` (the run's
    recipe: folder layout, 1/3 held out by file, seed 0), as `actionrec train` records it."""
    import dataclasses

    from actionrec.io.checkpoint import load_model, save_model

    model, meta = load_model(tiny_model)
    recipe = {"format": "auto", "split": 1, "val_fraction": 0.34, "group_regex": None, "seed": 0, "csv": None}
    meta = dataclasses.replace(meta, training={"data_path": str(data), "recipe": recipe})
    return save_model(out, model, meta)


def test_cli_evaluate_scores_a_separate_folder_whole(folder_set, tiny_model, tmp_path):
    """A folder the model was not trained on is scored whole by default (all 9 readable videos, not a random
    held-out part), and stderr gives its real count with no split line."""
    out = tmp_path / "eval.json"
    args = ["evaluate", "-m", str(tiny_model), "-d", str(folder_set), "-K", "2", "--precision", "fp32", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["videos"] == 9 and len(report["skipped"]) == 1 and report["subset"] == "all"
    assert "10 videos, every one scored" in result.stderr
    assert "split" not in result.stderr and report["split"] == ""


def test_cli_evaluate_holds_out_only_on_the_models_own_data(folder_set, tiny_model, tmp_path):
    """On the data a model file says it was trained on, the default is that run's held-out side (fewer videos than
    the folder holds, the note says so); --subset all there scores every video with its real count, and no
    "67/33 split" line."""
    own = _model_trained_on(tiny_model, folder_set, tmp_path / "own.safetensors")
    runner = CliRunner()
    out = tmp_path / "val.json"
    result = runner.invoke(app, ["evaluate", "-m", str(own), "-d", str(folder_set), "-K", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    held_out = json.loads(out.read_text())
    assert held_out["subset"] == "val" and 0 < held_out["videos"] + len(held_out["skipped"]) < 10
    assert "held-out side of this model's own training split" in result.stderr
    out = tmp_path / "all.json"
    args = ["evaluate", "-m", str(own), "-d", str(folder_set), "-K", "2", "--subset", "all", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["videos"] == 9
    assert "10 videos, every one scored" in result.stderr and "split" not in result.stderr


def test_label_map_scores_data_classes_against_the_model_classes_it_names(scripted_videos, tmp_path):
    """With a label map (x -> a; y -> b or d; z unmapped) a data set whose class names the model lacks is scored:
    v1's top-1 d counts as right for y, the z video is left out and counted, never decoded; CSV and JSON maps read
    alike. By hand: videos v0 x (a), v1 y (d), v3 x (a) all right; clips 4 of 6 (v0's second says b, v3's first d)."""
    from actionrec.scoring import read_label_map

    (tmp_path / "map.json").write_text(json.dumps({"x": "a", "y": ["b", "D"]}))
    (tmp_path / "map.csv").write_text("data,model\nx,a\ny,b\ny,d\n")
    mapping = read_label_map(tmp_path / "map.json", MODEL_LABELS)
    assert mapping == read_label_map(tmp_path / "map.csv", MODEL_LABELS) == {"x": ("a",), "y": ("b", "d")}
    backend = ScriptedBackend()
    items = [VideoItem(p, t, "g") for p, t in zip(scripted_videos[:4], [0, 1, 2, 0], strict=True)]
    report = evaluate(Recognizer(backend), items, ("x", "y", "z"), clips_per_video=2, label_map=mapping)
    assert report.videos == 3 and report.left_out == (("z", 1),) and all(v != 2 for v, _ in backend.seen)
    assert report.video_top1 == 1.0 and report.clip_top1 == pytest.approx(4 / 6)
    assert report.confusion_labels == ("x", "y", OTHER) and report.confusion[:2] == ((2, 0, 0), (0, 1, 0))
    assert [o.predicted for o in report.outcomes] == ["a", "d", "a"]
    assert report.to_dict()["left_out"] == {"z": 1}
    (tmp_path / "bad.json").write_text(json.dumps({"x": ["zebra"]}))
    with pytest.raises(DataError, match="does not know: zebra"):
        read_label_map(tmp_path / "bad.json", MODEL_LABELS)


def test_cli_evaluate_label_map(folder_set, tiny_model, tmp_path):
    """`evaluate --label-map MAP` on a folder set: its classes scored against the mapped model classes, the unmapped
    class's videos left out and counted on stdout and in the report."""
    (tmp_path / "map.json").write_text(json.dumps({"left": ["right"], "right": ["left", "still"]}))
    out = tmp_path / "eval.json"
    args = ["evaluate", "-m", str(tiny_model), "-d", str(folder_set), "-K", "2", "--precision", "fp32"]
    result = CliRunner().invoke(app, [*args, "--label-map", str(tmp_path / "map.json"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["videos"] == 6 and report["left_out"] == {"still": 4} and report["skipped"] == []
    assert report["confusion_labels"][:2] == ["left", "right"] and report["label_map"] == str(tmp_path / "map.json")
    assert "left out, not in the label map: 4 videos of still (4)" in result.stdout
