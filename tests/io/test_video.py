"""Decoding: probing, container timestamps, sliding-window planning, padding of short videos, bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import moving_square_frames, shared_clips, write_cv2_video

from actionrec.errors import VideoError
from actionrec.io.video import (
    _Frames,
    iter_windows,
    nominal_fps,
    plan_starts,
    probe,
    read_frames,
    scan_videos,
    uniform_starts,
)
from actionrec.model_meta import MAX_DEFAULT_STRIDE, Preprocessing, default_stride


@pytest.mark.parametrize("kind", ["mp4", "avi", "vfr"])
def test_probe_reports_container_facts(videos, kind):
    """probe() reads frame count, fps, size and codec from the header of each container."""
    info = probe(videos[kind])
    assert info.frames > 0 and info.fps > 0 and info.width > 0 and info.height > 0
    assert info.codec
    assert info.duration_s == pytest.approx(info.frames / info.fps)


def test_small_frames_decode_on_one_thread(videos, tmp_path):
    """Frames up to 640x480 decode on one FFmpeg thread (cheaper beside the network); larger ones keep FFmpeg's
    own choice, and both decode the same pixels as a plain capture."""
    large = write_cv2_video(tmp_path / "large.mp4", moving_square_frames(6, 960, 544), 25.0, "mp4v")
    for path, small in ((videos["mp4"], True), (large, False)):
        plain = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        frames = _Frames(path, None)
        want = plain.get(cv2.CAP_PROP_N_THREADS)
        assert frames.cap.get(cv2.CAP_PROP_N_THREADS) == (1 if small else want)
        for _, _, retrieve in frames:
            ok, bgr = plain.read()
            assert ok and np.array_equal(retrieve(), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        assert not plain.read()[0]


def test_plan_starts_counts_and_covers_tail():
    """Windows start every stride; one more is aligned to the end when the grid leaves a tail."""
    assert plan_starts(60, 16, 8) == [0, 8, 16, 24, 32, 40, 44]
    assert plan_starts(48, 16, 16) == [0, 16, 32]  # grid ends exactly at the end: no extra window
    assert plan_starts(10, 16, 8) == [0]
    for n in range(16, 200, 7):
        starts = plan_starts(n, 16, 5)
        assert starts[-1] + 16 == n and len(starts) == -(-(n - 16) // 5) + 1
    assert uniform_starts(100, 16, 5) == [0, 21, 42, 63, 84]


@pytest.mark.parametrize("kind", ["mp4", "avi", "vfr"])
def test_windows_have_monotonic_timestamps_inside_duration(videos, kind):
    """Window times come from the container, increase, and lie inside the decoded duration."""
    windows = list(iter_windows(videos[kind], clip_len=8, stride=4))
    starts = [w.start_s for w in windows]
    assert starts == sorted(starts) and starts[0] == 0.0
    duration = windows[-1].end_s
    assert all(0 <= w.start_s < w.end_s <= duration + 1e-9 for w in windows)
    n = windows[-1].video_frames
    assert [w.start_frame for w in windows] == plan_starts(n, 8, 4)
    assert all(w.frames.shape[0] == 8 and w.frames.dtype == np.uint8 for w in windows)


@pytest.mark.parametrize(("clip_len", "frame_step", "stride"), [(4, 3, 6), (8, 4, 12), (32, 1, 12)])
def test_default_stride_is_half_a_window_capped_on_the_frame_step_grid(videos, clip_len, frame_step, stride):
    """Without --stride, windows start half a window apart (clip_len/2 x frame_step decoded frames), at most
    MAX_DEFAULT_STRIDE frames and always in whole frame_steps, so all windows sample the same frames: the ones
    frame_step apart from frame 0 (plus the end-aligned tail)."""
    assert default_stride(clip_len, frame_step) == stride == Preprocessing(clip_len, frame_step, crop=8).stride
    assert stride <= MAX_DEFAULT_STRIDE and stride % frame_step == 0
    span = (clip_len - 1) * frame_step + 1
    windows = list(iter_windows(videos["mp4"], clip_len=clip_len, frame_step=frame_step))
    n = windows[-1].video_frames
    assert [w.start_frame for w in windows] == plan_starts(n, span, stride)
    assert all(w.start_frame % frame_step == 0 for w in windows[:-1])
    frames = read_frames(videos["mp4"], range(n))
    for w in windows:
        assert np.array_equal(w.frames, frames[w.start_frame : w.start_frame + span : frame_step])


def test_variable_frame_rate_uses_container_time(videos):
    """In a VFR video the second half runs at 10 fps: its windows last longer than index/fps would say."""
    windows = list(iter_windows(videos["vfr"], clip_len=8, stride=4))
    assert windows[0].start_s == pytest.approx(0.0)
    late = [w for w in windows if w.start_frame >= 10]
    assert late and all(w.end_s - w.start_s == pytest.approx(0.8, abs=0.01) for w in late)  # 8 frames x 100 ms
    assert windows[-1].end_s == pytest.approx(2.4, abs=0.01)  # last pts 2.3 s + its 100 ms


def test_short_video_is_looped_to_one_window(videos):
    """A 5-frame video still yields one full window, its frames repeated in order."""
    (window,) = iter_windows(videos["short"], clip_len=16, frame_step=2)
    assert window.frames.shape[0] == 16 and window.video_frames == 5
    first = read_frames(videos["short"], range(5))
    expected = first[[(2 * k) % 5 for k in range(16)]]
    assert np.array_equal(window.frames, expected)


def test_frame_step_samples_every_nth_frame(videos):
    """With frame_step 3 a window holds decoded frames start, start+3, ... (checked against read_frames)."""
    windows = list(iter_windows(videos["mp4"], clip_len=5, frame_step=3, stride=10))
    for w in windows:
        assert np.array_equal(w.frames, read_frames(videos["mp4"], range(w.start_frame, w.start_frame + 13, 3)))


@pytest.mark.parametrize("kind", ["corrupt", "empty", "truncated", "text", "missing"])
def test_bad_files_raise_one_line_video_error(videos, kind):
    """Every kind of bad file raises VideoError whose one-line message names the file."""
    with pytest.raises(VideoError) as e:
        list(iter_windows(videos[kind], clip_len=8))
    message = str(e.value)
    assert str(videos[kind]) in message and "\n" not in message


@pytest.mark.parametrize("clip", shared_clips(), ids=lambda p: p.name)
def test_real_clips_decode_into_windows(clip):
    """Real encoded clips (shared data, skipped when absent) decode into windows covering the whole video."""
    info = probe(clip)
    windows = list(iter_windows(clip, clip_len=16, stride=16))
    assert windows[-1].video_frames == pytest.approx(info.frames, abs=2)
    assert windows[-1].end_s == pytest.approx(info.duration_s, rel=0.05)
    assert all(w.frames.shape == (16, info.height, info.width, 3) for w in windows)


def test_shared_clips_present_or_skipped():
    """Documents whether the shared real clips were found (the real-clip tests skip without them)."""
    if not shared_clips():
        pytest.skip("../shared/data/clips is absent")
    assert len(shared_clips()) >= 1


def _decodable(path) -> int:
    cap, n = cv2.VideoCapture(str(path)), 0
    while cap.read()[0]:
        n += 1
    return n


def _faststart_mp4(path, frames):
    """An MPEG-4 .mp4 with its index (moov) before the data, as streaming sites write them."""
    av = pytest.importorskip("av")
    h, w = frames.shape[1:3]
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mjpeg-avi", "faststart-mp4"])
def test_a_truncated_but_decodable_video_is_labelled_from_what_decodes(tmp_path, kind):
    """A video cut short (an MJPEG AVI cut at 53 %, a faststart MP4 cut in half) whose container still lists all
    120 frames is labelled from the frames that decode: predict exits 0, reports the decoded frame count, and says
    on stderr that the video is truncated."""
    frames = moving_square_frames(120, 160, 120)
    whole = tmp_path / ("whole.avi" if kind == "mjpeg-avi" else "whole.mp4")
    if kind == "mjpeg-avi":
        write_cv2_video(whole, frames, 25.0, "MJPG")
        keep = 53
    else:
        _faststart_mp4(whole, frames)
        keep = 50
    data = whole.read_bytes()
    cut = tmp_path / ("cut" + whole.suffix)
    cut.write_bytes(data[: len(data) * keep // 100])
    decodable = _decodable(cut)
    assert 0 < decodable < 120
    cmd = [sys.executable, "-m", "actionrec", "predict", str(cut), "--format", "json"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    video = json.loads(res.stdout)["videos"][0]
    assert video["error"] is None and video["frames"] == decodable and video["windows"]
    assert "truncated" in res.stderr and str(cut) in res.stderr


def test_a_url_decodes_like_the_file(served_samples):
    """A video given by URL (FFmpeg opens it; no local file checks) gives the same windows, frames and times as the
    same file on disk; an unreachable URL is one VideoError line naming the URL as written."""
    from actionrec.samples import path as sample_path

    url = f"{served_samples}/punch.mp4"
    local = list(iter_windows(sample_path("punch.mp4"), clip_len=8, frame_step=2))
    remote = list(iter_windows(url, clip_len=8, frame_step=2))
    assert len(remote) == len(local) > 0
    for a, b in zip(remote, local, strict=True):
        assert (a.start_s, a.end_s) == (b.start_s, b.end_s) and np.array_equal(a.frames, b.frames)
    missing = f"{served_samples}/no-such.mp4"
    with pytest.raises(VideoError) as e:
        probe(missing)
    assert str(e.value).startswith(missing + ":") and "\n" not in str(e.value)


def test_the_sample_server_logs_no_requests(served_samples, capfd):
    """The tests' loopback server answers without writing a request line to stderr (test output stays readable)."""
    import urllib.request

    with urllib.request.urlopen(f"{served_samples}/sequence.json") as r:
        assert json.loads(r.read())["segments"]
    assert "GET /sequence.json" not in capfd.readouterr().err


def test_a_name_that_is_not_utf8_decodes(videos, tmp_path):
    """A file whose name holds a byte that is not UTF-8 (Python keeps it as a lone surrogate, which crashed
    OpenCV) is probed and decoded like the same file under a plain name."""
    bad = Path(os.fsdecode(bytes(tmp_path) + b"/clip\xff.mp4"))
    bad.write_bytes(videos["mp4"].read_bytes())
    assert probe(bad).frames == probe(videos["mp4"]).frames
    got = list(iter_windows(bad, clip_len=8, fps=25.0))
    want = list(iter_windows(videos["mp4"], clip_len=8, fps=25.0))
    assert len(got) == len(want) and all((a.frames == b.frames).all() for a, b in zip(got, want, strict=True))


def test_a_broken_link_named_like_a_video_is_labelled_with_its_own_reason(videos, tmp_path):
    """A dangling .mp4 symlink in a folder is taken as a video (not "not a video by name") and fails with the
    real reason: a broken link, naming its target."""
    (tmp_path / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    (tmp_path / "ok.mp4").write_bytes(videos["mp4"].read_bytes())
    scan = scan_videos([tmp_path])
    assert [p.name for p in scan.videos] == ["gone.mp4", "ok.mp4"] and scan.skipped == []
    with pytest.raises(VideoError, match=r"gone\.mp4: a broken symbolic link .*nowhere\.mp4"):
        probe(tmp_path / "gone.mp4")


def test_an_absurd_container_rate_does_not_stretch_a_frame_over_minutes(tmp_path):
    """A header whose frame rate is below 1 fps (a damaged mp4: 1/512 fps) counts as unknown: the first frame lasts
    1/25 s, not 512 s, so its windows cover what was decoded."""
    path = write_cv2_video(tmp_path / "v.mp4", moving_square_frames(3), 25.0)
    cap = cv2.VideoCapture(str(path))

    class Broken:  # the capture's answers, with the rate the damaged header gave
        def get(self, prop):
            return 1 / 512 if prop == cv2.CAP_PROP_FPS else cap.get(prop)

    assert nominal_fps(Broken()) == 0.0 and nominal_fps(cap) == 25.0
    cap.release()


def test_a_name_the_system_refuses_is_that_files_own_error(videos):
    """A 5,000-character name (ENAMETOOLONG) is one VideoError naming it, in a scan and when opened, never an
    internal error."""
    name = Path("a" * 5000 + ".mp4")
    assert scan_videos([name, videos["mp4"]]).videos == [name, videos["mp4"]]
    with pytest.raises(VideoError, match=r"cannot open: File name too long"):
        probe(name)
