"""Tests for the renderer's looks: shaded figures, dark and muted clothes, framing from small to waist-up, the
sensor (grey-scale, low resolution, compression), determinism, and that no pixel comes from a file."""

from __future__ import annotations

import builtins
import colorsys
import dataclasses
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest

from actionrec import synth
from actionrec.synth.actors import random_actor
from actionrec.synth.raster import draw_limb
from actionrec.synth.scenes import random_scene

SIZE = (64, 64)
# Everything but the sensor's grey-scale, resolution and compression switched off or fixed, to test those alone.
SENSOR_OFF = replace(synth.DEFAULT_CONFIG, grey=0.0, low_res=(1.0, 1.0), compression=0.0)


def _is_grey(frames: np.ndarray) -> bool:
    return bool((frames[..., 0] == frames[..., 1]).all() and (frames[..., 1] == frames[..., 2]).all())


def test_grey_scale_clips_come_at_the_configured_rate() -> None:
    """With grey=0.3, about 30 % of clips are grey-scale (every pixel's channels equal) and the rest are in
    colour; grey=0 gives none and grey=1 all, grey ones exactly grey through compression and low resolution."""
    config = replace(synth.DEFAULT_CONFIG, grey=0.3)
    grey = [_is_grey(synth.render_clip("clap", seed=k, size=(32, 32), frames=4, config=config)[0]) for k in range(80)]
    assert 12 <= sum(grey) <= 36  # 24 expected; binomial sd 4.1
    for config, expected in ((replace(SENSOR_OFF, grey=0.0), False), (replace(SENSOR_OFF, grey=1.0), True)):
        config = replace(config, compression=1.0, low_res=(0.4, 0.5)) if expected else config
        clips = [
            synth.render_clip("wave_one_hand", seed=k, size=(32, 32), frames=4, config=config)[0] for k in range(6)
        ]
        assert all(_is_grey(c) == expected for c in clips)


def test_figure_height_spans_the_configured_range() -> None:
    """Standing heights are drawn over the whole configured range (log-uniform, as many below the geometric middle
    as above it): a figure at the low end is whole in the frame and about that high, one at the high end is seen
    waist-up (legs out at the bottom, the head in the top 30 % of the frame)."""
    cfg = synth.DEFAULT_CONFIG
    lo, hi = cfg.figure_height
    actor = random_actor(np.random.default_rng(0))
    heights = np.array([random_scene(np.random.default_rng(k), 64, 64, actor, cfg).figure_px / 64 for k in range(300)])
    assert lo <= heights.min() < lo * 1.2 and hi / 1.2 < heights.max() <= hi
    assert 0.3 < (heights < np.sqrt(lo * hi)).mean() < 0.7
    small = replace(synth.SynthConfig.plain(), figure_height=(lo, lo))
    large = replace(synth.SynthConfig.plain(), figure_height=(hi, hi))
    for k in range(4):
        _, boxes = synth.render_clip("clap", seed=k, size=SIZE, frames=6, config=small)
        box_h = boxes[:, 3] - boxes[:, 1]
        assert (box_h >= 0.7 * lo * 64).all() and (box_h <= 1.3 * lo * 64).all()  # the whole figure, small
        _, boxes = synth.render_clip("clap", seed=k, size=SIZE, frames=6, config=large)
        assert (boxes[:, 3] == 64).all() and (boxes[:, 1] < 0.3 * 64).all()  # legs out at the bottom, head near the top


def test_clothes_are_mostly_dark_or_muted_and_skin_tones_vary() -> None:
    """Across 400 actors most shirts and trousers are dark or muted (value < 0.5 or saturation < 0.4), bright
    ones still occur, and skin tones span light to dark."""
    actors = [random_actor(np.random.default_rng(k)) for k in range(400)]

    def dull(rgb: tuple[int, int, int]) -> bool:
        _, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
        return v < 0.5 or s < 0.4

    assert np.mean([dull(a.shirt) for a in actors]) > 0.6 and np.mean([dull(a.trousers) for a in actors]) > 0.7
    assert any(not dull(a.shirt) for a in actors)
    skin_luma = [sum(a.skin) / 3 for a in actors]
    assert min(skin_luma) < 70 and max(skin_luma) > 190
    assert min(a.girth for a in actors) < 0.9 and max(a.girth for a in actors) > 1.3
    assert {a.hair_style for a in actors} == {0, 1, 2}


def test_a_limb_is_a_shaded_solid_lit_from_one_side() -> None:
    """A limb is drawn with volume: across it, its rim is darker than its middle, and the side facing the light
    is brighter than the side away from it."""
    img = np.zeros((60, 60, 3), np.uint8)
    light = np.array([-1.0, -1.0]) / np.sqrt(2.0)  # from the upper left
    draw_limb(img, np.array([30.0, 10.0]), np.array([30.0, 50.0]), 20.0, (200, 120, 80), 1.0, light)
    row = img[30, :, 0].astype(int)
    inside = np.flatnonzero(row)
    left, right = inside[0], inside[-1]
    assert right - left >= 18
    middle = row[left + 3 : right - 2]
    assert row[left] < 0.75 * middle.max() and row[right] < 0.75 * middle.max()
    half = (right - left) // 2
    assert row[left + 2 : left + half].mean() > row[left + half : right - 1].mean()


def test_render_is_deterministic_per_seed_with_the_whole_sensor() -> None:
    """With grey-scale, low resolution and compression all on, a clip, a sequence and a transition clip are
    byte-identical for the same seed and differ for another."""
    config = replace(synth.DEFAULT_CONFIG, grey=0.5, compression=1.0, low_res=(0.3, 0.6))
    for seed in (1, 2):
        a, box_a = synth.render_clip("punch", seed=seed, size=SIZE, frames=8, config=config)
        b, box_b = synth.render_clip("punch", seed=seed, size=SIZE, frames=8, config=config)
        assert a.tobytes() == b.tobytes() and np.array_equal(box_a, box_b)
    c, _ = synth.render_clip("punch", seed=3, size=SIZE, frames=8, config=config)
    assert not np.array_equal(a, c)
    s1, _, _ = synth.render_sequence(["clap", "squat"], seed=4, size=SIZE, frames_per_action=6, config=config)
    s2, _, _ = synth.render_sequence(["clap", "squat"], seed=4, size=SIZE, frames_per_action=6, config=config)
    assert s1.tobytes() == s2.tobytes()
    t1, _ = synth.render_transition("kick", seed=5, size=SIZE, frames=12, config=config)
    t2, _ = synth.render_transition("kick", seed=5, size=SIZE, frames=12, config=config)
    assert t1.tobytes() == t2.tobytes()


def test_low_resolution_and_compression_change_the_frames_as_a_camera_would() -> None:
    """The same clip (same seed, so the same scene and motion) filmed by a quarter-resolution sensor has far less
    fine detail (mean absolute Laplacian), and JPEG compression changes it only a little on average."""
    full, _ = synth.render_clip("wave_both_hands", seed=9, size=(96, 96), frames=6, config=SENSOR_OFF)
    low, _ = synth.render_clip(
        "wave_both_hands", seed=9, size=(96, 96), frames=6, config=replace(SENSOR_OFF, low_res=(0.25, 0.25))
    )
    jpeg, _ = synth.render_clip(
        "wave_both_hands", seed=9, size=(96, 96), frames=6, config=replace(SENSOR_OFF, compression=1.0)
    )

    def detail(frames: np.ndarray) -> float:
        return float(np.mean([np.abs(cv2.Laplacian(f, cv2.CV_32F)).mean() for f in frames]))

    assert detail(low) < 0.6 * detail(full)
    diff = np.abs(jpeg.astype(int) - full).mean()
    assert 0.3 < diff < 12


def test_renderer_reads_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pixel is procedural: rendering clips, a sequence and a transition clip (each scene kind, the whole
    sensor) opens no file (no Python-level open, checked with an audit hook) and calls no image, video or array
    loader (patched to fail)."""
    config = replace(synth.DEFAULT_CONFIG, grey=0.5, compression=0.5)
    synth.render_clip("clap", seed=0, size=(32, 32), frames=2, config=config)  # lazy imports happen before watching
    opened: list[str] = []
    watching = [True]

    def hook(event: str, args: tuple) -> None:
        if watching[0] and event in ("open", "os.listdir", "os.scandir", "shutil.copyfile"):
            opened.append(f"{event} {args[0]!r}")

    def refuse(*args, **kwargs):
        raise AssertionError(f"the renderer loaded a file: {args!r}")

    for owner, name in ((cv2, "imread"), (cv2, "VideoCapture"), (np, "load"), (np, "fromfile"), (np, "loadtxt")):
        monkeypatch.setattr(owner, name, refuse)
    monkeypatch.setattr(builtins, "open", refuse)
    sys.addaudithook(hook)
    try:
        for k in range(16):  # enough seeds for every scene kind
            synth.render_clip(synth.CLASSES[k % len(synth.CLASSES)], seed=k, size=(48, 48), frames=3, config=config)
        synth.render_sequence(["walk_left", "clap"], seed=1, size=(48, 48), frames_per_action=4, config=config)
        synth.render_transition("squat", seed=2, size=(48, 48), frames=8, config=config)
    finally:
        watching[0] = False  # an audit hook cannot be removed: it goes quiet
    assert opened == []
    assert dataclasses.is_dataclass(config)


def test_ablation_levers_draw_the_flat_cartoon_and_fix_one_style_per_class() -> None:
    """The ablation levers (docs/zero-shot.md): `appearance=False` draws each body part in one colour (a plain
    scene shows far fewer distinct colours on the figure than the shaded solid), and `motion_styles=False` plays
    every clip of a class in the same style, while the default draws a new style per clip."""
    from actionrec.synth.actions import action_spec, clip_style

    plain = synth.SynthConfig.plain()
    actor = random_actor(np.random.default_rng(3))
    colours = {}
    for flat in (False, True):
        frames, boxes = synth.render_clip(
            "jumping_jack", seed=1, size=(128, 128), frames=4, actor=actor, config=replace(plain, appearance=not flat)
        )
        x0, y0, x1, y1 = boxes[2]
        colours[flat] = len(np.unique(frames[2, y0:y1, x0:x1].reshape(-1, 3), axis=0))
    assert colours[True] < 0.6 * colours[False]

    spec = action_spec("wave_one_hand")
    fixed = [clip_style(spec, np.random.default_rng(k), styles=False) for k in range(4)]
    drawn = [clip_style(spec, np.random.default_rng(k)) for k in range(4)]
    assert all(p == fixed[0] for p in fixed)
    assert len({tuple(sorted(p.items())) for p in drawn}) == 4
