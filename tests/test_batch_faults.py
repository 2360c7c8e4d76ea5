"""A batch of videos survives its faults: an unreadable file, a skipped format, a bad output path, a signal, a
network that returns NaN; each gets one line on stderr naming it, and what finished is kept, whole and strict."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import moving_square_frames
from typer.testing import CliRunner

from actionrec.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def strict_loads(text: str):
    """json.loads that refuses NaN, Infinity and -Infinity (which Python's json accepts by default)."""

    def refuse(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_unreadable_file_on_the_command_line_is_a_per_file_error(videos, tiny_model, tmp_path, monkeypatch):
    """A file named on the command line that cannot be read is that file's error (one stderr line naming it, its
    JSON `error` set), not a usage error that stops the batch: the others are labelled and the exit code is 1."""
    locked = tmp_path / "locked.mp4"
    locked.write_bytes(videos["mp4"].read_bytes())
    locked.chmod(0)
    real_access = os.access

    def access(path, mode, *args, **kwargs):  # root reads anything: deny this one file as a user would see it
        if Path(path).name == locked.name and mode & os.R_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    res = run("predict", videos["mp4"], locked, videos["avi"], "--model", tiny_model, "--format", "json")
    assert res.exit_code == 1, res.output
    doc = strict_loads(res.stdout)
    by_name = {v["video"]: v for v in doc["videos"]}
    assert list(by_name) == [str(videos["mp4"]), str(locked), str(videos["avi"])]
    assert by_name[str(videos["mp4"])]["label"] and by_name[str(videos["avi"])]["label"]
    assert "permission denied" in by_name[str(locked)]["error"]
    assert [line for line in res.stderr.splitlines() if str(locked) in line] == [f"error: {locked}: permission denied"]
    assert "Traceback" not in res.output


def test_folder_scan_takes_gif_and_names_what_it_skips(videos, tiny_model, tmp_path):
    """A folder scan picks up every container the decoder reads (an animated .gif, a .webm-named file, ...) and
    says on one stderr line how many files it skipped and which; a folder named like a video, given on the
    command line, is a per-file error, not silence."""
    image = pytest.importorskip("PIL.Image")
    clips = tmp_path / "clips"
    clips.mkdir()
    frames = [image.fromarray(f) for f in moving_square_frames(20, seed=4)]
    frames[0].save(clips / "anim.gif", save_all=True, append_images=frames[1:], duration=40, loop=0)
    (clips / "square.mkv").write_bytes(videos["avi"].read_bytes())
    (clips / "notes.txt").write_text("not a video")
    (clips / "folder.mp4").mkdir()
    given_folder = tmp_path / "x.mp4"
    given_folder.mkdir()
    res = run("predict", clips, given_folder, "--model", tiny_model, "--format", "jsonl")
    assert res.exit_code == 1, res.output
    by_name = {v["video"]: v for v in map(strict_loads, res.stdout.splitlines())}
    assert set(by_name) == {str(clips / "anim.gif"), str(clips / "square.mkv"), str(given_folder)}
    assert by_name[str(clips / "anim.gif")]["label"] and by_name[str(clips / "anim.gif")]["frames"] == 20
    assert by_name[str(clips / "square.mkv")]["label"]
    assert "folder" in by_name[str(given_folder)]["error"]
    skipped = [line for line in res.stderr.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1 and "skipped 2 files" in skipped[0]
    assert str(clips / "notes.txt") in skipped[0] and str(clips / "folder.mp4") in skipped[0]
    assert sum(str(given_folder) in line for line in res.stderr.splitlines()) == 1


@pytest.mark.parametrize("fmt", ["json", "jsonl", "table"])
def test_output_that_is_a_folder_is_a_one_line_usage_error(videos, tiny_model, tmp_path, fmt):
    """-o naming a folder (or a path below a file) is one stderr line naming it, exit code 2, before any video is
    read: not "internal error: IsADirectoryError", and nothing is written into the folder."""
    folder = tmp_path / "results"
    folder.mkdir()
    res = run("predict", videos["mp4"], "--model", tiny_model, "--format", fmt, "-o", folder)
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines() == [
        f"error: --output {folder}: is a folder; give a file to write the results to"
    ]
    assert res.stdout == "" and list(folder.iterdir()) == []
    below_a_file = videos["mp4"].parent / "square.mp4" / "out.json"
    res = run("predict", videos["mp4"], "--model", tiny_model, "--format", fmt, "-o", below_a_file)
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1 and str(below_a_file) in res.stderr
