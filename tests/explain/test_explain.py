"""`actionrec explain` and its pieces: heat-map videos (H.264 where an encoder is at hand) and contact sheets that
reopen with OpenCV, the crop geometry shared with `preprocess`, the attention-share metric, block selection, and
clear errors for models without maps."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from helpers import ROOT
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.errors import ActionrecError
from actionrec.explain import (
    WindowMaps,
    area_share,
    attention_frames,
    attention_share,
    box_to_crop,
    crop_region,
    explain_video,
    load_for_explain,
    nearest_windows,
    select_blocks,
    sheet_size,
)
from actionrec.model_meta import Preprocessing
from actionrec.transforms import preprocess, resize_frame, resized_shape

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def count_frames(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


@pytest.fixture(scope="module")
def step2_model(tmp_path_factory):
    """A random r3d10 (width 8, attention) that samples every 2nd frame: its windows leave gaps to fill."""
    import torch

    from actionrec.io.checkpoint import save_model
    from actionrec.model_meta import ModelMeta
    from actionrec.networks import build

    torch.manual_seed(1)
    meta = ModelMeta(
        arch="r3d10",
        arch_args={"width": 8, "attention": True},
        labels=("a", "b"),
        preprocessing=Preprocessing(clip_len=4, frame_step=2, resize=36, crop=32),
    )
    model = build(meta.arch, num_classes=2, **meta.arch_args).eval()
    return save_model(tmp_path_factory.mktemp("step2") / "step2.safetensors", model, meta)


# ---- files ----


@pytest.mark.parametrize("name,suffix", [("mp4", ".mp4"), ("avi", ".avi"), ("short", ".mp4"), ("vfr", ".avi")])
def test_explain_writes_a_playable_video_and_sheet(videos, tiny_model, tmp_path, name, suffix):
    """The heat-map video reopens with OpenCV with as many frames as the input decodes, and the contact sheet PNG
    reads back at the size its layout gives (short videos are looped into a window; VFR keeps its frames)."""
    explainer = load_for_explain(tiny_model)
    out, sheet = tmp_path / f"heat{suffix}", tmp_path / "sheet.png"
    result = explain_video(explainer, videos[name], out=out, sheet=sheet)
    frames_in = count_frames(videos[name])
    assert result.frames == frames_in and count_frames(out) == frames_in
    image = cv2.imread(str(sheet))
    assert image is not None and image.shape[:2][::-1] == sheet_size(*result.size, min(8, frames_in))
    assert result.label in explainer.meta.labels and 0 < result.score <= 1
    assert min(result.size) >= 240  # small frames enlarged for legible labels
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, sheet.name])  # no temporary left


def test_frame_step_gaps_reuse_the_nearest_map(videos, step2_model, tmp_path):
    """With frame_step 2 the frames between sampled ones are still drawn (from the nearest map): one output frame
    per input frame, and a non-default stride works too."""
    explainer = load_for_explain(step2_model)
    for stride in (None, 3):
        out = tmp_path / f"gaps{stride}.avi"
        result = explain_video(explainer, videos["avi"], out=out, stride=stride)
        assert result.frames == count_frames(videos["avi"]) == count_frames(out) == 45


def fourcc_of(path) -> str:
    """The codec's FourCC as OpenCV reads it back from the file ("h264", "avc1", "mp4v", "MJPG")."""
    cap = cv2.VideoCapture(str(path))
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    cap.release()
    return code.to_bytes(4, "little").decode("ascii", "replace")


def test_heat_map_mp4_is_h264_where_an_encoder_is_at_hand(videos, tiny_model, tmp_path):
    """With an H.264 encoder (PyAV's libx264, or an OpenCV build that writes avc1) `explain -o x.mp4` writes H.264,
    which browsers play, and says so; the file decodes with OpenCV frame for frame and reads back as H.264. Odd
    frame sides (4:2:0 needs even ones) are written too."""
    from actionrec.io import video_writer as writer

    if not (writer._pyav_h264() or writer._opencv_h264()):
        pytest.skip("no H.264 encoder here (PyAV with libx264, or an OpenCV build that writes avc1)")
    out = tmp_path / "heat.mp4"
    res = run("explain", videos["mp4"], "-m", tiny_model, "-o", out)
    assert res.exit_code == 0, res.output
    assert f"wrote {out} (H.264, " in res.stdout and "plays in browsers" in res.stdout
    assert count_frames(out) == count_frames(videos["mp4"]) == 60
    assert fourcc_of(out).lower() in {"h264", "avc1"}
    odd = tmp_path / "odd.mp4"  # 71 x 45 frames: padded by one edge pixel to 72 x 46
    video, codec = writer.open_video_writer(odd, odd, 25.0, (71, 45))
    for i in range(5):
        video.write(np.full((45, 71, 3), 40 * i, np.uint8))
    video.release()
    cap = cv2.VideoCapture(str(odd))
    shapes = []
    while (frame := cap.read()[1]) is not None:
        shapes.append(frame.shape)
    cap.release()
    assert codec.browsers and shapes == [(46, 72, 3)] * 5


@pytest.mark.slow
def test_heat_map_falls_back_to_mpeg4_and_says_browsers_may_not_play_it(videos, tiny_model, tmp_path, monkeypatch):
    """Without any H.264 encoder a .mp4 is MPEG-4 Part 2 (mp4v) and a .avi Motion JPEG: the command names the codec
    and says browsers may not play it; both files still decode with OpenCV frame for frame."""
    from actionrec.io import video_writer as writer

    monkeypatch.setattr(writer, "_pyav_h264", lambda: False)
    monkeypatch.setattr(writer, "_opencv_h264", lambda: False)
    out = tmp_path / "heat.mp4"
    res = run("explain", videos["mp4"], "-m", tiny_model, "-o", out)
    assert res.exit_code == 0, res.output
    line = next(line for line in res.stdout.splitlines() if line.startswith("wrote"))
    assert line.startswith(f"wrote {out} (MPEG-4 Part 2 (mp4v)") and "browsers may not play it" in line
    assert fourcc_of(out).lower() in {"mp4v", "fmp4"} and count_frames(out) == 60
    avi = tmp_path / "heat.avi"
    res = run("explain", videos["mp4"], "-m", tiny_model, "-o", avi)
    assert res.exit_code == 0, res.output
    assert f"wrote {avi} (Motion JPEG in AVI" in res.stdout and "browsers do not play it" in res.stdout
    assert fourcc_of(avi) == "MJPG" and count_frames(avi) == 60


def test_nearest_windows_pairs_every_frame_with_its_closest_sample():
    """Each frame gets the window and position of the sampled frame nearest in time, ties to the earlier window,
    whatever the gaps (between samples, between windows, after the last)."""

    def window(index, sampled):
        return WindowMaps(index, sampled[0], tuple(sampled), {}, np.zeros(1), "x", 1.0, 0.0, 1.0)

    windows = [window(0, [0, 2, 4]), window(1, [10, 12, 14]), window(2, [12, 14, 16])]
    frames = [SimpleNamespace(start_s=float(i)) for i in range(20)]
    got = [(f.start_s, w.index, w.sampled_s[k]) for f, w, k in nearest_windows(iter(frames), iter(windows))]
    for i, wi, s in got:
        best = min(abs(t - i) for w in windows for t in w.sampled_s)
        assert abs(s - i) == best
        assert wi == min(w.index for w in windows if any(abs(t - i) == best for t in w.sampled_s))
    assert [i for i, _, _ in got] == list(range(20))


@pytest.mark.slow
def test_block_mean_and_a_named_block_both_work(videos, tiny_model, tmp_path):
    """--block mean and --block <name> both write a sheet, and they show different maps."""
    mean_png, one_png = tmp_path / "mean.png", tmp_path / "one.png"
    res = run("explain", videos["mp4"], "-m", tiny_model, "--sheet", mean_png, "--block", "mean")
    assert res.exit_code == 0, res.output
    assert "mean of 4" in res.stdout and str(mean_png) in res.stdout
    name = "layer2.0.attention.spatial.gate"
    res = run("explain", videos["mp4"], "-m", tiny_model, "--sheet", one_png, "--block", name)
    assert res.exit_code == 0, res.output
    assert name in res.stdout
    a, b = cv2.imread(str(mean_png)), cv2.imread(str(one_png))
    assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() > 0


def test_block_shorthands():
    """Blocks by index, stage prefix, block prefix and full name; an unknown one names the choices."""
    names = ["layer1.0.x", "layer2.0.x", "layer2.1.x", "layer3.0.x"]
    assert select_blocks(names, "mean") == tuple(names)
    assert select_blocks(names, "-1") == ("layer3.0.x",)
    assert select_blocks(names, "1") == ("layer2.0.x",)
    assert select_blocks(names, "layer2") == ("layer2.0.x", "layer2.1.x")
    assert select_blocks(names, "layer2.1") == ("layer2.1.x",)
    assert select_blocks(names, "layer1.0.x") == ("layer1.0.x",)
    with pytest.raises(ActionrecError, match=r"layer1\.0\.x"):
        select_blocks(names, "layer9")
    with pytest.raises(ActionrecError, match=r"0\.\.3"):
        select_blocks(names, "7")


# ---- errors ----


def one_line_error(res) -> str:
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]


def test_onnx_model_is_a_clear_error(videos, tiny_model, tmp_path):
    """An .onnx model cannot be explained: one line, exit 1, nothing written."""
    onnx = tmp_path / "tiny.onnx"
    onnx.write_bytes(tiny_model.read_bytes())
    line = one_line_error(run("explain", videos["mp4"], "-m", onnx, "-o", tmp_path / "h.mp4"))
    assert str(onnx) in line and "safetensors" in line
    assert not (tmp_path / "h.mp4").exists()


def test_attention_free_model_is_a_clear_error(videos, tmp_path):
    """A plain 3D ResNet (attention=False) has no maps: one line naming the file, exit 1."""
    import torch

    from actionrec.io.checkpoint import save_model
    from actionrec.model_meta import ModelMeta
    from actionrec.networks import build

    torch.manual_seed(0)
    meta = ModelMeta("r3d10", {"width": 8, "attention": False}, ("a", "b"), Preprocessing(8, 1, 36, 32))
    path = save_model(tmp_path / "plain.safetensors", build("r3d10", num_classes=2, width=8, attention=False), meta)
    line = one_line_error(run("explain", videos["mp4"], "-m", path, "--sheet", tmp_path / "s.png"))
    assert str(path) in line and "attention" in line


def test_bad_inputs_are_clear_errors(videos, tiny_model, tmp_path):
    """An unknown block or a corrupt video: one line, exit 1; no output at all: a usage error (exit 2)."""
    line = one_line_error(run("explain", videos["mp4"], "-m", tiny_model, "-o", tmp_path / "h.mp4", "--block", "x"))
    assert "--block" in line
    line = one_line_error(run("explain", videos["corrupt"], "-m", tiny_model, "-o", tmp_path / "h.mp4"))
    assert str(videos["corrupt"]) in line
    assert not (tmp_path / "h.mp4").exists()
    assert run("explain", videos["mp4"], "-m", tiny_model).exit_code == 2


# ---- geometry and the metric ----


@pytest.mark.parametrize("width,height", [(96, 72), (64, 64), (640, 480), (71, 199), (36, 40)])
@pytest.mark.parametrize("resize_to", [None, (40, 54)])
def test_resized_shape_matches_the_pipeline(width, height, resize_to):
    """The geometry uses the very sizes the pipeline's resize produces, short-side or fixed (torchvision's)."""
    spec = Preprocessing(clip_len=4, frame_step=1, resize=36, crop=32, resize_to=resize_to)
    frame = np.zeros((height, width, 3), np.uint8)
    assert resize_frame(frame, spec).shape[:2] == resized_shape(height, width, spec)


def test_crop_region_of_a_fixed_resize():
    """With torchvision's fixed 128x171 resize, the network sees the centre 112x112 of it: in a 640x480 frame the
    box from (640 * 29/171, 480 * 8/128), aspect not kept."""
    spec = Preprocessing(clip_len=16, frame_step=1, resize=128, crop=112, resize_to=(128, 171))
    x0, y0, x1, y1 = crop_region(640, 480, spec)
    left = (171 - 112) // 2  # centre_box floors the odd pixel
    assert x0 == pytest.approx(left * 640 / 171) and x1 == pytest.approx((left + 112) * 640 / 171)
    assert y0 == pytest.approx(8 * 480 / 128) and y1 == pytest.approx(120 * 480 / 128)


def test_crop_region_round_trip_through_preprocess():
    """A square drawn in the frame, seen through `preprocess` and mapped back with `attention_frames`, lands where
    it was drawn; `box_to_crop` puts its box where `preprocess` put its pixels."""
    spec = Preprocessing(clip_len=1, frame_step=1, resize=48, crop=40)
    width, height = 160, 120
    frame = np.zeros((height, width, 3), np.uint8)
    box = (70, 40, 100, 76)  # x0, y0, x1, y1 inside the centre crop
    frame[box[1] : box[3], box[0] : box[2]] = 255
    x = preprocess(frame[None], spec)[0, 0, 0]  # (crop, crop): channel 0 of the one frame
    seen = (x > x.min() + 0.5 * (x.max() - x.min())).astype(np.float32)
    back = attention_frames(seen, crop_region(width, height, spec), (width, height))[0] > 0.5
    drawn = frame[..., 0] > 0
    assert (back & drawn).sum() / (back | drawn).sum() > 0.85
    cx0, cy0, cx1, cy1 = box_to_crop(box, width, height, spec)
    ys, xs = np.nonzero(seen)
    assert abs(xs.min() - cx0) <= 1 and abs(xs.max() + 1 - cx1) <= 1
    assert abs(ys.min() - cy0) <= 1 and abs(ys.max() + 1 - cy1) <= 1


def test_attention_frames_time_and_range():
    """T' steps spread over the sampled frames by nearest step; values stay in [0, 1]; zero outside the box."""
    maps = np.stack([np.full((4, 4), 0.2), np.full((4, 4), 0.9)]).astype(np.float32)
    heat = attention_frames(maps, (10, 5, 30, 25), (40, 30), frames=8)
    assert heat.shape == (8, 30, 40) and heat.min() >= 0 and heat.max() <= 1
    assert np.allclose(heat[:4, 10:20, 15:25], 0.2) and np.allclose(heat[4:, 10:20, 15:25], 0.9)
    assert heat[:, :5].max() == 0 and heat[:, :, :10].max() == 0 and heat[:, 25:].max() == 0


def test_attention_share_metric():
    """Mass only in the box gives 1; a uniform map gives the box's area share; mass only outside gives 0."""
    h, w = 40, 50
    box = (10, 5, 30, 25)
    inside = np.zeros((h, w))
    inside[5:25, 10:30] = 0.7
    assert attention_share(inside, box) == pytest.approx(1.0)
    uniform = np.full((h, w), 0.5)
    assert attention_share(uniform, box) == pytest.approx(area_share(box, (w, h))) == pytest.approx(400 / 2000)
    outside = 1.0 - (inside > 0)
    assert attention_share(outside, box) == pytest.approx(0.0)
    frac = (10.5, 5.25, 29.5, 25.0)  # fractional boxes count fractional pixels
    assert attention_share(uniform, frac) == pytest.approx(19.0 * 19.75 / 2000)
    assert attention_share(uniform, (-10, -10, 100, 100)) == pytest.approx(1.0)
    assert np.isnan(attention_share(np.zeros((h, w)), box))
    with pytest.raises(ValueError):
        attention_share(-uniform, box)


def test_attention_share_bench_runs_on_a_tiny_benchmark(tiny_model, tmp_path, capsys):
    """bench/bench_attention_share.py measures a random model on a rendered benchmark's held-out clips: the uniform
    row is exactly the box's area share (lift 1), every share lies in [0, 1], and the JSON report is written."""
    import importlib.util
    import json

    from actionrec.synth import write_benchmark

    data = write_benchmark(tmp_path / "synth", clips_per_class=2, size=(64, 64), frames=12).out
    script = ROOT / "bench" / "bench_attention_share.py"
    spec = importlib.util.spec_from_file_location("bench_attention_share", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = tmp_path / "share.json"
    import torch

    threads = str(torch.get_num_threads())  # unchanged for the tests that follow
    argv = ["--data", str(data), "--model", str(tiny_model), "--max-videos", "4", "--threads", threads]
    argv += ["--out", str(report)]
    assert bench.main(argv) == 0
    rows = {r["block"]: r for r in json.loads(report.read_text())["rows"]}
    assert {"uniform", "mean", "layer1.0.attention.spatial.gate"} <= set(rows)
    assert rows["uniform"]["lift"] == pytest.approx(1.0)
    assert all(0.0 <= r["attention_share"] <= 1.0 and r["frames"] > 0 for r in rows.values())
    assert "| uniform" in capsys.readouterr().out
