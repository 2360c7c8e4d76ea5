"""predict's outputs (io.output, cli.predict): one run holds -o and --render (a second is refused at once with one
line), the writers keep no result once written, CSV has a row per video with its error, -o's suffix picks the
format, every write failure is one line naming the file, scores follow one rounding rule with null for what a
failed video lacks, the README's schema table is the real output's, and names that are not UTF-8 never crash."""

from __future__ import annotations

import csv
import dataclasses
import errno
import gc
import io
import json
import os
import re
import sys
import weakref
from pathlib import Path

import pytest
from helpers import ROOT
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.errors import ActionrecError
from actionrec.io import files, output
from actionrec.io.files import exclusive
from actionrec.io.output import CSV_HEADER, OutputFormat, result_writer
from actionrec.runtime.aggregate import DECIMALS, VideoResult

BAD_NAME = os.fsdecode(b"clips/bad\xff.mp4")  # not UTF-8: Python holds it with a lone surrogate
BAD_SHOWN = "clips/bad\\xff.mp4"  # how tables and CSV write it


def run(*args):
    return CliRunner().invoke(app, ["predict", *map(str, args)])


@pytest.fixture(scope="module")
def results(videos, tiny_model) -> tuple[VideoResult, VideoResult]:
    """A real result (tiny_model on the generated mp4) and a real failed one (a missing file)."""
    import actionrec

    model = actionrec.load(tiny_model)
    good, bad = model.predict_many([videos["mp4"], videos["missing"]], top_k=2)
    assert good.ok and not bad.ok
    return good, bad


def floats(value):
    """Every float in a JSON value."""
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from floats(v)
    elif isinstance(value, list):
        for v in value:
            yield from floats(v)


# ---- 1. one run per output ----


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("out.jsonl", ["-f", "jsonl"]),
        ("out.jsonl", ["--resume"]),
        ("out.json", ["-f", "json"]),
        ("out.csv", ["-f", "csv"]),
        ("out.mp4", ["--render"]),
    ],
)
def test_a_second_run_on_a_held_output_is_refused_at_once(videos, tmp_path, name, args):
    """While another process holds the output (-o FILE, with or without --resume, any format; --render VIDEO), a run
    exits 1 with one stderr line naming the file, before any work (its model does not even exist), and leaves the
    file as it was; once released, the lock file is gone."""
    out = tmp_path / name
    out.write_text("the first run's results\n")
    option = args if args == ["--render"] else [*args, "-o"]
    with exclusive(out, "results file"):
        res = run(videos["mp4"], "--model", tmp_path / "no_such_model.safetensors", *option, out)
    assert res.exit_code == 1, res.output
    assert res.stderr.strip().splitlines() == [
        f"error: {out}: another actionrec process is writing this "
        f"{'annotated video' if name.endswith('.mp4') else 'results file'}; wait for it or choose another"
    ]
    assert out.read_text() == "the first run's results\n" and res.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_run_holds_its_output_and_lets_it_go(videos, tiny_model, tmp_path):
    """A run lets its -o go when it ends: the next run (here --resume) takes the file and appends to it, and no lock
    file is left beside it."""
    out = tmp_path / "out.jsonl"
    assert run(videos["mp4"], "--model", tiny_model, "-o", out).exit_code == 0
    res = run(videos["mp4"], videos["avi"], "--model", tiny_model, "-o", out, "--resume")
    assert res.exit_code == 0, res.output
    assert [json.loads(line)["video"] for line in out.read_text().splitlines()] == [
        str(videos["mp4"]),
        str(videos["avi"]),
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


# ---- 2. nothing kept ----


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_writers_keep_no_result_once_written(results, tmp_path, fmt):
    """Each writer lets a result go once written (a weak reference to it is dead after write and gc), and writes
    what it would have written whole: the JSON streamed a video at a time is `json.dumps(..., indent=2)` of the
    document."""
    good, bad = results
    out = tmp_path / f"out.{fmt.value}"
    records = []
    with result_writer(fmt, out) as write:
        for original in (good, bad, good):
            result = dataclasses.replace(original)  # a fresh object only the writer could keep
            records.append(result.to_dict())
            ref = weakref.ref(result)
            write(result)
            del result
            gc.collect()
            assert ref() is None, f"the {fmt.value} writer keeps its results"
    text = out.read_text()
    if fmt == OutputFormat.json:
        assert text == json.dumps({"videos": records}, indent=2, allow_nan=False) + "\n"
    elif fmt == OutputFormat.jsonl:
        assert [json.loads(line) for line in text.splitlines()] == records
    elif fmt == OutputFormat.table:
        assert text.count(str(good.video)) == 2 + 2 and bad.error in text  # two tables, the summary's rows
    else:
        assert sum(row[6] == "video" for row in csv.reader(io.StringIO(text))) == 3


def test_json_of_no_videos_is_an_empty_list(tmp_path):
    """The streamed JSON of a run with no results is still the document `{"videos": []}`."""
    out = tmp_path / "none.json"
    with result_writer(OutputFormat.json, out):
        pass
    assert json.loads(out.read_text()) == {"videos": []}


# ---- 3. CSV rows per video, failed ones too ----


def test_csv_has_a_row_per_video_with_its_error(results, tmp_path):
    """CSV ends each video with its own row (kind "video"): a labelled one's span, label and score as in JSON, a
    failed one's error (its only row); the header has the `error` column."""
    good, bad = results
    out = tmp_path / "out.csv"
    with result_writer(OutputFormat.csv, out) as write:
        write(bad)
        write(good)
    rows = [dict(zip(CSV_HEADER, row, strict=True)) for row in list(csv.reader(out.open()))[1:]]
    assert next(csv.reader(out.open())) == list(CSV_HEADER) and CSV_HEADER[-1] == "error"
    assert rows[0] == {
        "video": bad.video,
        **dict.fromkeys(("start_s", "end_s", "rank", "label", "score"), ""),
        "kind": "video",
        "error": bad.error,
    }
    record = good.to_dict()
    video_rows = [r for r in rows[1:] if r["kind"] == "video"]
    assert video_rows == [rows[-1]] and len(rows) == 1 + 2 * len(record["windows"]) + len(record["segments"]) + 1
    assert (float(rows[-1]["start_s"]), float(rows[-1]["end_s"])) == (0.0, record["duration_s"])
    assert (rows[-1]["label"], float(rows[-1]["score"]), rows[-1]["error"]) == (record["label"], record["score"], "")
    assert all(r["error"] == "" for r in rows[1:])


def test_predict_csv_keeps_failed_videos(videos, tiny_model):
    """`predict good missing -f csv`: exit 1, and the missing video is in the CSV with its error."""
    res = run(videos["mp4"], videos["missing"], "--model", tiny_model, "-f", "csv")
    assert res.exit_code == 1, res.output
    rows = [dict(zip(CSV_HEADER, r, strict=True)) for r in list(csv.reader(io.StringIO(res.stdout)))[1:]]
    failed = [r for r in rows if r["video"] == str(videos["missing"])]
    assert len(failed) == 1 and failed[0]["kind"] == "video" and str(videos["missing"]) in failed[0]["error"]


# ---- 4. the format from -o's suffix ----


def test_output_suffix_picks_the_format_when_none_is_given(videos, tiny_model, tmp_path):
    """Without -f, -o out.json writes JSON, .jsonl JSON Lines, .csv CSV, and any other suffix the table; -f still
    wins over the suffix."""
    for name in ("out.json", "out.jsonl", "out.csv", "out.txt", "forced.json"):
        fmt = ["-f", "csv"] if name == "forced.json" else []
        res = run(videos["mp4"], "--model", tiny_model, "-o", tmp_path / name, *fmt)
        assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "out.json").read_text())["videos"][0]["video"] == str(videos["mp4"])
    assert json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])["video"] == str(videos["mp4"])
    for name in ("out.csv", "forced.json"):
        assert (tmp_path / name).read_text().splitlines()[0] == ",".join(CSV_HEADER)
    table = (tmp_path / "out.txt").read_text()
    assert "┃ window ┃" in table and "segments (" in table


# ---- 5. folders made, write failures one line ----


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table"])
def test_output_folder_is_made_for_every_format(videos, tiny_model, tmp_path, fmt):
    """-o into a folder that does not exist yet makes it, whatever the format."""
    out = tmp_path / "new" / "deeper" / f"out.{fmt}"
    res = run(videos["mp4"], "--model", tiny_model, "-f", fmt, "-o", out)
    assert res.exit_code == 0, res.output
    assert str(videos["mp4"]) in out.read_text()
    assert [p.name for p in out.parent.iterdir()] == [out.name]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table"])
def test_disk_full_is_one_line_naming_the_file(videos, tiny_model, fmt):
    """-o /dev/full (every write: no space left): exit 1 and one line naming the file and the reason, not an
    internal error."""
    res = run(videos["mp4"], "--model", tiny_model, "-f", fmt, "-o", "/dev/full")
    assert res.exit_code == 1, res.output
    assert res.stderr.strip().splitlines()[-1] == "error: /dev/full: cannot write: No space left on device"
    assert "internal error" not in res.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("fmt", [OutputFormat.json, OutputFormat.csv, OutputFormat.table])
def test_disk_full_on_a_regular_file_leaves_nothing(results, tmp_path, monkeypatch, fmt):
    """A disk that is full while a JSON, CSV or table file is written (its temporary file opened on /dev/full):
    one line naming the file and the reason, and no file, whole or half, nor a temporary one, is left."""
    real_open = open
    monkeypatch.setattr(output, "open", lambda path, *a, **k: real_open("/dev/full", *a, **k), raising=False)
    out = tmp_path / f"out.{fmt.value}"
    full = rf"^{re.escape(str(out))}: cannot write: No space left on device$"
    with pytest.raises(ActionrecError, match=full), result_writer(fmt, out) as write:
        write(results[0])
    assert list(tmp_path.iterdir()) == []


def test_read_only_folder_is_one_line_before_any_work(videos, tmp_path, monkeypatch):
    """-o or --render in a folder that cannot be written (read-only: EROFS on creating a file there; root ignores
    chmod, so the error is injected): exit 1, one line naming the file and the reason, before the model is opened."""
    folder = tmp_path / "ro"
    folder.mkdir()
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).startswith(str(folder)) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(files.os, "open", read_only)
    for option, name in (("-o", "out.jsonl"), ("--render", "out.mp4")):
        res = run(videos["mp4"], "--model", tmp_path / "no_such_model.safetensors", option, folder / name)
        assert res.exit_code == 1, res.output
        assert res.stderr.strip().splitlines() == [f"error: {folder / name}: cannot write: Read-only file system"]
    assert list(folder.iterdir()) == []


def test_render_below_a_file_is_a_usage_error(videos, tmp_path):
    """--render into a path below a regular file is given wrong: one line naming it, exit 2, nothing done."""
    res = run(videos["mp4"], "--render", videos["mp4"] / "out.mp4")
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines() == [
        f"error: --render {videos['mp4'] / 'out.mp4'}: {videos['mp4']} is a file, not a folder"
    ]


# ---- 6. one rounding rule, null for what a failed video lacks, the README's schema ----


def test_every_float_has_the_same_rounding_and_failed_videos_have_null(results):
    """Scores and times of the video, its ranking, segments and windows are all rounded to DECIMALS places (none
    left at full precision); a failed video's fps and duration are null, not 0.0."""
    good, bad = results
    record = json.loads(json.dumps(good.to_dict()))
    values = list(floats(record))
    assert len(values) > 10 and all(round(v, DECIMALS) == v for v in values)
    raw = [good.score, *(t.score for t in good.top), *(t.score for w in good.windows for t in w.top)]
    assert any(round(v, DECIMALS) != v for v in raw)  # the rule did something
    failed = json.loads(json.dumps(bad.to_dict()))
    assert failed["fps"] is None and failed["duration_s"] is None and failed["score"] is None
    assert failed["frames"] == 0 and failed["error"]


def _readme_schema() -> tuple[list[tuple[str, str]], list[str]]:
    """The README's schema table (field, type) and its CSV header line."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Output schema") : text.index("### Python API")]
    fields = re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", section, flags=re.MULTILINE)
    header = re.search(r"^`csv` columns: `([\w,]+)`", section, flags=re.MULTILINE)
    assert fields and header, "the README's schema table or CSV columns are missing"
    return fields, header.group(1).split(",")


TYPES = {"string": str, "integer": int, "number": float, "list": list, "null": type(None)}


@pytest.mark.slow
def test_readme_schema_is_the_real_output_of_predict_punch(tmp_path):
    """The README's schema table names the fields of `actionrec predict samples/punch.mp4 -f json` in order, with
    their JSON types (a failed video's nulls too), and its CSV columns are `-f csv`'s header."""
    fields, csv_columns = _readme_schema()
    cwd = Path.cwd()
    try:
        os.chdir(ROOT)
        res = run("samples/punch.mp4", "samples/no_such_video.mp4", "-f", "json")
        res_csv = run("samples/punch.mp4", "-f", "csv")
    finally:
        os.chdir(cwd)
    assert res.exit_code == 1 and res_csv.exit_code == 0, res.output
    good, bad = json.loads(res.stdout)["videos"]
    assert [name for name, _ in fields] == list(good) == list(bad)
    for name, kind in fields:
        allowed = tuple(TYPES[k] for k in re.findall(r"\w+", kind) if k in TYPES)
        assert isinstance(good[name], allowed), (name, kind, good[name])
        if name == "error":
            assert good[name] is None and isinstance(bad[name], str)
        elif "null" in kind:  # what a failed video lacks is null, never a made-up 0.0
            assert bad[name] is None, (name, bad[name])
        else:
            assert isinstance(bad[name], allowed), (name, bad[name])
    assert csv_columns == list(CSV_HEADER) == res_csv.stdout.splitlines()[0].split(",")


# ---- 7. names that are not UTF-8 ----


@pytest.mark.parametrize("fmt", list(OutputFormat))
@pytest.mark.parametrize("to_file", [True, False])
def test_a_name_that_is_not_utf8_never_crashes_an_output(results, tmp_path, monkeypatch, fmt, to_file):
    """A video named b'bad\\xff.mp4' (labelled, or failed with an error naming it) is written by every format, to a
    file or to a strict UTF-8 stdout: JSON escapes it (and reads back as the same name), tables and CSV show the
    byte as \\xff; the next video is written too."""
    good, bad = results
    named = dataclasses.replace(good, video=BAD_NAME)
    failed = dataclasses.replace(bad, video=BAD_NAME, error=f"{BAD_NAME}: no such file")
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", newline="")
    monkeypatch.setattr(sys, "stdout", stdout)
    out = tmp_path / f"out.{fmt.value}" if to_file else None
    with result_writer(fmt, out) as write:
        for result in (named, failed, good):
            write(result)
    if to_file:
        text = out.read_text(encoding="utf-8")
    else:
        stdout.flush()
        text = stdout.buffer.getvalue().decode("utf-8")
    if fmt == OutputFormat.json:
        assert [v["video"] for v in json.loads(text)["videos"]] == [BAD_NAME, BAD_NAME, good.video]
    elif fmt == OutputFormat.jsonl:
        assert [json.loads(line)["video"] for line in text.splitlines()] == [BAD_NAME, BAD_NAME, good.video]
    else:
        assert BAD_SHOWN in text and f"{BAD_SHOWN}: no such file" in text and good.video in text
