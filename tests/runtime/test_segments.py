"""Action segments of long videos: they tile the video, a single-action clip is one segment, the four-action sample
comes out as its script with boundaries within half a window, the video label is the longest-running action (not
a mean over unrelated ones), refined boundaries follow the windows on either side of a change and a window
straddling it starts the new segment, the online segmenter ends where the offline one does, every output format
carries the segments, the segmentation metrics match hand-computed cases, and the synth writes ground-truth
sequences whose actions last as long as in the benchmark's clips."""

from __future__ import annotations

import csv
import importlib.util
import inspect
import io
import itertools
import json
import sys

import cv2
import numpy as np
import pytest
from helpers import ROOT
from typer.testing import CliRunner

import actionrec
from actionrec.cli import app
from actionrec.runtime.aggregate import NO_ACTION, LabelScore, video_label
from actionrec.runtime.segment_metrics import (
    HitCounts,
    edit_score,
    frame_accuracy,
    frame_labels,
    hit_counts,
    runs,
    score_videos,
)
from actionrec.runtime.segments import OnlineSegmenter, Segment, SegmentConfig, segment
from actionrec.synth import (
    ACTIONS_PER_SEQUENCE,
    CLASSES,
    SAMPLE_CLIPS,
    SAMPLE_SEQUENCE,
    plan_sequence,
    read_truth,
    write_benchmark,
    write_sequences,
)
from actionrec.synth.actions import (
    IDLE_FRAMES,
    ONE_SHOT_FRAMES,
    PAIRS,
    REPEATED_FRAMES,
    WALK_DIRECTION,
    WALK_FRAMES,
)
from actionrec.synth.sequences import WALK_SPAN_FRAMES

SAMPLES = ROOT / "samples"
runner = CliRunner()


@pytest.fixture(scope="module")
def model():
    return actionrec.load(precision="fp32")


@pytest.fixture(scope="module")
def sequence_windows(model):
    """The four-action sample's windows: (probabilities (W, C), starts, ends, duration)."""
    probs, windows = model.window_probs(SAMPLES / "sequence.mp4")
    starts = np.array([w.start_s for w in windows])
    ends = np.array([w.end_s for w in windows])
    return probs, starts, ends, float(ends.max())


def half_window_s(model, fps: float) -> float:
    p = model.meta.preprocessing
    return ((p.clip_len - 1) * p.frame_step + 1) / fps / 2


def assert_tiles(segments: list[Segment], duration: float) -> None:
    assert segments and segments[0].start_s == 0.0 and segments[-1].end_s == pytest.approx(duration)
    for a, b in itertools.pairwise(segments):
        assert a.end_s == b.start_s and a.label != b.label
    assert all(s.end_s > s.start_s and 0.0 <= s.score <= 1.0 for s in segments)


# ---- segments of real video ----


@pytest.mark.parametrize(
    "config", [SegmentConfig(), SegmentConfig(0.0, 0.0), SegmentConfig(50.0, 3.0)], ids=["default", "raw", "strong"]
)
def test_segments_tile_the_video(model, sequence_windows, config):
    """Whatever the settings, segments run from 0 to the video's end in time order, back to back, neighbours
    differently labelled; each is scored with its label's mean probability over the windows whose centres it holds,
    and that label is the windows' top mean (the order the windows come in does not matter)."""
    probs, starts, ends, duration = sequence_windows
    segments = segment(probs, starts, ends, model.meta.labels, config, duration_s=duration)
    assert_tiles(segments, duration)
    centres = (starts + ends) / 2
    for s in segments:
        inside = probs[(centres >= s.start_s) & (centres < s.end_s)]
        mean = inside.mean(axis=0)
        assert s.label == model.meta.labels[int(mean.argmax())] and s.score == pytest.approx(mean.max())
    order = np.random.default_rng(0).permutation(len(probs))
    assert segment(probs[order], starts[order], ends[order], model.meta.labels, config, duration) == segments


def test_no_switch_penalty_gives_the_runs_of_window_labels(model, sequence_windows):
    """Switch penalty 0 and no minimum duration: one segment per run of equal window top labels, the boundary
    midway between the centres of the windows on either side."""
    probs, starts, ends, duration = sequence_windows
    segments = segment(probs, starts, ends, model.meta.labels, SegmentConfig(0.0, 0.0), duration_s=duration)
    top = [model.meta.labels[i] for i in probs.argmax(axis=1)]
    window_runs = runs(top)
    assert [s.label for s in segments] == [label for label, _, _ in window_runs]
    centres = (starts + ends) / 2
    for s, (_, first, _) in zip(segments[1:], window_runs[1:], strict=True):
        assert s.start_s == pytest.approx((centres[first - 1] + centres[first]) / 2)


@pytest.mark.parametrize("action", SAMPLE_CLIPS)
def test_single_action_clip_is_one_segment(model, action):
    """A short clip of one action is one segment of that action over the whole clip; the video label is it, with
    the score of the video ranking (the mean over the windows)."""
    result = model.predict(SAMPLES / f"{action}.mp4")
    assert [s.label for s in result.segments] == [action]
    assert_tiles(result.segments, result.duration_s)
    assert result.label == action == result.top[0].label
    assert result.score == pytest.approx(result.top[0].score)


def test_sample_sequence_segments_follow_the_script(model):
    """The four-action sample gives its scripted actions in order, each boundary within half a window of the
    scripted one."""
    truth = read_truth(SAMPLES / "sequence.json")
    result = model.predict(SAMPLES / "sequence.mp4")
    assert tuple(s.label for s in result.segments) == SAMPLE_SEQUENCE == tuple(t[0] for t in truth.segments)
    assert_tiles(result.segments, result.duration_s)
    tolerance = half_window_s(model, truth.fps)
    for s, (_, start, _) in zip(result.segments[1:], truth.segments[1:], strict=True):
        assert abs(s.start_s - start / truth.fps) <= tolerance, (s, start / truth.fps, tolerance)


def test_multi_action_video_label_is_the_longest_running_action(model):
    """The sample's label is the action its segments cover longest, scored by its mean probability over those
    segments, which is above its mean over the whole video (the old label: a near-tie diluted by the others)."""
    result = model.predict(SAMPLES / "sequence.mp4")
    time: dict[str, float] = {}
    for s in result.segments:
        time[s.label] = time.get(s.label, 0.0) + s.duration_s
    assert result.label == max(time, key=time.__getitem__)
    assert all(time[result.label] > t for label, t in time.items() if label != result.label)
    own = [s for s in result.segments if s.label == result.label]
    assert result.score == pytest.approx(sum(s.score * s.duration_s for s in own) / time[result.label])
    diluted = next(t.score for t in model.predict(SAMPLES / "sequence.mp4", top_k=16).top if t.label == result.label)
    assert result.score > diluted


def test_video_label_breaks_a_tie_in_time_by_score():
    """Two labels with the same time: the one with the higher score wins; no segments, no label."""
    segments = [Segment(0.0, 2.0, "a", 0.6), Segment(2.0, 3.0, "b", 0.9), Segment(3.0, 4.0, "b", 0.7)]
    assert video_label(segments) == LabelScore("b", pytest.approx(0.8))
    assert video_label([Segment(0.0, 2.5, "a", 0.6), *segments[1:]]).label == "a"
    assert video_label([]) is None


def test_video_label_is_the_action_shown_however_long_nothing_happens():
    """Someone jogging through an otherwise empty scene: the video is `run`, scored over the run alone, though
    no_action covers four times as long; two actions among idle stretches: the longer action; a video of no_action
    alone is `no_action`."""
    jog = [Segment(0.0, 4.0, NO_ACTION, 0.95), Segment(4.0, 6.0, "run", 0.7), Segment(6.0, 12.0, NO_ACTION, 0.9)]
    assert video_label(jog) == LabelScore("run", pytest.approx(0.7))
    both = [*jog, Segment(12.0, 13.0, "clap", 0.99), Segment(13.0, 20.0, NO_ACTION, 0.9)]
    assert video_label(both).label == "run"
    assert video_label([Segment(0.0, 5.0, NO_ACTION, 0.8)]) == LabelScore(NO_ACTION, pytest.approx(0.8))


def test_segments_of_hand_made_probabilities_keep_a_short_action_among_empty_stretches():
    """Window probabilities of a clip where a run of 2.5 s sits between 6 s and 8 s of nothing: the segments are
    no_action, run, no_action in that order, and the video's label is run."""
    labels = ("run", "walk_left", NO_ACTION)
    starts = np.arange(0.0, 16.0, 0.5)
    ends = starts + 1.0
    centres = (starts + ends) / 2
    running = (centres >= 6.0) & (centres < 8.5)
    probs = np.where(running[:, None], [0.85, 0.1, 0.05], [0.03, 0.02, 0.95])
    segments = segment(probs, starts, ends, labels)
    assert [s.label for s in segments] == [NO_ACTION, "run", NO_ACTION]
    assert video_label(segments).label == "run"


# ---- live input ----


def test_online_segmenter_ends_as_the_offline_one(model, sequence_windows):
    """Pushed one window at a time, the segmenter's final segments are `segment`'s; each push returns a current
    segment that ends at the newest window's end and starts at a window boundary, and the last one has the label
    the video ends with. The same first windows give the same answers, whatever comes after (causal)."""
    probs, starts, ends, _ = sequence_windows
    labels = model.meta.labels
    online = OnlineSegmenter(labels)
    current = [online.push(s, e, p) for s, e, p in zip(starts, ends, probs, strict=True)]
    offline = segment(probs, starts, ends, labels)
    assert online.segments() == offline and len(online) == len(probs)
    centres = (starts + ends) / 2
    boundaries = {0.0, *((centres[:-1] + centres[1:]) / 2)}
    for seg, end in zip(current, ends, strict=True):
        assert seg.end_s == end and any(seg.start_s == pytest.approx(b) for b in boundaries)
    assert current[-1].label == offline[-1].label
    k = len(probs) // 2
    other = OnlineSegmenter(labels)
    prefix = [other.push(s, e, p) for s, e, p in zip(starts[:k], ends[:k], probs[:k], strict=True)]
    assert prefix == current[:k]
    with pytest.raises(ValueError, match="time order"):
        other.push(0.0, 0.1, probs[0])


def test_segment_config_rejects_bad_values():
    """A negative penalty or duration, or a floor or refine floor outside (0, 1), is a ValueError naming it."""
    for kwargs, name in (({"switch_penalty": -1}, "switch_penalty"), ({"min_duration_s": -1}, "min_duration_s")):
        with pytest.raises(ValueError, match=name):
            SegmentConfig(**kwargs)
    with pytest.raises(ValueError, match="floor"):
        SegmentConfig(floor=0.0)
    with pytest.raises(ValueError, match="refine_floor"):
        SegmentConfig(refine_floor=0.0)


def _toy(rows: list[list[float]], config: SegmentConfig = SegmentConfig()) -> list[tuple[str, float, float]]:
    """Segments of labels A, B, X from one window a second (centres 0.5, 1.5, ...): (label, start, end)."""
    starts = np.arange(len(rows), dtype=np.float64)
    found = segment(np.array(rows), starts, starts + 1.0, ("A", "B", "X"), config)
    return [(s.label, s.start_s, s.end_s) for s in found]


A, B = [0.9, 0.05, 0.05], [0.05, 0.9, 0.05]


def test_refined_boundary_follows_the_windows_on_either_side():
    """A window leaning 0.6 / 0.35 to A, then one leaning 0.2 / 0.75 to B: log(A/B) falls from 0.54 to -1.32, so it
    crosses zero 0.29 of the way from the first centre (2.5 s) to the second, which refining rounds to 2/8: the
    boundary is at 2.75 s, not midway (3.0 s, as refine=False and a switch penalty of 0 place it)."""
    rows = [A, A, [0.6, 0.35, 0.05], [0.2, 0.75, 0.05], B, B]
    assert _toy(rows) == [("A", 0.0, 2.75), ("B", 2.75, 6.0)]
    assert _toy(rows, SegmentConfig(refine=False)) == [("A", 0.0, 3.0), ("B", 3.0, 6.0)]
    assert _toy(rows, SegmentConfig(0.0, 0.0)) == [("A", 0.0, 3.0), ("B", 3.0, 6.0)]


def test_refining_reads_probabilities_below_the_viterbi_floor():
    """Sure windows either side (A 0.9 / B 1e-4, then A 1e-3 / B 0.9): log(A/B) falls from 9.1 to -6.8 and crosses zero
    0.57 of the way, rounded to 5/8: the boundary is at 3.125 s. Read through `floor` (0.01), both windows would be
    equally sure and the boundary midway (3.0 s)."""
    rows = [A, A, [0.9, 1e-4, 0.0999], [1e-3, 0.9, 0.099], B, B]
    assert _toy(rows) == [("A", 0.0, 3.125), ("B", 3.125, 6.0)]
    assert _toy(rows, SegmentConfig(refine_floor=0.01)) == [("A", 0.0, 3.0), ("B", 3.0, 6.0)]


def test_a_window_straddling_the_change_starts_the_new_segment_at_its_centre():
    """A window that looks like neither action (X 0.9, A 0.06, B 0.04) between A and B is where the label changes:
    with the boundary floor it starts B's segment, which begins at its centre (it still leans to A); without, it
    becomes a segment of its own."""
    rows = [A, A, A, [0.06, 0.04, 0.9], B, B, B]
    assert _toy(rows) == [("A", 0.0, 3.5), ("B", 3.5, 7.0)]
    assert _toy(rows, SegmentConfig(boundary_floor=0.0)) == [("A", 0.0, 3.0), ("X", 3.0, 4.0), ("B", 4.0, 7.0)]
    with pytest.raises(ValueError, match="boundary_floor"):
        SegmentConfig(boundary_floor=1.0)


# ---- output formats ----


def _predict(*args: str):
    res = runner.invoke(app, ["predict", str(SAMPLES / "sequence.mp4"), *args])
    assert res.exit_code == 0, res.output
    return res.stdout


def test_json_and_jsonl_carry_the_segments(model):
    """JSON and JSON Lines results hold the same `segments`, [{start_s, end_s, label, score}]: the Python API's
    (scores within the back ends' rounding); the video label is one of them."""
    expected = [
        {"start_s": round(s.start_s, 6), "end_s": round(s.end_s, 6), "label": s.label, "score": round(s.score, 6)}
        for s in model.predict(SAMPLES / "sequence.mp4").segments
    ]
    doc = json.loads(_predict("--format", "json"))["videos"][0]
    line = json.loads(_predict("--format", "jsonl").splitlines()[0])
    assert doc["segments"] == line["segments"]
    for video in (doc, line):
        assert [{k: s[k] for k in ("start_s", "end_s", "label")} for s in video["segments"]] == [
            {k: s[k] for k in ("start_s", "end_s", "label")} for s in expected
        ]
        assert [s["score"] for s in video["segments"]] == pytest.approx([s["score"] for s in expected], abs=0.01)
        assert video["label"] in {s["label"] for s in video["segments"]}


def test_csv_and_table_carry_the_segments():
    """CSV has a row per segment (kind "segment", no rank) after the window rows, then the video's row; the table a
    "segments (N):" block with a "m:ss.ss-m:ss.ss  label score" line per segment, above the video's line."""
    doc = json.loads(_predict("--format", "json"))["videos"][0]
    rows = list(csv.reader(io.StringIO(_predict("--format", "csv"))))
    kind = rows[0].index("kind")
    seg_rows = [r for r in rows[1:] if r[kind] == "segment"]
    assert [(float(r[1]), float(r[2]), r[3], r[4]) for r in seg_rows] == [
        (pytest.approx(s["start_s"], abs=1e-3), pytest.approx(s["end_s"], abs=1e-3), "", s["label"])
        for s in doc["segments"]
    ]
    assert rows[-len(seg_rows) - 1 : -1] == seg_rows and rows[-1][kind] == "video"
    lines = _predict().splitlines()
    block = lines.index(f"segments ({len(doc['segments'])}):")
    for line, s in zip(lines[block + 1 :], doc["segments"], strict=False):
        assert line.split() == [line.split()[0], s["label"], f"{s['score']:.2f}"]
        start, end = line.split()[0].split("-")
        assert start.count(":") == end.count(":") == 1
    assert lines[block + 1 + len(doc["segments"])].startswith("video: ")


def test_cli_segment_options():
    """--switch-penalty 0 --min-segment 0 gives more segments than the defaults, which --help shows."""
    default = json.loads(_predict("--format", "json"))["videos"][0]["segments"]
    raw = json.loads(_predict("--format", "json", "--switch-penalty", "0", "--min-segment", "0"))["videos"][0]
    assert len(raw["segments"]) > len(default)
    help_text = " ".join(runner.invoke(app, ["predict", "--help"]).stdout.split())
    assert "--switch-penalty" in help_text and f"default: {SegmentConfig().switch_penalty};" in help_text
    assert "--min-segment SECONDS" in help_text and f"default: {SegmentConfig().min_duration_s};" in help_text


# ---- metrics, on hand-computed cases ----

TRUTH = list("AAAABBBB")


def test_metrics_on_a_late_boundary():
    """Truth AAAABBBB, predicted AAABBBBB: 7/8 frames; the same segment order (edit 1); IoUs 3/4 and 4/5, so
    F1 is 1 up to overlap 0.75 and 0.5 at 0.8 (one hit, one false positive, one miss)."""
    pred = list("AAABBBBB")
    assert frame_accuracy(pred, TRUTH) == 7 / 8
    assert edit_score(pred, TRUTH) == 1.0
    assert hit_counts(pred, TRUTH, 0.5) == HitCounts(2, 0, 0) and hit_counts(pred, TRUTH, 0.75).f1 == 1.0
    assert hit_counts(pred, TRUTH, 0.8) == HitCounts(1, 1, 1) and hit_counts(pred, TRUTH, 0.8).f1 == 0.5


def test_metrics_on_over_segmentation():
    """Predicted AABAABBB: 6/8 frames; segments ABAB against AB, two edits over four (0.5); at overlap 0.5 the
    first A (IoU 1/2) and the last B (3/4) hit, the short B and the second A (its true segment taken) are false
    positives: F1 2/3; at 0.75 only the B hits: F1 1/3."""
    pred = list("AABAABBB")
    assert runs(pred) == [("A", 0, 2), ("B", 2, 3), ("A", 3, 5), ("B", 5, 8)]
    assert frame_accuracy(pred, TRUTH) == 6 / 8
    assert edit_score(pred, TRUTH) == 0.5
    assert hit_counts(pred, TRUTH, 0.1) == hit_counts(pred, TRUTH, 0.5) == HitCounts(2, 2, 0)
    assert hit_counts(pred, TRUTH, 0.5).f1 == pytest.approx(2 / 3)
    assert hit_counts(pred, TRUTH, 0.75) == HitCounts(1, 3, 1) and hit_counts(pred, TRUTH, 0.75).f1 == 1 / 3


def test_scores_pool_frames_and_hits_over_videos():
    """Over both cases: 13 of 16 frames, the mean edit (1 + 0.5) / 2, and F1@50 from the summed hits (4 tp, 2 fp,
    0 fn: 0.8), not the mean of the videos' F1."""
    scores = score_videos([(list("AAABBBBB"), TRUTH), (list("AABAABBB"), TRUTH)], overlaps=(0.5,))
    assert (scores.videos, scores.frames) == (2, 16)
    assert scores.frame_accuracy == 13 / 16 and scores.edit == 0.75 and scores.f1 == {0.5: 0.8}


def test_frame_labels_sample_segments_at_frame_centres():
    """At 10 fps, segments [0, 0.1) a and [0.1, 0.35) b label frames 0 (centre 0.05) a and 1-2 b; frames past the
    last segment's end take its label."""
    segments = [Segment(0.0, 0.1, "a", 1.0), Segment(0.1, 0.35, "b", 1.0)]
    assert frame_labels(segments, 5, 10.0) == ["a", "b", "b", "b", "b"]


# ---- ground-truth sequences ----


def test_sequence_plans_vary_and_use_held_out_actors():
    """24 planned sequences: 3-6 actions each (no_action stretches not counted), none twice in a row, of several
    lengths, all 24 held-out actors of the shipped model's benchmark (groups 1-24 of 120) in turn; the same seed plans
    the same, another differs."""
    plans = [plan_sequence(i) for i in range(24)]
    lo, hi = ACTIONS_PER_SEQUENCE
    counts = [sum(a != NO_ACTION for a in p.actions) for p in plans]
    assert all(lo <= n <= hi for n in counts) and all(set(p.actions) <= set(CLASSES) for p in plans)
    assert all(a != b for p in plans for a, b in zip(p.actions, p.actions[1:], strict=False))
    assert len(set(counts)) >= 3 and len({p.frames for p in plans}) >= 12
    assert sorted(p.actor_group for p in plans) == list(range(1, 25))
    assert plans == [plan_sequence(i, seed=0) for i in range(24)]
    assert plans != [plan_sequence(i, seed=1) for i in range(24)]


def test_sequence_actions_last_as_long_as_in_the_benchmark_clips():
    """Over 72 planned sequences: a one-shot action (sit down, stand up, raise or lower arms) lasts a benchmark
    clip (write_benchmark's frames), so it moves at the clips' speed; the other actions but walks run 64-128 frames;
    walks last at most a clip and all of a sequence's walks together span at most one clip's walk, so the camera
    never has to follow; stand up comes only right after sit down, lower arms right after raise arms; every class
    appears."""
    plans = [plan_sequence(i, seed=seed) for seed in range(3) for i in range(24)]
    assert (inspect.signature(write_benchmark).parameters["frames"].default,) * 2 == ONE_SHOT_FRAMES
    one_shot = {"sit_down", "stand_up", "raise_arms_side", "lower_arms_side", "raise_arms_front", "lower_arms_front"}
    for plan in plans:
        assert len(plan.action_frames) == len(plan.actions) and plan.frames == sum(plan.action_frames)
        at = lo = hi = 0
        for k, (action, n) in enumerate(zip(plan.actions, plan.action_frames, strict=True)):
            if action in one_shot:
                assert ONE_SHOT_FRAMES[0] <= n <= ONE_SHOT_FRAMES[1]
            elif action in WALK_DIRECTION:
                assert WALK_FRAMES[0] <= n <= WALK_FRAMES[1]
                at += WALK_DIRECTION[action] * n
                lo, hi = min(lo, at), max(hi, at)
            elif action == NO_ACTION:
                assert IDLE_FRAMES[0] <= n <= IDLE_FRAMES[1]
            else:
                assert REPEATED_FRAMES[0] <= n <= REPEATED_FRAMES[1]
            for first, second in PAIRS.items():
                if action == first:
                    assert plan.actions[k + 1] == second
                if action == second:
                    assert k > 0 and plan.actions[k - 1] == first
        assert hi - lo <= WALK_SPAN_FRAMES
    assert {a for p in plans for a in p.actions} == set(CLASSES)


def test_written_sequences_have_per_frame_truth(tmp_path):
    """write_sequences writes seqNN.avi and its truth: segments back to back from frame 0 in the planned order,
    each as long as planned, ending at the video's last frame."""
    videos = write_sequences(tmp_path, 2, seed=5, size=(64, 64))
    assert [v.name for v in videos] == ["seq01.avi", "seq02.avi"]
    for i, video in enumerate(videos):
        truth = read_truth(video.with_suffix(".json"))
        plan = plan_sequence(i, seed=5)
        assert tuple(t[0] for t in truth.segments) == plan.actions
        assert tuple(e - s for _, s, e in truth.segments) == plan.action_frames
        cap = cv2.VideoCapture(str(video))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == truth.frames == len(truth.frame_labels())
        cap.release()


@pytest.mark.slow
def test_bench_segments_runs_on_written_sequences(tmp_path, capsys):
    """bench_segments.py on two written sequences (no_action stretches included) prints the CPU header and a row
    each for raw windows and the default segments, and writes its JSON, where a boundary found with its labels right
    is also placed in time; the bound row places every boundary when the model knows no_action, the others too when
    it does not."""
    from actionrec.runtime.pipeline import load

    spec = importlib.util.spec_from_file_location("bench_segments", ROOT / "bench" / "bench_segments.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses look their module up while the class is built
    spec.loader.exec_module(bench)
    write_sequences(tmp_path / "seq", 2, seed=7, size=(64, 64))
    assert bench.main(["--data", str(tmp_path / "seq"), "--quick", "--out", str(tmp_path / "out.json")]) == 0
    out = capsys.readouterr().out
    assert "CPUs" in out.splitlines()[0]
    assert "| raw windows (top label each) |" in out
    assert f"| segments (switch penalty {SegmentConfig().switch_penalty:g}," in out
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["sequences"] == 2 and result["rows"][0]["method"].startswith("raw windows")
    # a boundary found with the right labels is also placed in time; the bound row places every one it can name
    assert all(0 <= r["boundaries_found"] <= r["boundaries_placed"] <= 1 for r in result["rows"])
    truths = [read_truth(p) for p in sorted((tmp_path / "seq").glob("*.json"))]
    knows = NO_ACTION in load(None).meta.labels
    nameable = [knows or NO_ACTION not in (a[0], b[0]) for t in truths for a, b in itertools.pairwise(t.segments)]
    assert any(not n for n in nameable) or knows  # the sequences hold no_action stretches
    assert result["rows"][-1]["boundaries_placed"] >= sum(nameable) / len(nameable)


# ---- no_action shown like any label, set apart ----


def test_no_action_is_reported_dim_in_the_table_and_actions_bold():
    """The table shows no_action like any label (window cells, segment lines, the video line, the summary row) but
    dim, so the actions stand out in bold; a video that shows nothing is labelled no_action, dim too."""
    from actionrec.io.output import segment_lines, summary_table, video_table
    from actionrec.runtime.aggregate import VideoResult, WindowResult

    def styles(text) -> dict[str, str]:
        return {text.plain[s.start : s.end]: str(s.style) for s in text.spans}

    segments = [Segment(0.0, 4.0, NO_ACTION, 0.95), Segment(4.0, 6.0, "run", 0.7), Segment(6.0, 12.0, NO_ACTION, 0.9)]
    windows = [WindowResult(0.0, 1.0, [LabelScore(NO_ACTION, 0.9), LabelScore("run", 0.1)])]
    label = video_label(segments)
    result = VideoResult("jog.mp4", 300, 25.0, 12.0, label.label, label.score, [label], segments, windows)
    lines = styles(segment_lines(result))
    assert lines[NO_ACTION] == "dim" and lines["run"] == "bold"
    _, table, _, caption = video_table(result).renderables
    cell = table.columns[3]._cells[0]
    assert styles(cell)[NO_ACTION] == "dim" and styles(caption)["run"] == "bold"
    idle = VideoResult("empty.mp4", 100, 25.0, 4.0, NO_ACTION, 0.9, [], [Segment(0.0, 4.0, NO_ACTION, 0.9)])
    rows = summary_table([result, idle]).columns[2]._cells
    assert [r.plain for r in rows] == ["run", NO_ACTION] and [str(r.style) for r in rows] == ["", "dim"]


def test_rendered_video_shows_no_action_in_a_neutral_grey(tmp_path):
    """predict --render on a shipped sample with a no_action stretch then an action: the header's swatch and the
    timeline are neutral grey over the no_action stretch (whatever its place among the labels) and the action's
    palette colour over the action; the header names no_action."""
    from actionrec.io.annotated_video import NO_ACTION_COLOUR, PALETTE, _pad, label_colour, layout, render_video

    video = SAMPLES / "walk_left.mp4"
    cap = cv2.VideoCapture(str(video))
    n, w, h = (int(cap.get(p)) for p in (cv2.CAP_PROP_FRAME_COUNT, cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    half = n / 25.0 / 2
    segments = [Segment(0.0, half, NO_ACTION, 0.9), Segment(half, 2 * half, "walk_left", 0.8)]
    labels = ("walk_left", NO_ACTION)
    out = tmp_path / "out.avi"
    render_video(video, segments, out, labels=labels)
    assert label_colour(NO_ACTION, labels) == label_colour(NO_ACTION, ()) == NO_ACTION_COLOUR
    assert NO_ACTION_COLOUR not in PALETTE and len(set(NO_ACTION_COLOUR)) == 1
    lay = layout(w, h)
    pad = _pad(lay.text_scale)
    swatch = (lay.header_h // 2, pad + (lay.header_h - 2 * pad) // 2)
    timeline_y = lay.timeline_box[3] - 2  # under the label names written on the bars
    cap = cv2.VideoCapture(str(out))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    assert len(frames) == n
    first, last = frames[0], frames[-1]
    assert np.abs(first[swatch].astype(int) - NO_ACTION_COLOUR).max() <= 12
    assert np.abs(last[swatch].astype(int) - PALETTE[0]).max() <= 12
    assert np.abs(last[timeline_y, lay.width // 4].astype(int) - NO_ACTION_COLOUR).max() <= 12
    assert np.abs(first[timeline_y, 3 * lay.width // 4].astype(int) - PALETTE[0]).max() <= 12
