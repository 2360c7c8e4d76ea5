"""The annotated video (`predict --render`, io.annotated_video): reopened, it has the input's frames, the layout's
size, a label region that changes exactly at the segment boundaries and a timeline in the labels' colours; it is
H.264 where an encoder is at hand, MPEG-4 Part 2 otherwise, and nothing is left behind when writing fails."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import ROOT
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.errors import ActionrecError, VideoError
from actionrec.io import annotated_video, video_writer
from actionrec.io.annotated_video import label_colour, layout, render_video
from actionrec.runtime.segments import Segment

SEQUENCE = ROOT / "samples" / "sequence.mp4"
LABELS = ("walk_left", "walk_right", "jumping_jack", "wave_one_hand", "squat")


def truth() -> tuple[float, list[Segment]]:
    """samples/sequence.json's four actions as segments (score 0.9), and its frame rate."""
    data = json.loads((ROOT / "samples" / "sequence.json").read_text())
    fps = data["fps"]
    return fps, [Segment(s["start_frame"] / fps, s["end_frame"] / fps, s["label"], 0.9) for s in data["segments"]]


def read_all(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while (frame := cap.read()[1]) is not None:
        frames.append(frame)
    cap.release()
    return frames


def fourcc_of(path: Path) -> str:
    cap = cv2.VideoCapture(str(path))
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    cap.release()
    return code.to_bytes(4, "little").decode("ascii", "replace")


def changes(frames: list[np.ndarray], box: tuple[int, int, int, int], threshold: float = 6.0) -> list[int]:
    """The frames whose `box` region differs from the previous frame's by more than `threshold` (mean |diff|)."""
    x0, y0, x1, y1 = box
    regions = [f[y0:y1, x0:x1].astype(np.float32) for f in frames]
    return [i for i in range(1, len(regions)) if np.abs(regions[i] - regions[i - 1]).mean() > threshold]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, annotated_video.RenderResult]:
    out = tmp_path_factory.mktemp("render") / "sequence.mp4"
    _, segments = truth()
    return out, render_video(SEQUENCE, segments, out, labels=LABELS)


@pytest.mark.slow
def test_rendered_video_has_every_frame_at_the_layout_s_size(rendered):
    """Frame for frame the input's (384 frames), each the 128 x 128 picture enlarged 3 times to reach 360 pixels,
    with the header above and the timeline below: the size the result reports and the layout gives."""
    out, result = rendered
    frames = read_all(out)
    lay = layout(128, 128)
    assert lay.zoom == 3 and result.size == lay.size == (384, lay.header_h + 384 + lay.timeline_h)
    assert len(frames) == result.frames == 384
    assert {f.shape for f in frames} == {(lay.height, lay.width, 3)}


def test_label_region_changes_exactly_at_the_segment_boundaries(rendered):
    """The header's label region (the segment's colour, label and score) stays the same within a segment and
    changes on the first frame of each new one: frames 96, 192 and 288 of samples/sequence.mp4."""
    out, _ = rendered
    frames = read_all(out)
    fps, segments = truth()
    boundaries = [round(s.start_s * fps) for s in segments[1:]]
    assert boundaries == [96, 192, 288]
    assert changes(frames, layout(128, 128).label_box) == boundaries


def test_timeline_shows_each_segment_in_its_label_s_colour_and_a_moving_cursor(rendered):
    """Along the timeline, the middle of each segment's stretch is its label's colour (up to the codec); the cursor
    moves with the frame's time, so the timeline changes from frame to frame."""
    out, _ = rendered
    frames = read_all(out)
    lay = layout(128, 128)
    _, segments = truth()
    duration = segments[-1].end_s
    top = lay.timeline_box[1]
    last = frames[-1]
    for seg in segments:
        x = round((seg.start_s + seg.end_s) / 2 / duration * (lay.width - 1))
        pixel = last[top + 2, x].astype(int)
        assert np.abs(pixel - np.array(label_colour(seg.label, LABELS))).max() < 40, (seg.label, pixel)
    assert len(changes(frames, lay.timeline_box, threshold=0.05)) > 300


def test_h264_where_an_encoder_is_at_hand(rendered):
    """With PyAV's libx264 (or an OpenCV that writes avc1) the file is H.264, which browsers play."""
    if not (video_writer._pyav_h264() or video_writer._opencv_h264()):
        pytest.skip("no H.264 encoder here (PyAV with libx264, or an OpenCV build that writes avc1)")
    out, result = rendered
    assert result.codec.browsers and fourcc_of(out).lower() in {"h264", "avc1"}


def test_without_h264_it_falls_back_to_mpeg4(tmp_path, monkeypatch):
    """No H.264 encoder: MPEG-4 Part 2 (mp4v), said so, and the file still reopens frame for frame."""
    monkeypatch.setattr(video_writer, "_pyav_h264", lambda: False)
    monkeypatch.setattr(video_writer, "_opencv_h264", lambda: False)
    out = tmp_path / "fallback.mp4"
    _, segments = truth()
    result = render_video(SEQUENCE, segments, out, labels=LABELS, min_side=0)
    assert not result.codec.browsers and result.codec.fourcc == "mp4v" and fourcc_of(out).lower() in {"mp4v", "fmp4"}
    frames = read_all(out)
    assert len(frames) == 384 and result.size == (128, frames[0].shape[0])


def test_nothing_half_written_when_it_fails(tmp_path, monkeypatch, videos):
    """A failure halfway (here: drawing frame 50), or an input that does not decode: no file at the target and no
    temporary file beside it; a suffix it cannot write is refused before anything is done."""
    _, segments = truth()
    out = tmp_path / "out.mp4"
    drawn = annotated_video.Painter.frame

    def failing(self, picture, t):
        if t > 2.0:
            raise RuntimeError("disk full")
        return drawn(self, picture, t)

    monkeypatch.setattr(annotated_video.Painter, "frame", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        render_video(SEQUENCE, segments, out, labels=LABELS)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    with pytest.raises(VideoError):
        render_video(videos["corrupt"], segments, out, labels=LABELS)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ActionrecError, match=r"must be \.mp4 or \.avi"):
        render_video(SEQUENCE, segments, tmp_path / "out.mkv", labels=LABELS)


def test_disk_full_is_one_line_naming_the_video(tmp_path, monkeypatch):
    """A disk that fills up while the annotated video is written (the encoder's write fails with ENOSPC at frame 10):
    one line naming the file and the reason (ActionrecError, exit 1 on the command line), nothing left behind."""
    _, segments = truth()
    out = tmp_path / "out.mp4"
    opened = annotated_video.open_video_writer

    class FillingUp:
        def __init__(self, writer):
            self.writer, self.frames = writer, 0

        def write(self, frame):
            self.frames += 1
            if self.frames > 10:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.writer.write(frame)

        def release(self):
            self.writer.release()

    def filling_up(tmp, target, fps, size):
        writer, codec = opened(tmp, target, fps, size)
        return FillingUp(writer), codec

    monkeypatch.setattr(annotated_video, "open_video_writer", filling_up)
    with pytest.raises(ActionrecError) as caught:
        render_video(SEQUENCE, segments, out, labels=LABELS, min_side=0)
    assert str(caught.value) == f"{out}: cannot write: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_predict_render_usage_errors(tmp_path, videos):
    """--render takes one input video and a .mp4 or .avi path: otherwise a one-line usage error (exit 2) before any
    work; not with --resume or --ray."""
    runner = CliRunner()
    cases = [
        ([str(videos["mp4"]), str(videos["avi"]), "--render", str(tmp_path / "a.mp4")], "give one input video, not 2"),
        ([str(videos["mp4"]), "--render", str(tmp_path / "a.mkv")], "give a .mp4 or .avi file"),
        ([str(videos["mp4"]), "--render", str(tmp_path)], "is a folder"),
    ]  # fmt: skip
    resume = ["--resume", "-o", str(tmp_path / "r.jsonl")]
    cases.append(([str(videos["mp4"]), "--render", str(tmp_path / "a.mp4"), *resume], "not with --resume"))
    cases.append(([str(videos["mp4"]), "--render", str(tmp_path / "a.mp4"), "--ray"], "not with --ray"))
    for args, message in cases:
        res = runner.invoke(app, ["predict", *args])
        assert res.exit_code == 2 and message in res.stderr, (args, res.output)
    assert not (tmp_path / "a.mp4").exists()


@pytest.mark.slow
def test_predict_render_writes_the_annotated_video_of_predict_s_segments(tmp_path):
    """`predict samples/sequence.mp4 --render out.mp4 -f json`: stdout is predict's JSON as without --render; the
    video has every frame, and its label region changes exactly where predict's segments change; stderr says
    where it went and how it was encoded."""
    out = tmp_path / "annotated.mp4"
    runner = CliRunner()
    res = runner.invoke(app, ["predict", str(SEQUENCE), "-f", "json", "--render", str(out)])
    assert res.exit_code == 0, res.output
    plain = runner.invoke(app, ["predict", str(SEQUENCE), "-f", "json"])
    assert res.stdout == plain.stdout
    result = json.loads(res.stdout)["videos"][0]
    assert f"wrote {out} (" in res.stderr
    frames = read_all(out)
    assert len(frames) == result["frames"] == 384
    fps = 25.0
    times = np.arange(384) / fps
    expected = [int(np.searchsorted(times, s["start_s"])) for s in result["segments"][1:]]
    assert len(result["segments"]) == 4
    assert changes(frames, layout(128, 128).label_box) == expected
