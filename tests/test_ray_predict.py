"""`actionrec.ray_predict.predict_dataset` on a local Ray instance (2 CPUs, loopback only, one for the module): its
records are `predict`'s, video for video, in JSON Lines and Parquet; a corrupt video is its error record; a worker
that dies has its video retried, and a video that kills its worker every time becomes its error record. Skipped,
saying why, where the `ray` extra is not installed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

# A local Ray instance binds its ports to the node's address, every interface; this makes it loopback only. Read when
# ray is imported, so set first.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray", reason="the `ray` extra is not installed: pip install 'actionrec[ray]'")
pytest.importorskip("pyarrow", reason="the `ray` extra is not installed: pip install 'actionrec[ray]'")

from helpers import TESTS, moving_square_frames, write_cv2_video  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from actionrec.cli import app  # noqa: E402
from actionrec.io.inputs import Shard  # noqa: E402
from actionrec.ray_predict import ATTEMPTS, predict_dataset, read_results, result_schema  # noqa: E402
from actionrec.runtime.aggregate import VideoResult  # noqa: E402

CRASH_DIR = "ACTIONREC_TEST_CRASH_DIR"  # where the crash hook leaves its marker files


def crash_hook() -> None:
    """Ray's worker_process_setup_hook for this module's instance: in a worker, labelling a video named
    "crash-once*" ends the process the first time (a marker file remembers it), "crash-always*" every time."""
    from actionrec.runtime.pipeline import Recognizer

    predict = Recognizer.predict

    def crashing(self, path, **kwargs):
        name = Path(path).name
        marker = Path(os.environ[CRASH_DIR]) / f"{name}.crashed"
        if name.startswith("crash-always") or (name.startswith("crash-once") and not marker.exists()):
            with marker.open("a") as f:
                f.write("x")
            os._exit(1)
        return predict(self, path, **kwargs)

    Recognizer.predict = crashing


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    crash_dir = tmp_path_factory.mktemp("crashes")
    tests = str(TESTS)
    ray.init(
        address="local",  # a new instance, never another one running on this machine
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env={
            "env_vars": {CRASH_DIR: str(crash_dir), "PYTHONPATH": os.pathsep.join([tests, *sys.path])},
            "worker_process_setup_hook": "test_ray_predict.crash_hook",
        },
    )
    yield crash_dir
    ray.shutdown()


@pytest.fixture(scope="module")
def batch(videos, tmp_path_factory) -> list[Path]:
    """Four good videos and three bad ones (corrupt, empty, missing)."""
    d = tmp_path_factory.mktemp("batch")
    good = [
        write_cv2_video(d / f"clip{i}.mp4", moving_square_frames(20 + 8 * i, seed=i), 25.0, "mp4v") for i in range(4)
    ]
    return [*good, videos["avi"], videos["corrupt"], videos["empty"], videos["missing"]]


def predict_lines(paths, model, tmp_path, *options: str) -> dict[str, str]:
    """Single-process `actionrec predict --format jsonl` with `options`: each video's line."""
    out = tmp_path / "predict.jsonl"
    args = ["predict", *map(str, paths), "--model", str(model), "-f", "jsonl", "-o", str(out), *options]
    res = CliRunner().invoke(app, args)
    assert res.exit_code in (0, 1), res.output  # 1: some video failed
    return {json.loads(line)["video"]: line for line in out.read_text().splitlines()}


def test_result_schema_is_the_result_records_fields():
    """The Arrow schema of the Parquet results names VideoResult.to_dict()'s fields in its order (a field added to
    the result must be added to the schema)."""
    assert result_schema().names == list(VideoResult(video="x").to_dict())


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_records_are_predicts_video_for_video(local_ray, batch, tiny_model, tmp_path, fmt):
    """Two actors label the batch into `fmt` files: one record per video, each equal to the line single-process
    predict writes for it (JSON Lines: the same bytes), the bad videos' error records included; the run counts them."""
    expected = predict_lines(batch, tiny_model, tmp_path)
    run = predict_dataset(batch, tiny_model, output=tmp_path / "out", format=fmt, actors=2)
    assert (run.videos, run.failed, run.files) == (len(batch), 3, 1)
    records = read_results(tmp_path / "out")
    assert sorted(r["video"] for r in records) == sorted(map(str, batch))
    for record in records:
        assert record == json.loads(expected[record["video"]])
    assert {r["video"] for r in records if r["error"]} == {str(p) for p in batch[-3:]}
    if fmt == "jsonl":
        (lines,) = [f.read_text().splitlines() for f in (tmp_path / "out").iterdir()]
        assert sorted(lines) == sorted(expected.values())


@pytest.mark.slow
def test_a_worker_that_dies_has_its_video_retried(local_ray, batch, tiny_model, tmp_path):
    """The worker labelling "crash-once.mp4" exits the first time: a new actor labels it and the run completes
    with every video once, the crashed one's result equal to predict's."""
    crash = tmp_path / "crash-once.mp4"
    os.link(batch[0], crash)
    videos = [*batch[:3], crash]
    expected = predict_lines(videos, tiny_model, tmp_path)
    run = predict_dataset(videos, tiny_model, output=tmp_path / "out", actors=2)
    assert (local_ray / "crash-once.mp4.crashed").read_text() == "x", "the worker did not die"
    assert (run.videos, run.failed) == (len(videos), 0)
    records = {r["video"]: r for r in read_results(tmp_path / "out")}
    assert sorted(records) == sorted(map(str, videos))
    assert records[str(crash)] == json.loads(expected[str(crash)])


@pytest.mark.slow
def test_a_video_that_kills_every_worker_becomes_its_error_record(local_ray, batch, tiny_model, tmp_path):
    """ "crash-always.mp4" kills each worker that takes it: after ATTEMPTS tries it is an error record naming it,
    and the other videos' results are all there."""
    crash = tmp_path / "crash-always.mp4"
    os.link(batch[0], crash)
    run = predict_dataset([batch[1], crash, batch[2]], tiny_model, output=tmp_path / "out", actors=1)
    assert (local_ray / "crash-always.mp4.crashed").read_text() == "x" * ATTEMPTS
    assert (run.videos, run.failed) == (3, 1)
    records = {r["video"]: r for r in read_results(tmp_path / "out")}
    assert records[str(crash)]["error"] == (
        f"{crash}: the worker labelling it died {ATTEMPTS} times (a crash while decoding or in the network); given up"
    )
    assert records[str(batch[1])]["error"] is None and records[str(batch[2])]["error"] is None


def test_output_folder_with_files_is_refused(tiny_model, tmp_path):
    """An output folder holding files is refused before Ray starts (results of two runs would mix)."""
    from actionrec.errors import ActionrecError

    (tmp_path / "old.jsonl").write_text("{}\n")
    with pytest.raises(ActionrecError, match="holds files already"):
        predict_dataset([tmp_path / "a.mp4"], tiny_model, output=tmp_path)


@pytest.mark.slow
def test_predict_ray_writes_predicts_records_into_the_folder(local_ray, batch, tiny_model, tmp_path):
    """`actionrec predict FOLDER --ray -o OUT` labels the folder's videos on Ray with predict's options (segments'
    too): OUT holds predict's lines, one per video, and stderr says where they are."""
    folder = batch[0].parent
    options = ["--top-k", "2", "--stride", "3", "--switch-penalty", "0", "--min-segment", "0"]
    expected = predict_lines([folder], tiny_model, tmp_path, *options)
    args = ["predict", str(folder), "--ray", "--model", str(tiny_model), "-o", str(tmp_path / "out"), *options]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    (written,) = (tmp_path / "out").iterdir()
    assert written.suffix == ".jsonl" and sorted(written.read_text().splitlines()) == sorted(expected.values())
    assert f"{len(expected)} videos labelled into 1 JSON Lines file in {tmp_path / 'out'}" in res.stderr


def test_ray_options_misused_are_one_line_usage_errors(batch, tiny_model, tmp_path):
    """--ray without -o, with --resume or another --format, and --actors or --ray-address without --ray: exit 2 with
    one line, before anything runs."""
    base = ["predict", str(batch[0]), "--model", str(tiny_model)]
    out = ["-o", str(tmp_path / "out")]
    for args, says in [
        (["--ray"], "give -o FOLDER"),
        (["--ray", *out, "--resume"], "--resume"),
        (["--ray", *out, "-f", "csv"], "give --format jsonl"),
        (["--actors", "2"], "go with --ray"),
        (["--ray-address", "auto"], "go with --ray"),
    ]:
        res = CliRunner().invoke(app, [*base, *args])
        assert res.exit_code == 2 and says in res.stderr, (args, res.output)
        assert len(res.stderr.strip().splitlines()) == 1


def test_predict_ray_without_the_extra_names_it(monkeypatch, batch, tiny_model, tmp_path):
    """Without ray installed, predict --ray stops at once with one line naming the extra to install."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a))
    res = CliRunner().invoke(app, ["predict", str(batch[0]), "--ray", "-o", str(tmp_path / "out")])
    assert res.exit_code == 1 and "pip install 'actionrec[ray]'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_predict_ray_hands_predicts_options_to_predict_dataset(monkeypatch, batch, tiny_model, tmp_path):
    """predict --ray passes its videos (--files-from and --shard applied) and every option that shapes a record
    (--top-k, --stride, --batch-size, the segments' options, the model and back end) to predict_dataset, and the
    pool's (--actors, --threads, --ray-address)."""
    import actionrec.ray_predict as ray_predict
    from actionrec.runtime.segments import SegmentConfig

    seen = {}

    def fake(videos, model, **kwargs):
        seen.update(kwargs, videos=list(videos), model=model)
        return ray_predict.DatasetRun(str(kwargs["output"]), ray_predict.DatasetFormat.jsonl, len(videos), 0, 1)

    monkeypatch.setattr(ray_predict, "predict_dataset", fake)
    manifest = tmp_path / "list.txt"
    manifest.write_text("".join(f"{p}\n" for p in batch[:4]))
    res = CliRunner().invoke(
        app,
        [
            *("predict", "--files-from", str(manifest), "--shard", "1/2", "--ray", "-o", str(tmp_path / "out")),
            *("--model", str(tiny_model), "--top-k", "2", "--stride", "3", "--batch-size", "4"),
            *("--switch-penalty", "0.5", "--min-segment", "2", "--actors", "3", "--threads", "2"),
            *("--ray-address", "auto", "--precision", "fp32"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert seen["videos"] == Shard(1, 2).select(batch[:4]) and seen["model"] == tiny_model
    assert seen["segment_config"] == SegmentConfig(switch_penalty=0.5, min_duration_s=2.0)
    expected = {"top_k": 2, "stride": 3, "batch_size": 4, "actors": 3, "threads_per_actor": 2, "address": "auto"}
    assert {k: seen[k] for k in expected} == expected and seen["precision"] == "fp32"
