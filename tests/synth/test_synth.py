"""Tests for the synthetic action benchmark: determinism, UCF-101 layout, motion-only pairs, actor boxes."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from actionrec import synth

SIZE = (64, 64)
FRAMES = 16
PLAIN = synth.SynthConfig.plain()
# Plain background but the camera still pans, zooms, shakes and rolls: boxes must follow the camera.
MOVING_CAMERA = synth.SynthConfig(
    textured=False, distractors=(0, 0), gain=(1.0, 1.0), tint=0.0, flicker=0.0, illumination=0.0,
    noise=(0.0, 0.0), blur=(0.0, 0.0), pan=0.2, shake=0.03, figure_height=(0.5, 0.95), light_side=0.0,
    background_blur=(0.0, 0.0), grey=0.0, low_res=(1.0, 1.0), compression=0.0,
)  # fmt: skip


def _derived(kind: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in synth.MOTION_PAIRS if synth.ACTIONS[b].derive == kind]


def _read_frames(path: Path) -> tuple[int, int, int, int]:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    decoded, shape = 0, None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        decoded, shape = decoded + 1, frame.shape
    cap.release()
    assert shape is not None, path
    return reported, decoded, shape[1], shape[0]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, synth.BenchmarkSummary, list]:
    out = tmp_path_factory.mktemp("bench")
    calls: list[tuple[int, int]] = []
    summary = synth.write_benchmark(
        out, clips_per_class=2, seed=3, size=SIZE, frames=FRAMES, progress=lambda d, t: calls.append((d, t))
    )
    return out, summary, calls


def test_class_list_and_motion_pairs() -> None:
    """At least 12 snake_case classes, and at least 3 motion pairs, mirrored and reversed, made of them."""
    assert len(synth.CLASSES) >= 12
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", c) for c in synth.CLASSES)
    assert len(synth.MOTION_PAIRS) >= 3
    assert {c for pair in synth.MOTION_PAIRS for c in pair} <= set(synth.CLASSES)
    assert _derived("mirror") and _derived("reverse")


def test_render_clip_is_deterministic_in_the_seed() -> None:
    """The same seed gives byte-identical frames and boxes, as does a like-seeded rng; a new seed differs."""
    a, box_a = synth.render_clip("jumping_jack", seed=11, size=SIZE, frames=FRAMES)
    b, box_b = synth.render_clip("jumping_jack", rng=np.random.default_rng(11), size=SIZE, frames=FRAMES)
    c, _ = synth.render_clip("jumping_jack", seed=12, size=SIZE, frames=FRAMES)
    assert a.shape == (FRAMES, SIZE[1], SIZE[0], 3) and a.dtype == np.uint8
    assert box_a.shape == (FRAMES, 4)
    assert a.tobytes() == b.tobytes() and np.array_equal(box_a, box_b)
    assert not np.array_equal(a, c)


@pytest.mark.slow
def test_benchmark_clip_does_not_depend_on_generation_order(bench) -> None:
    """A clip re-rendered alone from its (seed, class, group, clip) matches the one write_benchmark wrote: a plain
    clip with render_clip, a training clip drawn as a transition with render_transition (both kinds occur)."""
    out, _, _ = bench
    group, clip = 2, 1  # the training actor of a 2-clip benchmark
    kinds = set()
    for action in synth.CLASSES:
        transition = synth.is_transition_clip(3, action, group, clip)
        kinds.add(transition)
        render = synth.render_transition if transition else synth.render_clip
        frames, boxes = render(
            action,
            rng=synth.clip_rng(3, action, group, clip),
            size=SIZE,
            frames=FRAMES,
            actor=synth.make_actor(group, 3),
        )
        meta = json.loads((out / action / f"v_{action}_g{group:02d}_c{clip:02d}.json").read_text())
        assert np.allclose(meta["boxes"], boxes)
        cap = cv2.VideoCapture(str(out / action / f"v_{action}_g{group:02d}_c{clip:02d}.avi"))
        ok, first = cap.read()
        cap.release()
        assert ok and np.abs(first[:, :, ::-1].astype(int) - frames[0]).mean() < 12  # equal up to JPEG loss
    assert kinds == {True, False}


def test_transition_clip_is_a_window_over_a_change_with_its_action_in_the_middle() -> None:
    """A transition clip is cut from two actions in a row at their natural lengths: the other action takes 4 to
    21 of 48 frames, before or after, and the clip's own action holds the middle frame; pairs keep their order as in
    sequences (stand up only after sit down, sit down only before stand up); the clip has the asked size."""
    from actionrec.synth.actions import PAIRS
    from actionrec.synth.renderer import transition_plan

    sides = set()
    for action in synth.CLASSES:
        for i in range(60):
            actions, lengths, start = transition_plan(action, 48, np.random.default_rng(i))
            assert action in actions and len(set(actions)) == 2 and start >= 0 and start + 48 <= sum(lengths)
            first, second = actions
            assert (first not in PAIRS or PAIRS[first] == second) and (
                second not in PAIRS.values() or PAIRS.get(first) == second
            )
            own_first = first == action
            assert (start + 24 < lengths[0]) == own_first
            assert 4 <= (start + 48 - lengths[0] if own_first else lengths[0] - start) <= 21
            sides.add(own_first)
    assert sides == {True, False}
    frames, boxes = synth.render_transition("stand_up", seed=3, size=SIZE, frames=FRAMES)
    assert frames.shape == (FRAMES, SIZE[1], SIZE[0], 3) and boxes.shape == (FRAMES, 4)
    assert not synth.is_transition_clip(0, "clap", 5, 1, synth.SynthConfig.plain())


def test_benchmark_split_files_follow_ucf101(bench) -> None:
    """classInd, trainlist01 and testlist01 parse in the official formats; every listed clip reopens with
    the right frame count and size and has a box per frame; the split is by actor, every class in both."""
    out, summary, calls = bench
    ind = [line.split(" ") for line in (out / "classInd.txt").read_text().splitlines()]
    assert [int(i) for i, _ in ind] == list(range(1, len(ind) + 1))
    names = {int(i): name for i, name in ind}
    assert tuple(names.values()) == summary.classes == synth.CLASSES

    train = [line.split(" ") for line in (out / "trainlist01.txt").read_text().splitlines()]
    test = (out / "testlist01.txt").read_text().splitlines()
    assert all(len(parts) == 2 for parts in train) and all(" " not in line for line in test)
    assert (len(train), len(test)) == (summary.n_train, summary.n_test)
    assert len(train) + len(test) == 2 * len(synth.CLASSES)
    pattern = re.compile(r"([a-z_]+)/v_([a-z_]+)_g(\d\d)_c(\d\d)\.avi")
    groups: dict[str, set[int]] = {"train": set(), "test": set()}
    classes: dict[str, set[str]] = {"train": set(), "test": set()}
    for split, rel, label in [("train", p, int(lab)) for p, lab in train] + [("test", p, 0) for p in test]:
        m = pattern.fullmatch(rel)
        assert m and m.group(1) == m.group(2), rel
        if split == "train":
            assert names[label] == m.group(1)
        groups[split].add(int(m.group(3)))
        classes[split].add(m.group(1))
        assert _read_frames(out / rel) == (FRAMES, FRAMES, *SIZE)
        meta = json.loads((out / rel).with_suffix(".json").read_text())
        assert (meta["width"], meta["height"], meta["fps"]) == (*SIZE, 25.0)
        assert len(meta["boxes"]) == FRAMES and all(len(b) == 4 for b in meta["boxes"])
    assert groups["train"] and groups["test"] and not groups["train"] & groups["test"]
    assert classes["train"] == classes["test"] == set(synth.CLASSES)
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary files left behind
    assert calls[-1] == (len(synth.CLASSES) * 2, len(synth.CLASSES) * 2) and len(calls) == calls[-1][1]


@pytest.mark.slow
def test_benchmark_is_deterministic(bench, tmp_path: Path) -> None:
    """Writing again with the same seed gives identical split files and identical clip bytes."""
    out, _, _ = bench
    again = synth.write_benchmark(tmp_path, clips_per_class=2, seed=3, size=SIZE, frames=FRAMES)
    for name in ("classInd.txt", "trainlist01.txt", "testlist01.txt"):
        assert (out / name).read_bytes() == (again.out / name).read_bytes()
    for rel in ("sit_down/v_sit_down_g01_c01.avi", "wave_one_hand/v_wave_one_hand_g02_c01.json"):
        assert (out / rel).read_bytes() == (tmp_path / rel).read_bytes()


def test_split_is_by_actor_and_about_a_fifth_is_test() -> None:
    """Groups are actors: the same group is the same actor everywhere; ~20% of groups are held out."""
    assert synth.make_actor(4, 0) == synth.make_actor(4, 0) != synth.make_actor(5, 0)
    n_groups, n_test = synth.benchmark_groups(40)
    assert 1 <= n_test < n_groups and abs(n_test / n_groups - 0.2) <= 0.05
    assert synth.benchmark_groups(240) == (240, 48)  # many actors: clothes can't stand in for actions
    assert synth.benchmark_groups(400) == (240, 48)
    with pytest.raises(ValueError):
        synth.benchmark_groups(1)


@pytest.mark.parametrize("pair", _derived("reverse"))
def test_time_reversed_pairs_are_the_same_frames_backwards(pair: tuple[str, str]) -> None:
    """With the same rng the second class is exactly the first played backwards, so the frame sets match;
    the first is not its own reverse, so only the direction of time tells them apart."""
    forward, backward = pair
    a, box_a = synth.render_clip(forward, seed=8, size=SIZE, frames=FRAMES, config=PLAIN)
    b, box_b = synth.render_clip(backward, seed=8, size=SIZE, frames=FRAMES, config=PLAIN)
    assert np.array_equal(a[::-1], b) and np.array_equal(box_a[::-1], box_b)
    assert np.abs(a.astype(int) - a[::-1]).mean() > 0.5
    rng_a, rng_b = np.random.default_rng(2), np.random.default_rng(2)
    track_a = synth.action_track(forward, FRAMES, 25.0, rng_a, x_range=0.5)
    assert np.allclose(synth.action_track(backward, FRAMES, 25.0, rng_b, x_range=0.5), track_a[::-1])


@pytest.mark.parametrize("pair", _derived("mirror"))
def test_mirrored_pairs_differ_only_in_direction(pair: tuple[str, str]) -> None:
    """The second class renders as the first mirrored left-right (the same pose set, mirrored), and the two
    move in opposite directions: the first to the image left as its name says."""
    first, second = pair
    a, box_a = synth.render_clip(first, seed=4, size=SIZE, frames=FRAMES, config=PLAIN)
    b, box_b = synth.render_clip(second, seed=4, size=SIZE, frames=FRAMES, config=PLAIN)
    w = SIZE[0]
    mirrored = np.stack([w - box_a[:, 2], box_a[:, 1], w - box_a[:, 0], box_a[:, 3]], axis=1)
    assert np.abs(mirrored - box_b).max() <= 1.0  # anti-aliasing rounds half a pixel differently
    assert np.abs(a[:, :, ::-1].astype(int) - b).mean() < 1.0
    x_a, x_b = box_a[:, [0, 2]].mean(axis=1), box_b[:, [0, 2]].mean(axis=1)
    assert x_a[-1] - x_a[0] < -0.1 * w and x_b[-1] - x_b[0] > 0.1 * w
    assert "left" in first and "right" in second


@pytest.mark.parametrize("action", ["walk_right", "jumping_jack", "kick", "wave_both_hands", "bend"])
def test_boxes_hold_the_actor_inside_the_frame(action: str) -> None:
    """Boxes lie in the frame, and on a flat background every pixel that differs from it (the actor) is
    inside the frame's box, also while the camera pans, zooms and shakes; boxes are tight to those pixels."""
    tracks = []
    for config in (PLAIN, MOVING_CAMERA):
        frames, boxes = synth.render_clip(action, seed=21, size=SIZE, frames=FRAMES, config=config)
        tracks.append(boxes)
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
        assert (boxes[:, 2] <= SIZE[0]).all() and (boxes[:, 3] <= SIZE[1]).all()
        actor = np.abs(frames.astype(int) - np.array(synth.PLAIN_BACKGROUND)).sum(axis=-1) > 0
        for t, (x0, y0, x1, y1) in enumerate(boxes.astype(int)):
            assert x0 < x1 and y0 < y1
            ys, xs = np.nonzero(actor[t])
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
            assert actor[t, y0:y1, x0:x1].sum() == actor[t].sum()
    assert not np.array_equal(tracks[0], tracks[1])  # the camera moved the actor in the frame


def test_cluttered_clip_boxes_stay_in_frame() -> None:
    """With the default clutter, noise and camera, every box is a non-empty box inside the frame."""
    frames, boxes = synth.render_clip("walk_left", seed=5, size=(96, 64), frames=FRAMES)
    assert frames.shape == (FRAMES, 64, 96, 3)
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 96).all() and (boxes[:, 3] <= 64).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


def test_render_sequence_labels_every_frame_in_order() -> None:
    """A sequence covers its actions back to back: contiguous segments in the given order, a box per frame,
    deterministic in the seed."""
    actions = ["walk_left", "sit_down", "stand_up", "wave_one_hand"]
    frames, boxes, segments = synth.render_sequence(actions, seed=1, size=SIZE, frames_per_action=12)
    assert frames.shape == (48, SIZE[1], SIZE[0], 3) and boxes.shape == (48, 4)
    assert [s[0] for s in segments] == actions
    assert segments[0][1] == 0 and segments[-1][2] == 48
    assert all(a[2] == b[1] and a[1] < a[2] for a, b in itertools.pairwise(segments))
    again, _, _ = synth.render_sequence(actions, seed=1, size=SIZE, frames_per_action=12)
    assert np.array_equal(frames, again)
    with pytest.raises(ValueError):
        synth.render_sequence(["moonwalk"], seed=1)


def test_render_sequence_gives_each_action_its_own_length() -> None:
    """With a length per action, each segment is as long as asked, back to back; the lengths must match the
    actions, and the default (frames_per_action for every action) is unchanged by the new argument."""
    actions = ["raise_arms_side", "lower_arms_side", "clap"]
    frames, boxes, segments = synth.render_sequence(actions, seed=3, size=SIZE, frames=(12, 20, 9))
    assert frames.shape[0] == boxes.shape[0] == 41
    assert segments == [("raise_arms_side", 0, 12), ("lower_arms_side", 12, 32), ("clap", 32, 41)]
    same, _, _ = synth.render_sequence(actions, seed=3, size=SIZE, frames_per_action=12)
    again, _, _ = synth.render_sequence(actions, seed=3, size=SIZE, frames=(12, 12, 12))
    assert np.array_equal(same, again)
    with pytest.raises(ValueError, match="frame counts"):
        synth.render_sequence(actions, seed=3, size=SIZE, frames=(12, 20))
    with pytest.raises(ValueError, match="at least 2 frames"):
        synth.render_sequence(actions, seed=3, size=SIZE, frames=(12, 1, 9))


def test_write_video_roundtrip_and_rejects_bad_frames(tmp_path: Path) -> None:
    """write_video writes a clip that reopens with its frame count and size, and refuses non-uint8 frames
    without leaving a file behind."""
    frames, _ = synth.render_clip("clap", seed=2, size=(48, 32), frames=10)
    path = tmp_path / "clip.avi"
    synth.write_video(path, frames, 25.0)
    assert _read_frames(path) == (10, 10, 48, 32)
    with pytest.raises(ValueError):
        synth.write_video(tmp_path / "bad.avi", frames.astype(np.float32), 25.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi"]


@pytest.mark.slow
def test_write_samples_renders_the_shipped_samples(tmp_path: Path) -> None:
    """`actionrec synth --samples` (write_samples) renders the clips in samples/: every frame of every sample
    decodes to what the shipped file holds (up to the codec's rounding), and sequence.json is the same."""
    from helpers import ROOT

    written = synth.write_samples(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in (ROOT / "samples").glob("*.mp4"))
    for path in written:
        ours, shipped = cv2.VideoCapture(str(path)), cv2.VideoCapture(str(ROOT / "samples" / path.name))
        frames = 0
        while True:
            ok_a, a = ours.read()
            ok_b, b = shipped.read()
            assert ok_a == ok_b, path.name
            if not ok_a:
                break
            assert np.abs(a.astype(int) - b.astype(int)).mean() < 0.5, (path.name, frames)
            frames += 1
        ours.release()
        shipped.release()
        assert frames >= 48
    assert json.loads((tmp_path / "sequence.json").read_text()) == json.loads(
        (ROOT / "samples" / "sequence.json").read_text()
    )


def _clips(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*.avi")}


def _listed(folder: Path) -> set[str]:
    train = [line.split()[0] for line in (folder / "trainlist01.txt").read_text().splitlines()]
    return {*train, *(folder / "testlist01.txt").read_text().split()}


def test_synth_refuses_a_folder_holding_other_clips(bench, tmp_path: Path) -> None:
    """`synth -o` into a folder left by an interrupted run of another size (no synth.json) is refused with one line
    naming the folder and --force, exit 1, and the folder is left as it was."""
    from typer.testing import CliRunner

    from actionrec.cli import app

    out = tmp_path / "b"
    shutil.copytree(bench[0], out)
    (out / synth.SYNTH_CARD).unlink()
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    result = CliRunner().invoke(app, ["synth", "-o", str(out), "--clips-per-class", "2", "--size", "48x48"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0] and "--force" in lines[0] and "Traceback" not in result.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before


def test_synth_takes_an_empty_folder_or_its_own_complete_benchmark(bench, tmp_path: Path) -> None:
    """prepare_folder accepts an empty folder and a complete benchmark of the same settings (its card), refuses
    one of another seed; with force it removes a benchmark's files but refuses a folder holding a file of the user's."""
    from actionrec.errors import ActionrecError
    from actionrec.synth.benchmark import benchmark_card, prepare_folder

    out, _, _ = bench
    same = benchmark_card(seed=3, clips_per_class=2, size=SIZE, frames=FRAMES, fps=25.0, config=synth.DEFAULT_CONFIG)
    prepare_folder(out, same)
    (tmp_path / "empty").mkdir()
    prepare_folder(tmp_path / "empty", {**same, "seed": 4})
    with pytest.raises(ActionrecError, match="not a complete benchmark of these settings"):
        prepare_folder(out, {**same, "seed": 4})
    mixed = tmp_path / "mixed"
    shutil.copytree(out, mixed)
    (mixed / "notes.txt").write_text("mine")
    with pytest.raises(ActionrecError, match=r"synth did not write \(notes.txt\)"):
        prepare_folder(mixed, {**same, "seed": 4}, force=True)
    assert [p.name for p in mixed.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_synth_force_starts_clean(bench, tmp_path: Path) -> None:
    """`synth -o --force` over an earlier benchmark of another size removes its clips: every clip left in the folder
    is one of the new size and listed in the split files."""
    from typer.testing import CliRunner

    from actionrec.cli import app

    out = tmp_path / "b"
    shutil.copytree(bench[0], out)
    args = ["synth", "-o", str(out), "--clips-per-class", "2", "--size", "32x32", "--frames", "8", "--plain", "--force"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert _clips(out) == _listed(out) and len(_clips(out)) == 2 * len(synth.CLASSES)
    for rel in _clips(out):
        assert _read_frames(out / rel)[2:] == (32, 32)
