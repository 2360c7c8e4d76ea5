"""The bench scripts' own logic (bench_motion, bench_table1, bench_fewshot, bench_onnx_conv, bench_zeroshot): the
frame rearrangements, the pairwise score, where Table 1's recipe comes from, its seeds' mean and sd, paired
differences and verdict, few-shot's --init rows, the 2-D form of a 3-D convolution, zero-shot scoring with the
label maps. Their end-to-end paths are the scripts' --quick runs."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys

import numpy as np
import pytest
from helpers import ROOT

BENCH = ROOT / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def motion():
    return _load("bench_motion")


@pytest.fixture(scope="module")
def table1():
    return _load("bench_table1")


def test_shuffle_keeps_every_frame_and_drops_the_order(motion):
    """A shuffled window holds exactly the same frames (the multiset), in another order, for a random window."""
    rng = np.random.default_rng(1)
    frames = np.arange(16)[:, None, None, None] * np.ones((1, 4, 5, 3), dtype=np.uint8)  # frame t is all t
    shuffled = motion.shuffle_frames(frames, rng)
    assert shuffled.shape == frames.shape
    order = shuffled[:, 0, 0, 0]
    assert sorted(order.tolist()) == list(range(16))
    assert order.tolist() != list(range(16))
    for t in range(16):
        np.testing.assert_array_equal(shuffled[t], frames[order[t]])


def test_reverse_plays_the_window_backwards(motion):
    """The reversed window is frame T-1 first, frame 0 last."""
    frames = np.random.default_rng(0).integers(0, 255, (8, 3, 3, 3), dtype=np.uint8)
    np.testing.assert_array_equal(motion.reverse_frames(frames, None), frames[[7, 6, 5, 4, 3, 2, 1, 0]])


def test_pair_accuracy_compares_only_the_two_classes(motion):
    """Only the videos of classes a and b count, and only p(true) against p(other class of the pair) decides:
    a third class that wins the argmax does not make a pair answer wrong."""
    a, b, c = 0, 1, 2
    probs = [
        np.array([[0.3, 0.1, 0.6], [0.2, 0.3, 0.5]]),  # class a: windows right, wrong; video mean a 0.25 > b 0.2
        np.array([[0.5, 0.4, 0.1], [0.5, 0.4, 0.1]]),  # class b: both windows wrong
        np.array([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1]]),  # class c: not part of the pair
    ]
    video, clip, n = motion.pair_accuracy(probs, np.array([a, b, c]), a, b)
    assert n == 2
    assert video == pytest.approx(0.5)
    assert clip == pytest.approx(0.25)


def test_table1_recipe_comes_from_the_base_model(table1, tmp_path):
    """The recipe and preprocessing are read from the base model's metadata; the other networks' sizes follow
    its width; a missing base model gives the documented fallback."""
    from actionrec.io.checkpoint import save_model
    from actionrec.model_meta import ModelMeta, Preprocessing
    from actionrec.networks import build

    recipe = {"batch_size": 12, "lr": 0.05, "warmup_epochs": 2.0, "hflip": False, "workers": 1, "seed": 3}
    recipe |= {"color_jitter": 0.3, "channel_shuffle": True, "crop_scales": [1.0, 0.9]}
    pre = Preprocessing(clip_len=8, frame_step=2, resize=40, crop=32)
    meta = ModelMeta("r3d10", {"width": 8}, ("a", "b"), pre, training={"recipe": recipe})
    path = save_model(tmp_path / "base.safetensors", build("r3d10", num_classes=2, width=8), meta)

    got = table1.base_recipe(path)
    assert (got.arch, got.width, got.clip_len, got.frame_step, got.resize, got.crop) == ("r3d10", 8, 8, 2, 40, 32)
    assert (got.batch_size, got.lr, got.warmup_epochs, got.hflip, got.seed) == (12, 0.05, 2.0, False, 3)
    assert (got.color_jitter, got.channel_shuffle, got.crop_scales) == (0.3, True, (1.0, 0.9))
    sizes = {c.key: c.arch_args for c in table1.contenders(got, quick=False)}
    assert sizes["r3d"] == {"width": 8, "attention": False}
    assert sizes["dense-att"]["growth"] == 6 and sizes["dense-att"]["attention"] is True
    assert sizes["c3d"] == {"width": 6, "hidden": 512}

    fallback = table1.base_recipe(tmp_path / "missing.safetensors")
    assert (fallback.width, fallback.crop, fallback.lr) == (16, 64, 0.1)
    assert "not found" in fallback.source


def test_table1_flags_runs_at_chance(table1):
    """A run whose final training accuracy is at chance is flagged as not having learned; one above it is not."""
    assert table1.at_chance(1 / 16, 16)
    assert not table1.at_chance(0.5, 16)


def _table1_row(key, seed, acc, attention):
    return {"key": key, "model": key, "seed": seed, "attention": attention, "video_acc": acc, "video_acc_se": 0.02,
            "clip_acc": acc, "params": 1e6, "gflops_per_clip": 0.5, "epochs": 3, "train_seconds": 60.0,
            "final_train_acc": 0.5, "lr": 0.01, "notes": [], "protocol": "p"}  # fmt: skip


TABLE1_PART = {"data": "d", "recipe": {"clip_len": 8, "frame_step": 3, "crop": 64, "resize": 64, "batch_size": 8,
               "lr": 0.01, "schedule": "cosine"}, "minutes_per_model": 5, "epochs_per_model": None,
               "clips_per_video": 5, "extra_train": [], "evaluation": "p", "test_videos": 400, "threads": 1,
               "quick": False, "seconds": 10.0}  # fmt: skip


def test_table1_merge_joins_parts_and_refuses_mixed_recipes(table1, tmp_path, capsys):
    """Parts run side by side over disjoint models (here from before --seeds: no seed in rows, the recipe's seed
    counts) become one table with the attention difference across parts; parts with different recipes, or a model
    and seed in two parts, are refused."""
    base = {**TABLE1_PART, "recipe": {**TABLE1_PART["recipe"], "seed": 0}}
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    old_row = {k: v for k, v in _table1_row("r3d", 0, 0.40, False).items() if k != "seed"}
    a.write_text(json.dumps({**base, "rows": [old_row]}))
    b.write_text(json.dumps({**base, "rows": [_table1_row("r3d-att", 0, 0.45, True)], "seconds": 20.0}))
    out = tmp_path / "table.json"
    assert table1.merge([a, b], out) == 0
    merged = json.loads(out.read_text())
    assert [(r["key"], r["seed"]) for r in merged["rows"]] == [("r3d", 0), ("r3d-att", 0)]
    assert merged["attention"]["r3d-att"]["diffs"] == [pytest.approx(0.05)]
    assert merged["seconds"] == 20.0 and "2 runs side by side" in capsys.readouterr().out
    c.write_text(json.dumps({**base, "minutes_per_model": 8, "rows": [_table1_row("c3d", 0, 0.3, None)]}))
    assert table1.merge([a, c], None) == 2
    assert table1.merge([a, a], None) == 2


def test_table1_merge_joins_parts_split_by_seed_and_by_model(table1, tmp_path, capsys):
    """Parts split by seeds and by models (their recipes differ only in the seed) join into every (model, seed)
    row once, in table order, with the seeds' union; the same model and seed in two parts is refused by name."""
    parts = {  # (seeds, models) per part
        "a": ([0, 1], ["r3d", "r3d-att"]),
        "b": ([2], ["r3d", "r3d-att"]),
        "c": ([0, 1, 2], ["dense", "dense-att"]),
    }
    acc = {"r3d": 0.40, "r3d-att": 0.45, "dense": 0.50, "dense-att": 0.48}
    paths = []
    for name, (seeds, models) in parts.items():
        rows = [_table1_row(k, s, acc[k] + s / 100, k.endswith("-att")) for s in seeds for k in models]
        recipe = {**TABLE1_PART["recipe"], "seed": seeds[0]}
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps({**TABLE1_PART, "recipe": recipe, "seeds": seeds, "rows": rows}))
    out = tmp_path / "table.json"
    assert table1.merge(paths, out) == 0
    merged = json.loads(out.read_text())
    assert merged["seeds"] == [0, 1, 2] and "seed" not in merged["recipe"]
    assert [(r["key"], r["seed"]) for r in merged["rows"]] == [
        (k, s) for k in ("r3d", "r3d-att", "dense", "dense-att") for s in (0, 1, 2)
    ]
    assert merged["attention"]["r3d-att"]["diffs"] == pytest.approx([0.05, 0.05, 0.05])
    assert merged["attention"]["dense-att"]["diffs"] == pytest.approx([-0.02, -0.02, -0.02])
    table = capsys.readouterr().out
    assert "| 3D ResNet: r3d-att - r3d | +5.0 | +5.0 | +5.0 |" in table
    assert "verdict, 3D DenseNet (dense-att - dense): attention worse by -2.0 points: real" in table

    again = tmp_path / "again.json"
    again.write_text(paths[1].read_text())
    assert table1.merge([*paths, again], None) == 2
    assert "r3d seed 2" in capsys.readouterr().err


def test_table1_summary_is_mean_and_sample_sd_over_seeds(table1):
    """A network's seeds become mean ± sample standard deviation (n - 1) of video and clip top-1 over the seeds
    that scored; a diverged seed is listed, not averaged; one seed keeps its binomial error and has no sd."""
    rows = [_table1_row("r3d", s, acc, False) for s, acc in ((0, 0.4), (1, 0.5), (2, 0.6))]
    rows.append({**_table1_row("r3d", 3, None, False), "clip_acc": None})
    rows.append(_table1_row("c3d", 0, 0.1, None))
    r3d, c3d = table1.summarize(rows)
    assert (r3d["key"], r3d["seeds"], r3d["n"], r3d["failed_seeds"]) == ("r3d", [0, 1, 2, 3], 3, [3])
    assert r3d["video_acc_mean"] == pytest.approx(0.5) and r3d["video_acc_sd"] == pytest.approx(0.1)
    assert r3d["clip_acc_mean"] == pytest.approx(0.5) and r3d["clip_acc_sd"] == pytest.approx(0.1)
    assert r3d["video_acc_se"] is None
    assert (c3d["n"], c3d["video_acc_sd"], c3d["video_acc_se"]) == (1, None, 0.02)


def test_table1_pairs_by_seed_and_states_the_verdict_rule(table1):
    """Differences pair the same seed (attention minus plain; a seed either network lacks is left out); the verdict
    is a paired two-sided t-test at 5 %: a steady gain is real, a same-sized gain with a large spread is not, one
    seed gives no verdict, equal scores on every seed are no difference."""
    plain = {0: 0.40, 1: 0.50, 2: 0.45, 3: 0.60}
    steady = {0: 0.45, 1: 0.56, 2: 0.49}  # +5, +6, +4 points: t = 5 / (1 / sqrt 3) = 8.7 > 4.30
    noisy = {0: 0.55, 1: 0.48, 2: 0.47}  # +15, -2, +2 points: mean +5, sd 8.9, |t| = 0.97
    rows = [_table1_row("r3d", s, a, False) for s, a in plain.items()]
    rows += [_table1_row("r3d-att", s, a, True) for s, a in steady.items()]
    rows += [_table1_row("r3d-att34", s, a, True) for s, a in noisy.items()]
    att = table1.paired(rows)
    assert set(att) == {"r3d-att", "r3d-att34"}
    steady_row, noisy_row = att["r3d-att"], att["r3d-att34"]
    assert steady_row["seeds"] == [0, 1, 2] and steady_row["diffs"] == pytest.approx([0.05, 0.06, 0.04])
    assert steady_row["mean"] == pytest.approx(0.05) and steady_row["sd"] == pytest.approx(0.01)
    assert steady_row["t"] == pytest.approx(5 * 3**0.5) and steady_row["critical"] == pytest.approx(4.303)
    assert steady_row["real"] and steady_row["verdict"].startswith("attention better by +5.0 points: real")
    assert noisy_row["mean"] == pytest.approx(0.05) and not noisy_row["real"]
    assert noisy_row["verdict"].startswith("no real difference at 3 seeds")

    assert table1.verdict([0.05])["real"] is None and "no verdict" in table1.verdict([0.05])["verdict"]
    same = table1.verdict([0.0, 0.0, 0.0])
    assert same["real"] is False and same["verdict"] == "no difference on any of 3 seeds"
    equal_gain = table1.verdict([0.02, 0.02])
    assert equal_gain["real"] and equal_gain["t"] is None  # infinite t: JSON holds None
    assert table1.verdict([-0.05, -0.06, -0.04])["verdict"].startswith("attention worse")
    assert table1.t_critical(2) == pytest.approx(4.303) and table1.t_critical(100) == pytest.approx(2.042)


@pytest.fixture(scope="module")
def fewshot():
    before = list(sys.path)
    try:
        yield _load("bench_fewshot")  # it puts bench/ on sys.path for its helpers
    finally:
        sys.path[:] = before


def test_fewshot_init_files_replace_the_shipped_start_one_row_each(fewshot):
    """Without --init the starts are today's (shipped = the installed default, then scratch); --init's files replace
    the shipped start, a row each labelled NAME or the file's stem (folder/stem where stems collide), and scratch
    runs only when --starts names it."""
    assert fewshot.plan_starts(None, None) == [("shipped", "default"), ("scratch", None)]
    assert fewshot.plan_starts(None, ["scratch"]) == [("scratch", None)]
    assert fewshot.plan_starts(["a/plain.safetensors", "att=b/x.safetensors"], None) == [
        ("plain", "a/plain.safetensors"),
        ("att", "b/x.safetensors"),
    ]
    assert fewshot.plan_starts(["runs/p/last.safetensors", "runs/a/last.safetensors"], ["scratch", "shipped"]) == [
        ("scratch", None),
        ("p/last", "runs/p/last.safetensors"),
        ("a/last", "runs/a/last.safetensors"),
    ]
    assert fewshot.parse_inits(["runs/x=1/m.safetensors"]) == [("m", "runs/x=1/m.safetensors")]  # a folder, no NAME
    for clash in (["x=a.safetensors", "x=b.safetensors"], ["scratch=a.safetensors"]):
        with pytest.raises(ValueError, match="NAME=PATH"):
            fewshot.parse_inits(clash)


def test_fewshot_missing_init_file_stops_before_any_training(fewshot, tmp_path, capsys):
    """A --init file that does not exist is refused up front (exit 2, the flag named), before any run trains."""
    missing = tmp_path / "missing.safetensors"
    assert fewshot.main(["--data", str(tmp_path), "--init", f"att={missing}"]) == 2
    assert "init" in capsys.readouterr().err


def test_frame_major_conv2d_is_the_same_convolution():
    """bench_onnx_conv's 2-D form (frame-major clip, temporal taps stacked into channels) computes the 3x3x3
    convolution + ReLU it is compared against."""
    import torch

    sys.path.insert(0, str(BENCH))  # the script imports its sibling _timing
    try:
        conv_bench = _load("bench_onnx_conv")
    finally:
        sys.path.remove(str(BENCH))
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(6, 5, 3, padding=1, bias=False)
    x = torch.randn(2, 6, 4, 7, 9)
    with torch.no_grad():
        expected = conv_bench.Conv3dRelu(conv)(x)  # (N, C, T, H, W)
        got = conv_bench.FrameConv2dRelu(conv)(x.permute(0, 2, 1, 3, 4).contiguous())  # (N, T, C, H, W)
    torch.testing.assert_close(got.permute(0, 2, 1, 3, 4), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_scale_bench_quick_run_compares_ray_with_predict(tmp_path):
    """bench_scale.py --quick labels its generated videos with plain predict and with Ray Data (1 and 2 actors) and
    finds Ray's records equal to predict's, video for video; skipped without the ray extra."""
    import subprocess

    pytest.importorskip("ray", reason="the ray extra is not installed")
    res = subprocess.run(
        [sys.executable, str(BENCH / "bench_scale.py"), "--quick", "--cache", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [line for line in res.stdout.splitlines() if line.startswith("| ") and "vs predict" not in line]
    assert len(rows) == 3, res.stdout  # predict, Ray 1 actor, Ray 2 actors
    assert "video for video: all equal" in res.stdout, res.stdout


@pytest.mark.slow
def test_watch_bench_quick_run_reports_latency_drops_and_memory(tmp_path):
    """bench_watch.py --quick plays a short stream in real time through watch and prints the label latency
    percentiles, the frames dropped and the peak memory."""
    import subprocess

    res = subprocess.run(
        [sys.executable, str(BENCH / "bench_watch.py"), "--quick", "--cache", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "label latency" in res.stdout and "p95" in res.stdout and "peak RSS" in res.stdout, res.stdout


ZEROSHOT_SETS = {  # the real sets' class folders, as in ../shared/data/real, plus a class no label map names
    "weizmann4": ("bend", "jack", "wave1", "wave2", "run"),
    "ud810": ("a1_arms_raise_sideways", "a2_one_hand_wave", "a3_both_arms_raise_front"),
}


@pytest.fixture(scope="module")
def zeroshot():
    sys.path.insert(0, str(BENCH))  # the script imports its sibling _timing
    try:
        yield _load("bench_zeroshot")
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def zeroshot_data(tmp_path_factory):
    """A tiny stand-in for ../shared/data/real: one generated 1.6 s video per class folder."""
    from helpers import moving_square_frames, write_cv2_video

    root = tmp_path_factory.mktemp("real")
    for name, classes in ZEROSHOT_SETS.items():
        for i, cls in enumerate(classes):
            (root / name / cls).mkdir(parents=True)
            write_cv2_video(root / name / cls / f"{cls}_0.avi", moving_square_frames(40, 64, 48, seed=i), 25.0, "MJPG")
    return root


def _favouring_model(path, labels: tuple[str, ...], favoured: str):
    """A tiny random r3d10 whose classifier answers `favoured` for every window (bias only, zero weights)."""
    import torch

    from actionrec.io.checkpoint import save_model
    from actionrec.model_meta import ModelMeta, Preprocessing
    from actionrec.networks import build

    meta = ModelMeta("r3d10", {"width": 4}, labels, Preprocessing(clip_len=4, frame_step=1, resize=36, crop=32))
    model = build(meta.arch, num_classes=len(labels), **meta.arch_args).eval()
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.zero_()
        model.fc.bias[labels.index(favoured)] = 10.0
    return save_model(path, model, meta)


@pytest.mark.parametrize("favoured", ["wave_one_hand", "no_action"])
def test_zeroshot_bench_scores_every_video_with_the_shipped_label_maps(
    zeroshot, zeroshot_data, tmp_path, capsys, favoured
):
    """bench_zeroshot.py on a generated stand-in for the real sets, with a model that always answers one class:
    every video of every set is scored (unmapped classes left out and counted), a class is right exactly when its
    label map names that class, each miss is reported as going to it, `no_action` answers are counted apart, and
    the markdown (first line: model file and CPU) and the JSON agree."""
    import json

    from _timing import cpu_name

    from actionrec.scoring import read_label_map

    labels = ("wave_both_hands", "wave_one_hand", "jumping_jack", "bend", "clap")
    labels += ("raise_arms_side", "lower_arms_side", "raise_arms_front", "lower_arms_front", "no_action")
    model = _favouring_model(tmp_path / "m.safetensors", labels, favoured)
    out = tmp_path / "zs.json"
    argv = ["-m", str(model), "--data", str(zeroshot_data), "-K", "2", "--backend", "torch", "--json", str(out)]
    assert zeroshot.main(argv) == 0
    stdout, stderr = capsys.readouterr()
    results = json.loads(out.read_text())
    assert [s["set"] for s in results["sets"]] == ["weizmann4", "ud810"]
    assert stdout.splitlines()[0].startswith(f"model {model} (torch") and cpu_name() in stdout.splitlines()[0]
    assert "weizmann4 4/4" in stderr and "ud810 3/3" in stderr  # progress per scored video (not the unmapped one)
    for row in results["sets"]:
        mapping = read_label_map(zeroshot.LABEL_MAPS / f"{row['set']}.csv", labels)
        mapped = [c for c in ZEROSHOT_SETS[row["set"]] if c in mapping]
        assert row["left_out"] == {c: 1 for c in ZEROSHOT_SETS[row["set"]] if c not in mapping}
        assert row["videos"] == len(mapped) and row["clips"] >= row["videos"]
        right = {c for c in mapped if favoured in mapping[c]}
        assert row["video_correct"] == len(right)
        assert row["video_accuracy"] == pytest.approx(len(right) / len(mapped))
        assert row["no_action"] == (len(mapped) if favoured == "no_action" else 0)
        for c in row["per_class"]:
            assert c["counts_as_right"] == list(mapping[c["class"]])
            assert c["video_correct"] == (c["class"] in right)
            assert c["misses"] == ({} if c["class"] in right else {favoured: 1})
            line = f"| {row['set']} | {c['class']} | {' or '.join(c['counts_as_right'])} | {c['video_correct']}/1 "
            assert line in stdout
        assert f"| {row['set']} | {row['videos']} | " in stdout
    assert "no_action answers" in stdout


def test_zeroshot_bench_without_real_data_says_so_and_exits_cleanly(zeroshot, tmp_path, capsys):
    """Where the real data folder is absent the bench prints one line saying so on stderr, nothing on stdout, and
    exits 0 without loading a model."""
    assert zeroshot.main(["--data", str(tmp_path / "absent"), "-m", str(tmp_path / "no-model.safetensors")]) == 0
    stdout, stderr = capsys.readouterr()
    assert stdout == "" and "no real data here" in stderr


def test_zeroshot_label_maps_fit_the_shipped_model(zeroshot):
    """The shipped label maps name, for each real class, the shipped model's classes the issue counts as right."""
    from actionrec.hub import resolve_model
    from actionrec.io.checkpoint import read_meta
    from actionrec.scoring import read_label_map

    labels = read_meta(resolve_model("default")).labels
    assert read_label_map(zeroshot.LABEL_MAPS / "weizmann4.csv", labels) == {
        "wave2": ("wave_both_hands",), "wave1": ("wave_one_hand",), "jack": ("jumping_jack",), "bend": ("bend",)
    }  # fmt: skip
    assert read_label_map(zeroshot.LABEL_MAPS / "ud810.csv", labels) == {
        "a1_arms_raise_sideways": ("raise_arms_side", "lower_arms_side"),
        "a2_one_hand_wave": ("wave_one_hand",),
        "a3_both_arms_raise_front": ("raise_arms_front", "lower_arms_front"),
    }


@pytest.fixture(scope="module")
def ablation():
    sys.path.insert(0, str(BENCH))
    try:
        yield _load("bench_ablation")
    finally:
        sys.path.remove(str(BENCH))


def test_ablation_rows_switch_off_one_lever_each(ablation):
    """Each row of the renderer ablation is the shipped renderer with only its own fields changed, and its stage 1
    is the plain scene with the row's figure and motion levers (so the appearance row never sees shaded figures)."""
    from actionrec.synth import DEFAULT_CONFIG, SynthConfig

    full = dataclasses.asdict(DEFAULT_CONFIG)
    assert ablation.row_config("full") == DEFAULT_CONFIG
    for row, (_, fields) in ablation.ROWS.items():
        changed = {k for k, v in dataclasses.asdict(ablation.row_config(row)).items() if full[k] != v}
        assert changed == set(fields), row
    assert ablation.row_config("appearance", plain=True) == dataclasses.replace(SynthConfig.plain(), appearance=False)
    assert ablation.row_config("scenes", plain=True) == SynthConfig.plain()


def test_ablation_table_reports_mean_and_spread_over_seeds(ablation):
    """Seeds of one row become one line with mean ± sample standard deviation; both sets are pooled by videos."""

    def result(seed, w, u, synthetic):
        real = {"weizmann4": {"right": w, "videos": 10}, "ud810": {"right": u, "videos": 10}}
        return {"row": "full", "off": "nothing", "seed": seed, "attention": True, "real": real, "synthetic": synthetic}

    table = ablation.markdown([result(0, 6, 4, 0.5), result(1, 8, 6, 0.7)])
    line = table.splitlines()[-1]
    assert line.startswith("| full | nothing | attention | 2 |")
    assert "70.0 ± 14.1" in line and "50.0 ± 14.1" in line and "60.0 ± 14.1" in line and "60.0 ± 14.1" in line


@pytest.mark.slow
def test_ablation_quick_run_renders_trains_and_scores_a_row(ablation, zeroshot_data, tmp_path, capsys):
    """The whole path of one row on tiny data: both stages train, the model is scored on the (stand-in) real sets
    and its held-out actors, and the table and JSON carry the row."""
    out = tmp_path / "ablation.json"
    assert ablation.main(["--quick", "--rows", "motion", "--real", str(zeroshot_data), "--out", str(out)]) == 0
    (result,) = json.loads(out.read_text())["results"]
    assert result["row"] == "motion" and set(result["real"]) == {"weizmann4", "ud810"}
    assert 0.0 <= result["synthetic"] <= 1.0
    assert "| motion | one motion style per class | attention | 1 |" in capsys.readouterr().out
