"""A batch run's inputs: PATHs, a --files-from manifest (a file or standard input), and --shard i/n, a fixed part of
them whatever their order, the n shards together labelling every video once, result for result; a run killed with
SIGKILL mid-way and resumed gives the uninterrupted run's results without labelling a finished video again."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import moving_square_frames, write_cv2_video
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.errors import ActionrecError
from actionrec.io.inputs import Shard, list_inputs, parse_manifest, read_manifest, shard_of

runner = CliRunner()


def run(*args, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def jsonl_records(path: Path) -> dict[str, dict]:
    """Each video's record in a JSON Lines results file; a video twice is an error."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    by_video = {r["video"]: r for r in records}
    assert len(by_video) == len(records), "a video is in the file twice"
    return by_video


# ---- the library: io.inputs ----


def test_shard_parses_i_of_n_and_refuses_the_rest():
    """ "i/n" parses to Shard(i, n); a number out of range, a zero count or anything else is a one-line ValueError."""
    assert Shard.parse("2/3") == Shard(2, 3) and str(Shard.parse(" 0/1 ")) == "0/1"
    for text, why in [
        ("3/3", "from 0 to 2"),
        ("1/0", "at least 1"),
        ("-1/2", "give i/n"),
        ("1", "give i/n"),
        ("a/b", "give i/n"),
        ("1/2/3", "give i/n"),
    ]:
        with pytest.raises(ValueError, match=why) as e:
            Shard.parse(text)
        assert "\n" not in str(e.value)


def test_shard_of_is_a_fixed_function_of_the_name():
    """A video's shard is SHA-1 of its name (never Python's salted hash): these values hold on every run, machine and
    release, so that a resumed or re-run shard takes the same videos."""
    assert shard_of("videos/a.mp4", 7) == 1
    assert shard_of("https://example.org/v/b.mp4", 1000) == 681
    assert shard_of(Path("x"), 3) == shard_of("x", 3) == 0


def test_shards_cover_every_video_once_balanced_and_order_free():
    """Shards 0..n-1 of 3000 names are disjoint and cover them all, each within 10% of n's share; a shard is the
    same set whatever the order of the list."""
    names = [f"archive/{i // 100:03d}/clip{i:05d}.mp4" for i in range(3000)]
    for n in (1, 2, 3, 7):
        parts = [Shard(i, n).select(names) for i in range(n)]
        assert sorted(v for part in parts for v in part) == sorted(names)
        assert all(abs(len(part) - len(names) / n) <= 0.1 * len(names) / n for part in parts), [len(p) for p in parts]
    shuffled = random.Random(0).sample(names, len(names))
    assert set(Shard(1, 3).select(shuffled)) == set(Shard(1, 3).select(names))


def test_manifest_skips_blanks_and_comments_and_keeps_urls_as_written(tmp_path):
    """One input a line, stripped; blank and # lines skipped; a URL stays as written (its // kept); a folder line is
    scanned like a PATH; a video named twice is taken once, in first-seen order; "-" reads standard input."""
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "b.mp4").write_bytes(b"x")
    (folder / "notes.txt").write_text("not a video")
    text = f"# my videos\n\n  {tmp_path / 'a.mp4'}  \nhttps://example.org//v/c.mp4\n{folder}\n{tmp_path / 'a.mp4'}\n"
    assert parse_manifest(text.splitlines()) == [
        str(tmp_path / "a.mp4"),
        "https://example.org//v/c.mp4",
        str(folder),
        str(tmp_path / "a.mp4"),
    ]
    manifest = tmp_path / "list.txt"
    manifest.write_text(text)
    scan = list_inputs([folder / "b.mp4"], files_from=manifest)
    assert scan.videos == [folder / "b.mp4", tmp_path / "a.mp4", "https://example.org//v/c.mp4"]
    assert scan.skipped == [folder / "notes.txt"]
    assert list_inputs(files_from="-", stdin=io.StringIO(text)).videos == [
        tmp_path / "a.mp4",
        "https://example.org//v/c.mp4",
        folder / "b.mp4",
    ]


def test_unreadable_manifest_is_one_line(tmp_path):
    """A missing manifest, a folder or a binary file given as one: an ActionrecError of one line naming it."""
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00bad")
    for source, why in [
        (tmp_path / "none.txt", "no such manifest file"),
        (tmp_path, "is a folder"),
        (tmp_path / "binary.txt", "not a text file"),
    ]:
        with pytest.raises(ActionrecError, match=why) as e:
            read_manifest(source)
        assert str(source) in str(e.value) and "\n" not in str(e.value)


# ---- the command line ----


@pytest.fixture(scope="module")
def archive(tmp_path_factory, videos) -> Path:
    """A folder of 12 generated videos of different lengths and three bad ones (corrupt, empty, truncated)."""
    d = tmp_path_factory.mktemp("archive")
    for i in range(12):
        write_cv2_video(d / f"clip{i:02d}.mp4", moving_square_frames(12 + 4 * i, 64, 48, seed=i))
    for name in ("corrupt", "empty", "truncated"):
        os.link(videos[name], d / f"bad-{videos[name].name}")
    return d


@pytest.mark.slow
def test_three_shards_together_are_the_unsharded_run(archive, tiny_model, tmp_path):
    """predict FOLDER --shard 0/3, 1/3 and 2/3 label disjoint parts of the folder whose union is the unsharded
    run, record for record, the bad videos' error records included; each run's exit code says whether its part
    held a bad video."""
    whole = tmp_path / "all.jsonl"
    res = run("predict", archive, "--model", tiny_model, "-f", "jsonl", "-o", whole)
    assert res.exit_code == 1, res.output
    expected = jsonl_records(whole)
    assert len(expected) == 15 and sum(r["error"] is not None for r in expected.values()) == 3
    union: dict[str, dict] = {}
    for i in range(3):
        out = tmp_path / f"shard{i}.jsonl"
        res = run("predict", archive, "--model", tiny_model, "-f", "jsonl", "-o", out, "--shard", f"{i}/3")
        part = jsonl_records(out)
        assert 0 < len(part) < 15 and not set(part) & set(union)
        assert res.exit_code == (1 if any(r["error"] for r in part.values()) else 0), res.output
        union |= part
    assert union == expected


def test_manifest_from_a_file_and_from_stdin_label_the_listed_videos(archive, tiny_model, tmp_path):
    """--files-from FILE and --files-from - (standard input) label the listed videos, as PATHs would, in the
    listed order; a manifest of nothing but comments is a one-line error."""
    listed = [archive / "clip03.mp4", archive / "clip01.mp4"]
    manifest = tmp_path / "list.txt"
    manifest.write_text("# two clips\n" + "".join(f"{p}\n" for p in listed))
    by_file = run("predict", "--files-from", manifest, "--model", tiny_model, "-f", "json")
    by_stdin = run("predict", "--files-from", "-", "--model", tiny_model, "-f", "json", input=manifest.read_text())
    by_paths = run("predict", *listed, "--model", tiny_model, "-f", "json")
    for res in (by_file, by_stdin, by_paths):
        assert res.exit_code == 0, res.output
    assert [v["video"] for v in json.loads(by_file.stdout)["videos"]] == [str(p) for p in listed]
    assert by_file.stdout == by_stdin.stdout == by_paths.stdout
    (tmp_path / "none.txt").write_text("# nothing yet\n")
    res = run("predict", "--files-from", tmp_path / "none.txt", "--model", tiny_model)
    assert res.exit_code == 2 and "no video files found" in res.stderr and "Traceback" not in res.output


def test_bad_shard_and_no_input_are_one_line_usage_errors(archive, tiny_model):
    """--shard that is not i/n with 0 <= i < n, and a predict given no video at all, exit 2 with one line."""
    for value in ("3/3", "x", "1/0"):
        res = run("predict", archive, "--model", tiny_model, "--shard", value)
        assert res.exit_code == 2 and "--shard" in res.stderr and value in res.stderr, res.output
    res = run("predict", "--model", tiny_model)
    assert res.exit_code == 2 and "--files-from" in res.stderr, res.output
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> list[Path]:
    """Sixty video files (hard links of two generated clips), enough that a kill lands mid-run."""
    d = tmp_path_factory.mktemp("many")
    clips = [write_cv2_video(d / f"src{k}.mp4", moving_square_frames(40, seed=10 + k)) for k in range(2)]
    paths = []
    for i in range(60):
        os.link(clips[i % 2], d / f"clip{i:03d}.mp4")
        paths.append(d / f"clip{i:03d}.mp4")
    return paths


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_results(many, tiny_model, tmp_path):
    """predict --files-from LIST --shard 0/2 -f jsonl -o FILE, killed with SIGKILL mid-way, keeps whole lines of
    the videos that finished (a half-written last line, as a kill mid-write leaves, is dropped); the same command
    with --resume labels only the others, leaves the kept lines as they were, and FILE then holds the uninterrupted
    run's records, each video once."""
    manifest = tmp_path / "list.txt"
    manifest.write_text("".join(f"{p}\n" for p in many))
    args = ["predict", "--files-from", manifest, "--shard", "0/2", "--model", tiny_model, "-f", "jsonl"]
    expected_file = tmp_path / "uninterrupted.jsonl"
    assert run(*args, "-o", expected_file).exit_code == 0
    expected = jsonl_records(expected_file)
    assert 15 < len(expected) < 45

    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "actionrec", *map(str, args), "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out.exists() and out.read_bytes().count(b"\n") >= 3):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    kept = out.read_bytes()
    done = kept.count(b"\n")
    assert 3 <= done < len(expected), "the kill should land mid-run"
    next_video = next(v for v in expected if v not in jsonl_records(out))
    with out.open("ab") as f:  # what a kill in the middle of writing a line leaves
        f.write(b'{"video": "' + next_video.encode() + b'", "frames": 4')

    res = run(*args, "-o", out, "--resume")
    assert res.exit_code == 0, res.output
    assert f"resuming {out}: {done} of {len(expected)} videos already there, {len(expected) - done} to go" in res.stderr
    assert "dropped a half-written last line" in res.stderr
    assert out.read_bytes().startswith(kept)  # the finished videos' lines untouched, none labelled again
    assert jsonl_records(out) == expected


def test_urls_as_arguments_and_in_a_manifest_label_like_the_local_file(served_samples, tmp_path):
    """A video given by URL, as an argument or a manifest line, keeps its URL as written (no folded "//") and gets
    the same labels as the same file on disk (on one back end: `--backend auto` sizes a run up from local files'
    headers, and a URL's length is unknown)."""
    from actionrec.samples import path as sample_path

    url = f"{served_samples}/punch.mp4"
    manifest = tmp_path / "list.txt"
    manifest.write_text(url + "\n")
    same = ("-f", "jsonl", "--backend", "torch")
    local = run("predict", sample_path("punch.mp4"), *same)
    by_arg = run("predict", url, *same)
    by_manifest = run("predict", "--files-from", manifest, *same)
    want = json.loads(local.stdout)
    for res in (by_arg, by_manifest):
        assert res.exit_code == 0, res.output
        got = json.loads(res.stdout)
        assert got["video"] == url
        assert {k: v for k, v in got.items() if k != "video"} == {k: v for k, v in want.items() if k != "video"}
