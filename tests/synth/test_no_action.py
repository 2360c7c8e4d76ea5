"""The no_action class (empty scenes, people standing about) and the motion styles each action is played in."""

from __future__ import annotations

import numpy as np
import pytest

from actionrec import synth
from actionrec.runtime.aggregate import NO_ACTION
from actionrec.synth.actions import ACTION_CLASSES, PAIRS, action_track
from actionrec.synth.kinematics import J, skeleton
from actionrec.synth.poses import DX, YAW

SIZE = (64, 64)
FRAMES = 48
PLAIN = synth.SynthConfig.plain()
SEEDS = range(40)


def _joints(action: str, seed: int, frames: int = FRAMES, *, pose_only: bool = False) -> np.ndarray:
    """Joint positions (T, joints, 3) of one clip's pose track of `action`, played by actor 1, facing the camera;
    `pose_only`: the body's articulation alone, without its turns and its travel."""
    track = action_track(action, frames, 25.0, np.random.default_rng(seed), yaw_max=0.0)
    if pose_only:
        track[:, [YAW, DX]] = 0.0
    return skeleton(track, synth.make_actor(1))


def _movement(joints: np.ndarray) -> float:
    """How far the joint that moves most travels in the clip as the camera sees it, body heights: the largest range
    of any image coordinate (x or y)."""
    xy = joints[..., :2]
    return float((xy.max(axis=0) - xy.min(axis=0)).max())


def test_no_action_is_the_nineteenth_class_of_the_benchmark() -> None:
    """The benchmark has 19 classes: the 18 actions and `no_action`, named exactly so, last, so the actions keep
    their labels; it is no derived class and has its own pose model."""
    assert len(synth.CLASSES) == 19 and synth.CLASSES[-1] == NO_ACTION == "no_action"
    assert synth.CLASSES[:-1] == ACTION_CLASSES
    assert synth.ACTIONS[NO_ACTION].base is None and synth.ACTIONS[NO_ACTION].pose is not None
    assert synth.SYNTH_DATA.startswith("synthetic: 18 actions and no_action")


def test_no_action_clips_show_empty_scenes_or_someone_standing() -> None:
    """Rendered no_action clips are of two kinds: the scene alone (no pixel differs from the flat background, the
    box all zeros) and a person standing in view (a box on every frame); both occur, deterministically."""
    empty = standing = 0
    for seed in range(24):
        frames, boxes = synth.render_clip(NO_ACTION, seed=seed, size=SIZE, frames=8, config=PLAIN)
        again, _ = synth.render_clip(NO_ACTION, seed=seed, size=SIZE, frames=8, config=PLAIN)
        assert frames.tobytes() == again.tobytes()
        if not boxes.any():
            assert (frames == np.array(synth.PLAIN_BACKGROUND, np.uint8)).all()
            empty += 1
        else:
            assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
            standing += 1
    assert empty >= 3 and standing >= 3


def test_idle_people_move_less_than_anyone_doing_an_action() -> None:
    """Standing about never looks like an action: over 40 clips each, the most any no_action figure moves its body
    (weight shifts; turns and travel aside) stays below half the least any action's figure does in a 48-frame
    clip, one-shot actions with their rest frames at start and end included; and idle figures do move, and turn
    (they are not frozen)."""
    idle = [_movement(_joints(NO_ACTION, s, pose_only=True)) for s in SEEDS]
    assert min(_movement(_joints(NO_ACTION, s)) for s in SEEDS) > 0.005
    assert max(_movement(_joints(NO_ACTION, s)) for s in SEEDS) > 0.05
    for action in ACTION_CLASSES:
        least = min(_movement(_joints(action, s, pose_only=True)) for s in SEEDS)
        assert max(idle) < 0.5 * least, action


def test_one_shot_actions_move_through_most_of_their_clip() -> None:
    """The rest frames of a one-shot action (raise or lower the arms, sit down, stand up) are short: the pose
    changes on at least two thirds of the frames of every clip, so no window of such a clip is mostly standing."""
    for action in ("raise_arms_side", "raise_arms_front", "sit_down", *PAIRS.values()):
        for seed in SEEDS:
            track = action_track(action, FRAMES, 25.0, np.random.default_rng(seed), yaw_max=0.0)
            arms = track[:, 5:13]  # both arms' angles: every one-shot action moves them
            moving = np.abs(np.diff(arms, axis=0)).max(axis=1) > 1e-3
            assert moving.mean() >= 2 / 3, (action, seed)


def _wrist_heights(action: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left wrist height, right wrist height, head top height) per frame, body heights above the floor."""
    j = _joints(action, seed)
    head_top = -j[:, J["head"], 1] + synth.make_actor(1).head_r
    return -j[:, J["wrist_l"], 1], -j[:, J["wrist_r"], 1], head_top


def test_one_hand_waves_range_from_face_height_to_over_the_head_with_either_hand() -> None:
    """wave_one_hand is played with the left or the right hand, the hand at face height (never above the top of the
    head) in some clips and high over the head in others; the other hand hangs."""
    sides, low, high = set(), 0, 0
    for seed in SEEDS:
        left, right, top = _wrist_heights("wave_one_hand", seed)
        waving, other = (left, right) if left.mean() > right.mean() else (right, left)
        sides.add(left.mean() > right.mean())
        assert other.max() < 0.6  # the other hand hangs at the hip
        low += bool(waving.max() < top.min())
        high += bool(waving.min() > top.max())
    assert sides == {True, False} and low >= 5 and high >= 5


def test_both_hand_waves_keep_swinging_high_and_differ_from_jumping_jack_and_raising() -> None:
    """wave_both_hands: both wrists stay above the shoulders all clip long and swing back and forth (several
    turns), in big arcs in some clips; jumping_jack brings the hands down to the hips every cycle and spreads the
    feet; raise_arms_side raises the hands once, never lowering them on the way."""
    for seed in SEEDS:
        j = _joints("wave_both_hands", seed)
        shoulders = -j[:, [J["shoulder_l"], J["shoulder_r"]], 1]
        wrists = -j[:, [J["wrist_l"], J["wrist_r"]], 1]
        assert (wrists > shoulders).all(), seed
        x = j[:, J["wrist_l"], 0]
        turns = np.sum(np.diff(np.sign(np.diff(x))) != 0)
        assert turns >= 2, seed
        jack = _joints("jumping_jack", seed)
        jack_wrists = -jack[:, [J["wrist_l"], J["wrist_r"]], 1]
        assert jack_wrists.min() < 0.6
        feet = jack[:, J["ankle_r"], 0] - jack[:, J["ankle_l"], 0]
        assert feet.max() > feet.min() + 0.1
        track = action_track("raise_arms_side", FRAMES, 25.0, np.random.default_rng(seed), yaw_max=0.0)
        assert (np.diff(track[:, 5]) >= -1e-9).all()  # the left upper arm only ever rises
    arcs = [synth.ACTIONS["wave_both_hands"].params(np.random.default_rng(s))["arc"] for s in SEEDS]
    assert 0 < sum(arcs) < len(arcs)


@pytest.mark.parametrize("action", ["wave_one_hand", "wave_both_hands", "clap", "jumping_jack", "punch"])
def test_repeated_actions_are_played_at_a_wide_range_of_speeds(action: str) -> None:
    """A repeated action's rate spans at least a factor of 1.8 from its slowest to its fastest clips, so clips
    show from about 2 to 5+ repetitions."""
    lo, hi = synth.ACTIONS[action].cycles_hz
    assert hi / lo >= 1.8


def test_sequences_have_no_action_before_between_and_after_actions() -> None:
    """Planned sequences hold stretches of no_action at the start, between two actions and at the end (each kind
    in some plans), never two in a row and never inside a pair (between sit down and stand up, raise and lower)."""
    plans = [synth.plan_sequence(i, seed=seed) for seed in range(2) for i in range(24)]
    where = set()
    for plan in plans:
        acts = plan.actions
        assert any(a != NO_ACTION for a in acts)
        for k, a in enumerate(acts):
            if a != NO_ACTION:
                continue
            where.add("start" if k == 0 else "end" if k == len(acts) - 1 else "between")
            assert k == 0 or acts[k - 1] not in PAIRS
            assert k + 1 == len(acts) or acts[k + 1] != NO_ACTION
    assert where == {"start", "between", "end"}


def test_rendered_sequence_truth_labels_the_idle_stretches() -> None:
    """A rendered sequence's per-frame truth labels its idle stretches no_action, frame for frame as planned."""
    plan = next(p for p in (synth.plan_sequence(i, seed=1) for i in range(24)) if NO_ACTION in p.actions)
    frames, boxes, segments = synth.render_sequence(
        plan.actions, seed=1, size=SIZE, frames=plan.action_frames, config=PLAIN
    )
    labels = [a for a, s, e in segments for _ in range(s, e)]
    assert len(frames) == len(labels) == plan.frames
    planned = [a for a, n in zip(plan.actions, plan.action_frames, strict=True) for _ in range(n)]
    assert labels == planned and NO_ACTION in labels
    assert (boxes[:, 2] > boxes[:, 0]).all()  # the idle actor stands in view
