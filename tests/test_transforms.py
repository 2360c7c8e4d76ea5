"""The one clip pipeline: shapes, normalisation, resize-at-decode equivalence, training crops."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import moving_square_frames

from actionrec.model_meta import Preprocessing
from actionrec.transforms import CropBox, color_augment, frame_resizer, preprocess, random_box


def test_preprocess_shape_dtype_and_normalisation():
    """Output is float32 (N, 3, T, crop, crop); a uniform mean-coloured clip normalises to ~0."""
    spec = Preprocessing(clip_len=4, resize=40, crop=32)
    mean_rgb = np.round(np.asarray(spec.mean) * 255).astype(np.uint8)
    frames = np.broadcast_to(mean_rgb, (2, 4, 60, 80, 3)).copy()
    x = preprocess(frames, spec)
    assert x.shape == (2, 3, 4, 32, 32) and x.dtype == np.float32
    assert np.abs(x).max() < 0.01
    white = preprocess(np.full((4, 60, 80, 3), 255, np.uint8), spec)
    assert np.allclose(white[0, :, 0, 0, 0], (1 - np.asarray(spec.mean)) / np.asarray(spec.std), atol=1e-5)


def test_resize_at_decode_gives_identical_input():
    """Resizing each frame once at decode time (frame_resizer) gives exactly what preprocess alone gives."""
    spec = Preprocessing(clip_len=6, resize=40, crop=32)
    frames = moving_square_frames(6, 96, 72)
    pre_resized = np.stack([frame_resizer(spec)(f) for f in frames])
    assert np.array_equal(preprocess(frames, spec), preprocess(pre_resized, spec))


def test_centre_crop_takes_the_middle():
    """The default crop is centred in the resized frame."""
    spec = Preprocessing(clip_len=1, resize=40, crop=20)
    frame = np.zeros((1, 40, 60, 3), np.uint8)
    frame[0, 10:30, 20:40] = 255  # exactly the centre 20x20
    x = preprocess(frame, spec)
    assert (x[0, 0] > 0).all()


def test_training_box_flips_and_scales():
    """A flipped box mirrors the clip; a larger box is scaled down to the crop size."""
    spec = Preprocessing(clip_len=2, resize=32, crop=16)
    frames = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    a = preprocess(frames, spec, CropBox(0, 0, 16))
    b = preprocess(frames, spec, CropBox(0, 0, 16, flip=True))
    assert np.array_equal(a[..., ::-1], b)
    assert preprocess(frames, spec, CropBox(0, 0, 32)).shape == (1, 3, 2, 16, 16)
    rng = np.random.default_rng(1)
    boxes = [random_box(32, 48, spec, rng) for _ in range(50)]
    assert all(b.size >= 16 and b.top + b.size <= 32 and b.left + b.size <= 48 for b in boxes)
    assert {b.flip for b in boxes} == {True, False}
    assert len({b.size for b in boxes}) > 1


def test_preprocess_is_the_per_pixel_formula():
    """Every output value is (pixel / 255 - mean) / std of the pixel the box picks, channel-first, also mirrored."""
    spec = Preprocessing(clip_len=3, resize=24, crop=16)
    frames = np.random.default_rng(2).integers(0, 256, (2, 3, 24, 30, 3), dtype=np.uint8)
    mean, std = np.asarray(spec.mean), np.asarray(spec.std)
    for box in (CropBox(4, 7, 16), CropBox(4, 7, 16, flip=True)):
        picked = frames[:, :, 4:20, 7:23].astype(np.float64)
        if box.flip:
            picked = picked[:, :, :, ::-1]
        want = ((picked / 255 - mean) / std).transpose(0, 4, 1, 2, 3)
        got = preprocess(frames, spec, box)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        assert np.allclose(got, want, atol=1e-5)


def test_bad_shape_is_rejected():
    """Frames that are not (N, T, H, W, 3) raise a ValueError."""
    with pytest.raises(ValueError):
        preprocess(np.zeros((4, 10, 10), np.uint8), Preprocessing())


def test_training_box_may_zoom_in():
    """Scales below crop/short side give boxes smaller than the crop: they are scaled up, as in 3D-ResNets."""
    spec = Preprocessing(clip_len=2, resize=32, crop=32)
    rng = np.random.default_rng(2)
    boxes = [random_box(32, 40, spec, rng, scales=(1.0, 0.75), flip=False) for _ in range(40)]
    assert {b.size for b in boxes} == {32, 24}
    frames = rng.integers(0, 255, (2, 32, 40, 3), dtype=np.uint8)
    assert preprocess(frames, spec, CropBox(4, 4, 24)).shape == (1, 3, 2, 32, 32)


def test_color_augment_keeps_shape_and_motion_and_changes_colours():
    """Colour changes are the same for every frame of a clip (motion is untouched), shuffling permutes channels."""
    rng = np.random.default_rng(0)
    clip = np.zeros((3, 16, 16, 3), np.uint8)
    clip[:, :, :, 0] = 200  # a red scene
    clip[1, 4:8, 4:8] = (20, 200, 60)  # a green square only in frame 1
    seen = set()
    for _ in range(12):
        out = color_augment(clip, rng, jitter=0.3, shuffle=True)
        assert out.shape == clip.shape and out.dtype == np.uint8
        assert np.array_equal(out[0], out[2])  # frames that were equal stay equal
        assert not np.array_equal(out[1], out[0])  # and the moving part stays visible
        seen.add(int(np.argmax(out[0, 0, 0])))  # where the red went
    assert len(seen) > 1
    assert np.array_equal(color_augment(clip, rng, jitter=0.0, shuffle=False), clip)


def test_color_augment_is_the_documented_colour_map():
    """The one-pass colour map equals the per-step definition (saturation about grey, contrast about the clip's
    mean grey, brightness, channel order) to within rounding, on a real-looking random clip."""
    clip = np.random.default_rng(1).integers(0, 256, (4, 12, 20, 3), dtype=np.uint8)
    for seed in range(5):
        out = color_augment(clip, np.random.default_rng(seed), jitter=0.4, shuffle=True)
        rng = np.random.default_rng(seed)  # the same draws, in the same order
        brightness, contrast, saturation = rng.uniform(0.6, 1.4, 3)
        x = clip.astype(np.float64)
        grey = x @ np.array([0.299, 0.587, 0.114])
        x = grey[..., None] + saturation * (x - grey[..., None])
        x = (x - grey.mean()) * contrast + grey.mean() * brightness
        expected = np.clip(np.rint(x), 0, 255)[..., rng.permutation(3)]
        assert np.abs(out.astype(np.int64) - expected).max() <= 1
