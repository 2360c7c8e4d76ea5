"""`actionrec watch` and runtime.live: causal windows, a bounded queue that drops (and counts) what the network
cannot keep up with, a file paced in real time, a loopback HTTP stream, disconnects and reconnection, and the
command's lines, summary and exit codes."""

from __future__ import annotations

import http.server
import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, moving_square_frames, write_cv2_video
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.errors import VideoError
from actionrec.model_meta import Preprocessing
from actionrec.runtime.live import (
    LatencyHistogram,
    LatestQueue,
    LiveConfig,
    SourceKind,
    Watcher,
    WindowAssembler,
    parse_source,
)
from actionrec.runtime.pipeline import Recognizer, load

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 1.2 s clip at 50 fps (60 frames): 30 frames on the tiny model's 25 fps clock, so its 8-frame windows
    (0.32 s) complete every 4 of them (0.16 s)."""
    d = tmp_path_factory.mktemp("live")
    return write_cv2_video(d / "clip.mp4", moving_square_frames(60, seed=5), 50.0, "mp4v")


@pytest.fixture(scope="module")
def stream_file(tmp_path_factory) -> Path:
    """A Motion JPEG AVI of 100 frames at 50 fps (2 s), a format FFmpeg reads front to back from a socket."""
    d = tmp_path_factory.mktemp("stream")
    return write_cv2_video(d / "live.avi", moving_square_frames(100, seed=6), 50.0, "MJPG")


class StreamServer:
    """Serves a file on 127.0.0.1 as a live stream would: no length, chunks paced over `seconds`. `cuts`: the share
    of the bytes each connection gets in turn before it is cut (after them: 503, as a server that is down); counts
    the connections it took."""

    def __init__(self, path: Path, seconds: float = 1.0, cuts: tuple[float, ...] = (1.0,) * 10):
        self.data, self.seconds, self.cuts, self.connections = path.read_bytes(), seconds, cuts, 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                k = server.connections
                server.connections += 1
                if k >= len(server.cuts):
                    self.send_error(503)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "video/x-msvideo")
                self.end_headers()
                data = server.data[: int(len(server.data) * server.cuts[k])]
                chunks = 20
                step = -(-len(data) // chunks)
                for k in range(0, len(data), step):
                    try:
                        self.wfile.write(data[k : k + step])
                        self.wfile.flush()
                    except OSError:
                        return
                    time.sleep(server.seconds / chunks)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/live.avi"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port just freed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/live.ts"


class SlowBackend:
    """The tiny model's back end made slower than real time, noting how many windows wait in the queue at each call."""

    def __init__(self, inner, seconds: float):
        self.inner, self.seconds, self.meta, self.name = inner, seconds, inner.meta, "slow"
        self.waiting: list[int] = []
        self.queue: LatestQueue | None = None

    def __call__(self, clips):
        time.sleep(self.seconds)
        if self.queue is not None:
            self.waiting.append(len(self.queue.items))
        return self.inner(clips)


# ---- the parts ----


def test_source_kinds():
    """A number is a camera, anything with :// a stream URL, the rest a file."""
    assert parse_source("0").kind == SourceKind.camera and str(parse_source("2")) == "camera 2"
    assert parse_source("rtsp://cam.local/live").kind == SourceKind.stream
    assert parse_source("http://127.0.0.1:8000/a.ts").kind == SourceKind.stream
    assert parse_source("clips/a.mp4").kind == SourceKind.file


def test_windows_are_causal_and_sample_the_model_s_frames():
    """With clip_len 4, frame_step 2 (span 7) and stride 3, a window starts every 3 frames and is complete on its
    last sampled frame: it holds frames s, s+2, s+4, s+6 and nothing later; frames no window samples are never
    asked for; a reset starts a new grid after a gap."""
    spec = Preprocessing(clip_len=4, frame_step=2, resize=8, crop=8)
    windows = WindowAssembler(spec, stride=3)
    done = []
    for i in range(20):
        frame = np.full((2, 2, 3), i, np.uint8) if windows.needed(i) else None
        w = windows.push(i, i / 10, frame, arrived=float(i))
        if w is not None:
            assert w.end_frame == i + 1  # complete on the frame that arrived last: nothing from the future
            done.append(w)
    assert [w.start_frame for w in done] == [0, 3, 6, 9, 12]
    for w in done:
        assert w.frames[:, 0, 0, 0].tolist() == [w.start_frame + 2 * k for k in range(4)]
        assert w.start_s == pytest.approx(w.start_frame / 10) and w.end_s == pytest.approx(w.end_frame / 10)
    assert [w.index for w in done] == [0, 1, 2, 3, 4]
    unneeded = [i for i in range(20) if not windows.needed(i)]
    assert unneeded and all(all((i - s) % 2 for s in range(0, i + 1, 3) if i - s < 7) for i in unneeded)
    windows.reset(20)
    assert all(windows.push(i, i / 10, np.zeros((2, 2, 3), np.uint8), 0.0) is None for i in range(20, 26))
    assert windows.push(26, 2.6, np.zeros((2, 2, 3), np.uint8), 0.0).start_frame == 20


def test_latest_queue_never_grows_and_decides_every_window_in_order():
    """A put on a full queue drops the oldest window; every window is decided once, labelled or dropped, in order."""
    from actionrec.runtime.live import LiveWindow

    decided = []
    queue = LatestQueue(1, lambda w, labelled: decided.append((w.index, labelled)))

    def window(k):
        return LiveWindow(k, 4 * k, 4 * k + 8, np.zeros((1, 1, 1, 3), np.uint8), 0.0, 0.0, 0.0)

    assert not queue.put(window(0))
    assert queue.get(0.01).index == 0
    assert not queue.put(window(1))
    assert queue.put(window(2)) and queue.put(window(3))
    assert len(queue.items) == 1
    assert queue.get(0.01).index == 3
    assert queue.get(0.01) is None
    queue.close()
    assert queue.finished
    assert decided == [(0, True), (1, False), (2, False), (3, True)]


def test_dropped_frames_are_those_no_labelled_window_holds():
    """Windows of 8 frames every 4: a skipped window between two labelled ones drops nothing (its frames are
    theirs); two skipped in a row drop the 4 frames only they held; the count never goes down; skipped windows
    after the last labelled one are pending (dropped if the run ends there)."""
    from actionrec.runtime.live.records import Coverage

    c = Coverage()
    counts = []
    for k, labelled in enumerate([True, False, True, False, False, True, False]):
        c.decide(4 * k, 4 * k + 8, labelled)
        counts.append(c.dropped)
    assert counts == [0, 0, 0, 0, 0, 4, 4] and c.pending == 4


def test_latency_percentiles_in_fixed_memory():
    """Percentiles to the millisecond, the maximum exact, whatever the count."""
    h = LatencyHistogram(limit_s=1.0)
    for ms in range(1, 101):
        h.add(ms / 1000)
    h.add(5.0)  # beyond the bins: counted in the last, exact in the maximum
    assert h.percentile(50) == pytest.approx(0.051, abs=0.0015)
    assert h.percentile(95) == pytest.approx(0.096, abs=0.0015)
    assert h.max == 5.0 and h.percentile(100) == 5.0 and h.bins.size == 1001
    assert LatencyHistogram().percentile(95) is None


# ---- a file in real time ----


def test_file_in_realtime_labels_each_window_as_it_completes(clip, tiny_model):
    """A file paced at its own frame rate: a label per window, in order, none before its window's last frame was
    due (causal), every window labelled (a queue long enough for a busy test machine), the end of the file ends
    the run."""
    recognizer = load(tiny_model)
    got = []
    with Watcher(recognizer, clip, LiveConfig(realtime=True, top_k=2, pending=64)) as watcher:
        for label in watcher.labels():
            got.append((time.monotonic(), label))
        first = watcher.capture.first_arrival
        stats = watcher.stats()
        assert watcher.ended == "end of file"
    assert [label.window for _, label in got] == list(range(len(got))) and len(got) == (30 - 8) // 4 + 1
    for when, label in got:
        assert when - first >= label.end_s - 0.04 - 0.005  # its last frame (due at end_s - 1/25) had arrived
        assert label.latency_s >= 0 and len(label.top) == 2
        assert label.segment.start_s <= label.start_s + 1e-6 and label.segment.end_s == pytest.approx(label.end_s)
    assert [label.start_s for _, label in got] == pytest.approx([0.16 * k for k in range(len(got))], abs=1e-3)
    assert stats.frames == 60 and stats.windows == len(got)
    assert stats.skipped_windows == 0 and stats.dropped_frames == 0
    assert stats.seconds == pytest.approx(1.2, abs=0.4) and stats.latency_p95_s is not None
    record = got[-1][1].to_dict()
    assert set(record) >= {"window", "start_s", "end_s", "label", "score", "top", "segment", "latency_s"}
    assert json.loads(json.dumps(record)) == record


@pytest.mark.slow
def test_a_slow_network_drops_frames_and_the_queue_stays_bounded(clip, tiny_model):
    """A back end slower than real time (0.25 s a window, one every 0.08 s): the newest window is labelled, older
    waiting ones are dropped and their frames counted; at most one window ever waits; windows labelled plus
    skipped are all the windows."""
    inner = load(tiny_model)
    slow = SlowBackend(inner.backend, 0.25)
    with Watcher(Recognizer(slow), clip, LiveConfig(realtime=True)) as watcher:
        slow.queue = watcher.queue
        labels = list(watcher.labels())
        stats = watcher.stats()
        completed = watcher.capture.assembler.count
    assert stats.skipped_windows > 0 and stats.dropped_frames > 0
    assert stats.windows == len(labels) and stats.windows + stats.skipped_windows == completed
    assert max(slow.waiting) <= 1
    counts = [label.dropped_frames for label in labels]  # the count so far, on each line
    assert counts == sorted(counts) and counts[-1] <= stats.dropped_frames <= stats.frames


# ---- a loopback HTTP stream ----


def test_loopback_http_stream_is_labelled_and_ends_cleanly(stream_file, tiny_model):
    """OpenCV's FFmpeg reads a live HTTP stream from 127.0.0.1 (no length, sent over about a second): windows are
    labelled as they complete, and a stream that says how many frames it has ends cleanly once they are all in."""
    recognizer = load(tiny_model)
    config = LiveConfig(pending=64)  # frames come in bursts: the tiny model on a busy test machine may lag behind
    with StreamServer(stream_file, seconds=1.0) as server, Watcher(recognizer, server.url, config) as watcher:
        labels = list(watcher.labels())
        stats = watcher.stats()
        assert watcher.ended == "end of stream"
    assert stats.frames == 100 and len(labels) == (50 - 8) // 4 + 1  # 100 frames at 50 fps: 50 at the model's 25
    assert [label.start_s for label in labels] == pytest.approx([0.16 * k for k in range(len(labels))], abs=1e-3)


def test_a_stream_that_disconnects_is_one_error_and_reconnect_retries(stream_file, tiny_model):
    """A stream cut halfway: without reconnecting, one VideoError naming it. With reconnect=2: reopened (each
    attempt announced, frame numbers and times going on); a reconnection that brings frames starts the count of
    attempts afresh; once the server is down, it gives up after 2 more attempts."""
    recognizer = load(tiny_model)
    with StreamServer(stream_file, seconds=0.3, cuts=(0.5,)) as server:
        watcher = Watcher(recognizer, server.url)
        with watcher, pytest.raises(VideoError, match="disconnected after"):
            list(watcher.labels())
        assert server.url in str(watcher.capture.error) and watcher.stats().frames > 0
    messages, labels = [], []
    config = LiveConfig(reconnect=2, backoff_s=0.05, pending=64)
    with StreamServer(stream_file, seconds=0.3, cuts=(0.5, 0.5)) as server:
        watcher = Watcher(recognizer, server.url, config, notify=messages.append)
        with watcher, pytest.raises(VideoError, match="gave up after 2 reconnection attempts"):
            for label in watcher.labels():
                labels.append(label)
        stats = watcher.stats()
    assert server.connections == 2 + 2  # two that sent frames, then 2 attempts in a row that got 503
    assert stats.reconnects == 3 and len(messages) == 3
    assert "disconnected after" in messages[0] and "reconnecting in 0.05 s (attempt 1 of 2)" in messages[0]
    assert "reconnecting in 0.05 s (attempt 1 of 2)" in messages[1] and "(attempt 2 of 2)" in messages[2]
    assert [label.window for label in labels] == list(range(len(labels)))
    starts = [label.start_s for label in labels]
    assert starts == sorted(starts) and stats.frames > 90


def test_a_source_that_does_not_open_is_one_error(tiny_model):
    """Nothing listening at the URL: VideoError at once, saying it cannot be opened."""
    watcher = Watcher(load(tiny_model), dead_url(), LiveConfig(timeout_s=2))
    with watcher, pytest.raises(VideoError, match="cannot open the stream"):
        list(watcher.labels())


# ---- the command ----


def test_watch_prints_a_line_per_window_and_a_summary_at_the_end(clip, tiny_model):
    """`watch FILE --realtime`: a header and a line per window on stdout (times, label, score, current segment),
    exit code 0 at the end of the file, and the summary on stderr: why it stopped, frames dropped, latency
    percentiles, the segments."""
    res = run("watch", clip, "--realtime", "-m", tiny_model)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    err = res.stderr
    labelled, skipped = map(int, re.search(r"60 frames, (\d+) windows labelled \((\d+) skipped\)", err).groups())
    assert labelled + skipped == 6 and labelled == len(lines) - 1  # all of them where the machine keeps up
    assert lines[0].split() == ["window", "label", "score", "current", "segment"]
    assert lines[1].split()[0] == "0:00.00-0:00.32"  # 8 frames on the model's 25 fps clock
    assert "end of file after" in err and "frames dropped" in err
    assert "label latency: p50 " in err and "p95 " in err and "segments (" in err


def test_watch_jsonl(clip, tiny_model):
    """--format jsonl: one JSON object per window, with the current segment, and nothing else on stdout. The
    segments' options are predict's: with no switch penalty the current segment is each window's own label."""
    args = ["--format", "jsonl", "-k", "3", "--switch-penalty", "0", "--min-segment", "0"]
    res = run("watch", clip, "--realtime", "-m", tiny_model, *args)
    assert res.exit_code == 0, res.output
    records = [json.loads(line) for line in res.stdout.splitlines()]
    windows = [r["window"] for r in records]
    assert records and windows == sorted(set(windows)) and windows[-1] <= 13
    assert all(len(r["top"]) == 3 and set(r["segment"]) == {"start_s", "end_s", "label", "score"} for r in records)
    assert all(r["segment"]["label"] == r["label"] == r["top"][0]["label"] for r in records)


def test_watch_dead_source_is_one_line_and_exit_1(tiny_model, tmp_path):
    """A stream nobody serves, or a missing file: one error line naming it, exit code 1, nothing on stdout."""
    for source, args in ((dead_url(), ["--timeout", "2"]), (tmp_path / "gone.mp4", ["--realtime"])):
        res = run("watch", source, "-m", tiny_model, *args)
        assert res.exit_code == 1, res.output
        assert res.stdout == "" and res.stderr.splitlines() == [res.stderr.strip()]
        assert res.stderr.startswith(f"error: {source}") and "Traceback" not in res.output


def test_watch_a_file_needs_realtime(clip, tiny_model):
    """A file without --realtime is a usage error (exit 2) saying what to give."""
    res = run("watch", clip, "-m", tiny_model)
    assert res.exit_code == 2 and "--realtime" in res.stderr


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_with_the_summary(tmp_path, tiny_model):
    """Ctrl-C (SIGINT) while watching: the lines so far stay, the summary comes on stderr ("interrupted after"),
    exit code 0, no traceback."""
    long_clip = write_cv2_video(tmp_path / "long.mp4", moving_square_frames(500, seed=7), 25.0, "mp4v")
    cmd = [sys.executable, "-m", "actionrec", "watch", str(long_clip), "--realtime", "-m", str(tiny_model)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        header = proc.stdout.readline()
        first = proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        lines = out.splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert header.startswith("window ") and first.split()[0] == "0:00.00-0:00.32", (header, first, err)
    assert proc.returncode == 0, err
    assert "interrupted after" in err and "label latency: p50" in err and "segments (" in err
    assert "Traceback" not in err and "500 frames" not in err and len(lines) < 500 // 12


@pytest.mark.slow
def test_shipped_model_on_the_sample_sequence_follows_the_actions():
    """The shipped model watching samples/sequence.mp4 in real time: its segments are the four actions of
    samples/sequence.json in order, each boundary within half a window of the truth."""
    truth = json.loads((ROOT / "samples" / "sequence.json").read_text())
    recognizer = load(None)
    spec = recognizer.meta.preprocessing
    half_window = ((spec.clip_len - 1) * spec.frame_step + 1) / truth["fps"] / 2
    with Watcher(recognizer, ROOT / "samples" / "sequence.mp4", LiveConfig(realtime=True)) as watcher:
        list(watcher.labels())
        found = watcher.segments()
    assert [s.label for s in found] == [s["label"] for s in truth["segments"]], found
    for seg, true in zip(found[1:], truth["segments"][1:], strict=True):
        assert abs(seg.start_s - true["start_frame"] / truth["fps"]) <= half_window, (seg, true)
