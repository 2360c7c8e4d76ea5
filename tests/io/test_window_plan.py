"""The one window planner (`io.window_plan.WindowPlan`): starts, sampled frames, the causal grid, and that decoding,
the clip Dataset and watch all follow it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from actionrec.data import ClipDataset, VideoItem
from actionrec.io.video import iter_windows, read_all
from actionrec.io.window_plan import WindowPlan
from actionrec.model_meta import Preprocessing
from actionrec.runtime.live import WindowAssembler
from actionrec.transforms import frame_resizer, preprocess

PLANS = [WindowPlan(4, 2, 3), WindowPlan(8, 1, 4), WindowPlan(16, 1, 5), WindowPlan(8, 6, 24), WindowPlan(3, 4, 8)]


def sampled_set(plan: WindowPlan, n: int) -> set[int]:
    return {i for s in plan.starts(n) for i in plan.indices(n, s)}


@pytest.mark.parametrize("plan", PLANS, ids=str)
def test_a_short_video_has_one_looped_window(plan):
    """A video shorter than one window has one window, at 0, and it samples frame_step apart from frame 0, going
    round the video's frames; every evenly spaced count also gives one window there."""
    for n in range(1, plan.span):
        assert plan.starts(n) == [0]
        assert plan.spread(n, 5) == [0] and plan.spread(n, 1) == [0]
        got = plan.indices(n, 0)
        assert len(got) == plan.clip_len and all(0 <= i < n for i in got)
        assert all((b - a) % n == plan.frame_step % n for a, b in itertools.pairwise(got))


@pytest.mark.parametrize("plan", PLANS, ids=str)
def test_an_exact_fit_gets_no_extra_tail_window(plan):
    """When the stride grid ends on the video's last frame, the windows are exactly the grid: stride apart, the last
    one ending on the last frame, no extra window."""
    for k in range(4):
        n = plan.span + k * plan.stride
        starts = plan.starts(n)
        assert starts == list(range(0, k * plan.stride + 1, plan.stride))
        assert plan.indices(n, starts[-1])[-1] == n - 1


@pytest.mark.parametrize("plan", PLANS, ids=str)
def test_a_tail_the_grid_misses_gets_one_end_aligned_window(plan):
    """Otherwise one more window is aligned to the end: every frame of the video lies inside some window, windows
    start at most `stride` apart, and each one samples `clip_len` frames inside the video."""
    for n in range(plan.span + 1, plan.span + 3 * plan.stride + 2):
        starts = plan.starts(n)
        grid = list(range(0, n - plan.span + 1, plan.stride))
        assert starts[: len(grid)] == grid
        assert starts[-1] == n - plan.span and len(starts) == len(grid) + ((n - plan.span) % plan.stride != 0)
        assert all(0 < b - a <= plan.stride for a, b in itertools.pairwise(starts))
        assert set().union(*(range(s, s + plan.span) for s in starts)) == set(range(n))
        for s in starts:
            got = plan.indices(n, s)
            assert len(got) == plan.clip_len and got[0] >= 0 and got[-1] < n
            assert all(plan.samples(s, i) for i in got)


@pytest.mark.parametrize("plan", PLANS, ids=str)
def test_an_evenly_spaced_count_runs_from_the_start_to_the_end(plan):
    """`spread(n, count)`: `count` starts (fewer only if they would coincide), the first at 0, the last at the end,
    gaps equal to within one frame; one window: the middle one."""
    for n in (plan.span, plan.span + 7, plan.span + 100):
        for count in (2, 3, 5, 10):
            starts = plan.spread(n, count)
            assert starts[0] == 0 and starts[-1] == n - plan.span == plan.last_start(n)
            assert len(starts) == min(count, n - plan.span + 1)
            gaps = np.diff(starts)
            assert (gaps > 0).all() and (len(gaps) < 2 or gaps.max() - gaps.min() <= 1)
        assert plan.spread(n, 1) == [(n - plan.span) // 2]


@pytest.mark.parametrize("plan", PLANS, ids=str)
def test_the_live_grid_samples_what_the_offline_plan_samples(plan):
    """Watch's causal grid (`WindowAssembler.needed`) asks for exactly the frames the offline plan of a video
    samples, up to where that video's grid ends (later frames belong to windows a live stream still has ahead);
    and the windows it assembles are the offline plan's windows, frame for frame."""
    spec = Preprocessing(clip_len=plan.clip_len, frame_step=plan.frame_step, resize=8, crop=8)
    assembler = WindowAssembler(spec, stride=plan.stride)
    n = plan.span + 6 * plan.stride  # an exact fit: the offline windows are the causal grid's
    offline = sampled_set(plan, n)
    settled = n - plan.span + plan.stride  # past here, causal windows that this video does not have begin
    assert {i for i in range(settled) if assembler.needed(i)} == {i for i in offline if i < settled}
    assert all(assembler.needed(i) for i in offline)
    done = []
    for i in range(n):
        frame = np.full((1, 1, 3), i, np.uint8) if assembler.needed(i) else None
        window = assembler.push(i, i / 25, frame, arrived=0.0)
        if window is not None:
            done.append(window)
    assert [w.start_frame for w in done] == plan.starts(n)
    for w in done:
        assert w.frames[:, 0, 0, 0].tolist() == plan.indices(n, w.start_frame)


def test_a_plan_refuses_a_stride_below_one():
    """A stride, clip length or frame step below 1 is refused (a ValueError), not looped over forever."""
    with pytest.raises(ValueError, match="stride"):
        WindowPlan(8, 1, 0)
    with pytest.raises(ValueError, match="clip_len"):
        WindowPlan(0, 1, 4)
    assert WindowPlan.of(8, 2).stride == Preprocessing(clip_len=8, frame_step=2, crop=8).stride


@pytest.mark.parametrize(("kind", "clip_len", "frame_step", "stride"), [("mp4", 8, 2, 6), ("short", 4, 2, 2)])
def test_decoded_windows_are_the_plans_windows(videos, kind, clip_len, frame_step, stride):
    """On a real video (60 frames, and a 5-frame one that is looped) `iter_windows` yields the plan's windows:
    its starts, and in each the decoded frames at the plan's indices."""
    plan = WindowPlan(clip_len, frame_step, stride)
    frames = read_all(videos[kind])
    n = len(frames)
    windows = list(iter_windows(videos[kind], clip_len=clip_len, frame_step=frame_step, stride=stride))
    assert [w.start_frame for w in windows] == plan.starts(n)
    for w in windows:
        assert np.array_equal(w.frames, frames[plan.indices(n, w.start_frame)])
    spread = list(iter_windows(videos[kind], clip_len=clip_len, frame_step=frame_step, num_windows=3))
    assert [w.start_frame for w in spread] == plan.spread(n, 3)


def test_validation_clips_are_the_plans_evenly_spaced_windows(videos):
    """The clip Dataset's validation clips of a real video are its evenly spaced windows: clip k of the video is
    the (centre-cropped) window at `spread(n, K)[k]`, the frames the plan samples."""
    spec = Preprocessing(clip_len=4, frame_step=3, resize=32, crop=32, resize_to=(32, 32))
    plan = WindowPlan.for_spec(spec)
    frames = read_all(videos["mp4"], frame_resizer(spec), spec.fps)
    n = len(frames)
    data = ClipDataset([VideoItem(videos["mp4"], 0, "a")], spec, train=False, clips_per_video=3)
    for k, start in enumerate(plan.spread(n, 3)):
        assert np.array_equal(data.clip_array(k), preprocess(frames[plan.indices(n, start)], spec)[0])
