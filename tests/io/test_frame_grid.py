"""Frames on the model's clock (`io.video.FrameGrid`): every video is sampled by timestamp at the model's rate, so a
window covers the same seconds at 15, 25, 30, 50 or 60 fps and takes the frames shown at its sample times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import write_cv2_video

from actionrec.hub import KINETICS400_R3D18
from actionrec.io.video import FrameGrid, iter_windows, probe, read_all
from actionrec.model_meta import KINETICS_FPS, ModelMeta

SPEED = 200.0  # pixels a second that the bar moves: its position tells the time a frame was filmed


def clock_video(path: Path, fps: float, seconds: float = 2.4) -> Path:
    """A video whose frames show their own time: a white bar SPEED px/s across a black frame."""
    n = round(seconds * fps)
    frames = np.zeros((n, 48, 560, 3), np.uint8)
    for i in range(n):
        x = 20 + round(SPEED * i / fps)
        frames[i, :, x : x + 6] = 255
    return write_cv2_video(path, frames, fps, "MJPG")


def filmed_at(frame: np.ndarray) -> float:
    """The time a `clock_video` frame shows, from its bar's position."""
    columns = np.flatnonzero(frame.mean(axis=(0, 2)) > 128)
    return (columns[0] - 20) / SPEED


def test_grid_is_the_identity_at_the_model_rate_and_nearest_otherwise():
    """At the model's own rate each decoded frame is one grid frame; at 60 fps grid frame j takes the decoded frame
    nearest to j/25 s; at 10 fps a decoded frame stands for the 2-3 grid frames nearest to it."""
    same = FrameGrid(25.0, 1 / 25)
    assert [list(same.take(i / 25)) for i in range(5)] == [[0], [1], [2], [3], [4]]
    fast = FrameGrid(25.0, 1 / 60)
    placed = {j: i for i in range(120) for j in fast.take(i / 60)}
    assert all(abs(i / 60 - j / 25) <= 0.5 / 60 + 1e-9 for j, i in placed.items())
    assert sorted(placed) == list(range(len(placed)))
    slow = FrameGrid(25.0, 1 / 10)
    counts = [len(slow.take(i / 10)) for i in range(10)]
    assert set(counts) <= {2, 3} and sum(counts) == 24  # grid times up to the last frame's half interval, 0.95 s
    assert FrameGrid(None, 1 / 60).take(0.5) == range(0, 1)


@pytest.mark.parametrize("fps", [15.0, 30.0, 50.0, 60.0])
def test_windows_take_the_frames_filmed_at_their_sample_times(tmp_path, fps):
    """Whatever the video's rate, every frame of every window was filmed within half a source frame of its sample
    time on the model's 25 fps clock, and windows start at the same seconds as at 25 fps."""
    at_25 = [w.times for w in iter_windows(clock_video(tmp_path / "a.avi", 25.0), clip_len=8, frame_step=6, fps=25.0)]
    video = clock_video(tmp_path / "b.avi", fps)
    windows = list(iter_windows(video, clip_len=8, frame_step=6, fps=25.0))
    assert np.array([w.times for w in windows]) == pytest.approx(np.array(at_25), abs=1e-6)
    for w in windows:
        assert w.end_s - w.start_s == pytest.approx(1.72, abs=0.5 / fps)  # (8 - 1) * 6 + 1 frames at 25 fps
        for frame, t in zip(w.frames, w.times, strict=True):
            assert abs(filmed_at(frame) - t) <= 0.5 / fps + 1 / SPEED
    assert windows[-1].video_frames == round(2.4 * fps)  # the video's own decoded frames, as reported


def test_the_kinetics_model_sees_16_frames_at_15_fps(tmp_path):
    """The Kinetics-400 entry records torchvision's rate: 16 frames at 15 fps (1.07 s) whatever the video's rate,
    the same 16 frame times at 25, 30 and 60 fps; a model file converted before the rate was recorded gets it too."""
    spec = KINETICS400_R3D18.preprocessing
    assert (spec.clip_len, spec.fps) == (16, KINETICS_FPS) and spec.span_s == pytest.approx(16 / 15)
    times = {}
    for fps in (25.0, 30.0, 60.0):
        video = clock_video(tmp_path / f"k{fps:g}.avi", fps)
        w = next(iter_windows(video, clip_len=spec.clip_len, frame_step=spec.frame_step, num_windows=1, fps=spec.fps))
        times[fps] = w.times
        assert [filmed_at(f) for f in w.frames] == pytest.approx(list(w.times), abs=0.5 / fps + 1 / SPEED)
    assert times[25.0] == pytest.approx(times[30.0], abs=1e-6) and times[25.0] == pytest.approx(times[60.0], abs=1e-6)
    assert np.diff(times[60.0]) == pytest.approx(np.full(15, 1 / 15))
    legacy = ModelMeta.from_json(
        '{"arch": "r3d18", "labels": ["a"], "preprocessing": {"clip_len": 16}, '
        '"training": {"data": "Kinetics-400 (torchvision r3d_18 weights, converted)"}}'
    )
    assert legacy.preprocessing.fps == KINETICS_FPS
    assert ModelMeta.from_json('{"arch": "r3d10", "labels": ["a"]}').preprocessing.fps == 25.0


def test_frame_cache_and_clips_read_the_model_clock(tmp_path):
    """`read_all` (the frame cache's decoder) gives one frame per 1/25 s of a 60 fps video, each the one filmed
    nearest its time."""
    video = clock_video(tmp_path / "c.avi", 60.0)
    frames = read_all(video, fps=25.0)
    assert len(frames) == round(2.4 * 25)
    assert [filmed_at(f) for f in frames] == pytest.approx([j / 25 for j in range(len(frames))], abs=0.5 / 60 + 0.005)
    assert probe(video).frames == round(2.4 * 60)
