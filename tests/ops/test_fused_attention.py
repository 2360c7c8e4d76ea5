"""The fused CPU attention kernels: same numbers as the plain-torch network on every shape a block sees, at inference
(contiguous or channels_last_3d fp32 CPU tensors; bf16 ones to bf16 rounding, portable and AVX-512 BF16) and in
channels_last_3d training (output and gradients), applied from outside by a module swap that keeps the state dict,
built once and cached, and a clean fallback where they can't be built."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from actionrec.samples import path as sample_path
from helpers import ROOT

from actionrec.errors import ActionrecError
from actionrec.io.checkpoint import save_model
from actionrec.model_meta import ModelMeta, Preprocessing
from actionrec.networks import build
from actionrec.networks.attention import Attention3d, capture_spatial_maps
from actionrec.networks.resnet import AddReLU, BasicBlock
from actionrec.ops import FusedAttentionMerge, fuse_attention, unfuse_attention
from actionrec.ops import fused_attention as kernels
from actionrec.ops.fused_blocks import attention_add_relu
from actionrec.runtime.backends import BackendKind, Precision, TorchBackend
from actionrec.runtime.pipeline import load

_SMALL = Preprocessing(clip_len=4, frame_step=1, resize=36, crop=32)  # a quick model for whole-video tests
needs_compiler = pytest.mark.skipif(kernels._compiler() is None, reason="no C compiler: fused kernels not built")


@pytest.fixture
def fresh_library():
    """Forget the loaded library before and after the test, so that environment changes take effect."""
    kernels.library.cache_clear()
    yield
    kernels.library.cache_clear()


def _attention(channels: int, seed: int = 0) -> Attention3d:
    torch.manual_seed(seed)
    att = Attention3d(channels, reduction=4, spatial_kernel=(3, 7, 7)).eval()
    for conv in (att.channel.fc1, att.channel.fc2, att.spatial.gate.conv):  # gates far from 0.5: a real test
        torch.nn.init.normal_(conv.weight, std=0.5)
    return att


def _both(att: Attention3d, x: torch.Tensor, identity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fused, torch) results of the same block on the same input."""
    with torch.inference_mode():
        fused = attention_add_relu(x.clone(), identity, att)  # the fused path writes its result over its input
        plain = torch.relu(identity + att(x))  # the network's own formulation: the block's add and ReLU
    return fused, plain


@needs_compiler
@pytest.mark.parametrize(
    "shape",
    [(2, 16, 8, 32, 32), (1, 64, 2, 4, 4), (3, 24, 3, 17, 19), (4, 128, 1, 2, 2), (1, 8, 5, 23, 29)],
)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last_3d])
def test_fused_block_equals_the_torch_formulation(shape, layout, monkeypatch):
    """relu(identity + Ms * (Mc * x)) from the kernels matches torch to float rounding, in both memory layouts,
    and the kernels ran."""
    calls = []
    original = kernels.gate_add_relu
    monkeypatch.setattr(kernels, "gate_add_relu", lambda *a, **k: calls.append(1) or original(*a, **k))
    att = _attention(shape[1])
    x = torch.randn(shape).contiguous(memory_format=layout)
    identity = torch.randn(shape).contiguous(memory_format=layout)
    fused, plain = _both(att, x, identity)
    assert calls, "the fused path was not taken"
    assert fused.is_contiguous(memory_format=layout)
    assert (fused >= 0).all()
    # float rounding: the kernels' 7x7 convolution sums in another order than torch's (no less exactly)
    torch.testing.assert_close(fused, plain, atol=5e-6, rtol=1e-5)


@needs_compiler
@pytest.mark.parametrize("kernel", [(1, 7, 7), (3, 7, 7), (3, 3, 5)])
def test_each_kernel_matches_its_torch_expression(kernel):
    """channel_gate = the ChannelAttention gate (pools + shared MLP + sigmoid); spatial_pool = mean/amax over C of
    Mc * x; spatial_conv = the SpatialGate's zero-padded conv, for 2D and 3D kernels, at the borders too."""
    torch.manual_seed(1)
    att = Attention3d(20, reduction=4, spatial_kernel=kernel).eval()
    for conv in (att.channel.fc1, att.channel.fc2, att.spatial.gate.conv):
        torch.nn.init.normal_(conv.weight, std=0.5)
    x = torch.randn(3, 20, 4, 9, 11)
    with torch.inference_mode():
        mc = kernels.channel_gate(x, att.channel.fc1.weight, att.channel.fc2.weight)
        torch.testing.assert_close(mc, att.channel.gate(x))
        y = x * mc
        pooled = torch.cat([y.mean(1, keepdim=True), y.amax(1, keepdim=True)], dim=1)
        torch.testing.assert_close(kernels.spatial_pool(x, mc), pooled)
        torch.testing.assert_close(
            kernels.spatial_conv(pooled, att.spatial.gate.conv.weight), att.spatial.gate.conv(pooled)
        )
    with pytest.raises(ValueError, match="odd"):
        kernels.spatial_conv(pooled, torch.zeros(1, 2, 1, 4, 4))


@needs_compiler
@pytest.mark.parametrize(("threads", "layout"), [(1, torch.contiguous_format), (2, torch.channels_last_3d)])
def test_whole_network_gives_the_same_logits(threads, layout):
    """A shipped-size r3d10 with attention: fused and torch logits agree, on one thread and on several, in
    both memory layouts."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model = build("r3d10", num_classes=16, width=16).eval().to(memory_format=layout)
        clips = torch.randn(3, 3, 8, 64, 64).contiguous(memory_format=layout)
        with torch.inference_mode():
            plain = model(clips)
            fused = fuse_attention(model)(clips)
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)


@needs_compiler
def test_not_used_for_training_or_other_dtypes_or_mixed_layouts():
    """With gradients on, in fp16 or fp64, with mixed dtypes, mixed or strided layouts the torch formulation runs
    (kernels.usable False); fp32 and bf16 pairs take the kernels."""
    x = torch.randn(2, 8, 2, 6, 6)
    assert not kernels.usable(x, x)  # gradients enabled
    with torch.inference_mode():
        cl = x.contiguous(memory_format=torch.channels_last_3d)
        assert kernels.usable(x, x) and kernels.usable(x.bfloat16(), x.bfloat16())
        assert not kernels.usable(cl, x)
        assert not kernels.usable(x[..., ::2], x[..., ::2])
        assert not kernels.usable(x.half(), x.half())
        assert not kernels.usable(x.double(), x.double())
        assert not kernels.usable(x.bfloat16(), x)  # dtypes differ
        assert not kernels.usable(x, x[:, :, :1])  # shapes differ


def test_gradients_flow_in_training_mode():
    """Contiguous or fp16 training takes the torch formulation (kernels.trainable False), and the gates' weights get
    gradients; channels_last_3d fp32 and bf16 (bf16 autocast) training take the kernels."""
    att = _attention(8).train()
    x, identity = torch.randn(2, 8, 2, 6, 6, requires_grad=True), torch.randn(2, 8, 2, 6, 6)
    assert not kernels.trainable(x, identity)
    cl = x.detach().contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 training: the kernels, for bf16 activations too
        assert kernels.trainable(cl, cl) and kernels.trainable(cl.bfloat16(), cl.bfloat16())
        assert not kernels.trainable(cl.half(), cl.half()) and not kernels.trainable(cl.bfloat16(), cl)
    attention_add_relu(x, identity, att).sum().backward()
    assert att.channel.fc1.weight.grad is not None and att.spatial.gate.conv.weight.grad.abs().sum() > 0


def _grads(att: Attention3d, x: torch.Tensor, identity: torch.Tensor, grad: torch.Tensor, fused: bool) -> list:
    """The block's output and the gradients of x, identity and the three gate weights for upstream `grad`."""
    for p in att.parameters():
        p.grad = None
    x, identity = x.detach().clone().requires_grad_(), identity.detach().clone().requires_grad_()
    out = attention_add_relu(x, identity, att) if fused else torch.relu(identity + att(x))
    out.backward(grad)
    return [out.detach(), x.grad, identity.grad, *(p.grad for p in att.parameters())]


@needs_compiler
@pytest.mark.parametrize("shape", [(2, 16, 8, 32, 32), (3, 24, 3, 17, 19), (4, 128, 1, 2, 2), (1, 8, 5, 23, 29)])
def test_training_kernels_give_torchs_output_and_gradients(shape, monkeypatch):
    """In channels_last_3d training the kernels' forward and backward give torch's output and the gradients of the
    input, the shortcut and all three gate weights, to float rounding, and the kernels ran."""
    calls = []
    original = kernels.attention_residual
    monkeypatch.setattr(kernels, "attention_residual", lambda *a: calls.append(1) or original(*a))
    att = _attention(shape[1]).train()
    x = torch.randn(shape).contiguous(memory_format=torch.channels_last_3d)
    identity = torch.randn(shape).contiguous(memory_format=torch.channels_last_3d)
    grad = torch.randn(shape)
    fused = _grads(att, x, identity, grad, fused=True)
    assert calls, "the training kernels did not run"
    plain = _grads(att, x, identity, grad, fused=False)
    for name, a, b in zip(["out", "x", "identity", "fc1", "fc2", "spatial conv"], fused, plain, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5 * b.abs().max().item(), rtol=1e-4, msg=name)


@pytest.mark.slow
@needs_compiler
def test_training_a_network_with_the_kernels_matches_torch():
    """Two SGD steps of a whole channels_last_3d network give the same loss and weights with the kernels on and off."""
    results = []
    for fused in (True, False):
        torch.manual_seed(0)
        net = build("r3d10", num_classes=5, width=8).train().to(memory_format=torch.channels_last_3d)
        if fused:
            fuse_attention(net)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        clips = torch.randn(2, 3, 4, 32, 32).contiguous(memory_format=torch.channels_last_3d)
        losses = []
        for _ in range(2):
            loss = torch.nn.functional.cross_entropy(net(clips), torch.tensor([1, 3]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        results.append((losses, [p.detach().clone() for p in net.parameters()]))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-4)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)


def test_spatial_maps_captured_on_the_plain_network():
    """Explain's hooks see every spatial map of the plain network (which has no other code path), and hooking does
    not change its output."""
    torch.manual_seed(0)
    model = build("r3d10", num_classes=4, width=8).eval()
    clips = torch.randn(1, 3, 4, 32, 32)
    with torch.inference_mode():
        unhooked = model(clips)
        with capture_spatial_maps(model) as maps:
            hooked = model(clips)
    assert len(maps) == 4 and all(((m >= 0) & (m <= 1)).all() for m in maps.values())
    assert torch.equal(hooked, unhooked)


def test_the_swap_keeps_parameters_and_state_dict_and_undoes():
    """fuse_attention swaps exactly the blocks with attention, shares their parameters (no copy), keeps every
    state-dict name and tensor, and unfuse_attention gives back plain blocks with the same output."""
    torch.manual_seed(0)
    model = build("r3d18", num_classes=3, width=8, attention_stages=(3, 4)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = {id(p) for p in model.parameters()}
    clips = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        plain = model(clips)
        fuse_attention(model)
        merges = [m.merge for m in model.modules() if isinstance(m, BasicBlock)]
        assert len(merges) == 8  # every block stays the same BasicBlock; only the merge of those with attention
        assert [type(m) for m in merges] == [AddReLU] * 4 + [FusedAttentionMerge] * 4  # stages 3 and 4 swapped
        assert {id(p) for p in model.parameters()} == params
        assert model.state_dict().keys() == before.keys()
        assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
        torch.testing.assert_close(model(clips), plain, atol=1e-5, rtol=1e-5)
        unfuse_attention(model)
        assert not any(isinstance(m, FusedAttentionMerge) for m in model.modules())
        assert torch.equal(model(clips), plain)


@needs_compiler
def test_built_once_then_loaded_from_cache(tmp_path, monkeypatch, fresh_library):
    """The first use compiles into the cache folder; the next process loads that file without compiling."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kernels.library() is not None
    built = list((tmp_path / "actionrec" / "kernels").glob("attention-*.so"))
    assert len(built) == 1
    kernels.library.cache_clear()
    monkeypatch.setattr(kernels, "_compile", lambda *a: pytest.fail("compiled again"))
    assert kernels.library() is not None


def test_no_compiler_falls_back_cleanly(tmp_path, monkeypatch, fresh_library):
    """Without a compiler the library is None, no error is raised, and blocks compute with torch."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    assert kernels.library() is None
    att = _attention(8)
    x, identity = torch.randn(2, 8, 2, 6, 6), torch.randn(2, 8, 2, 6, 6)
    with torch.inference_mode():
        assert not kernels.usable(x, identity)
        out = attention_add_relu(x.clone(), identity, att)
        expected = torch.relu(identity + att.spatial(att.channel(x)))
    torch.testing.assert_close(out, expected)


def test_switched_off_by_environment(monkeypatch, fresh_library):
    """ACTIONREC_NO_FUSED=1 turns the kernels off."""
    monkeypatch.setenv(kernels.DISABLE_ENV, "1")
    assert kernels.library() is None


@pytest.mark.slow  # builds the library again (C compilation): the full suite runs it
@needs_compiler
def test_unwritable_cache_builds_once_per_process_and_says_so(tmp_path, monkeypatch, fresh_library, caplog):
    """A cache location that can't be created (a file where the folder should be): the kernels are built once, in
    a temporary folder, with one warning naming the cache, instead of three failed builds thrown away."""
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    builds = []
    real = kernels._compile
    monkeypatch.setattr(kernels, "_compile", lambda *a: builds.append(a) or real(*a))
    with caplog.at_level("WARNING", logger="actionrec.ops.fused_attention"):
        assert kernels.library() is not None and kernels.library() is not None
    assert len(builds) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and str(blocker) in warnings[0]


@needs_compiler
@pytest.mark.parametrize(
    "damage",
    ["truncated", pytest.param("empty", marks=pytest.mark.slow), pytest.param("garbage", marks=pytest.mark.slow)],
)
def test_a_damaged_cached_library_is_rebuilt_not_loaded(tmp_path, monkeypatch, fresh_library, damage):
    """A cached library cut short (which used to kill fp32 runs with SIGBUS), emptied or overwritten fails its
    check and is built again; the rebuilt one passes it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kernels.library() is not None
    (path,) = (tmp_path / "actionrec" / "kernels").glob("attention-*.so")
    data = path.read_bytes()
    damaged = tmp_path / "damaged.so"  # a new file put in its place: this process still maps the old one
    damaged.write_bytes({"truncated": data[:20000], "empty": b"", "garbage": b"\x7fELF" + bytes(len(data) - 4)}[damage])
    os.replace(damaged, path)
    assert not kernels._verified(path)
    kernels.library.cache_clear()
    builds = []
    real = kernels._compile
    monkeypatch.setattr(kernels, "_compile", lambda *a: builds.append(a) or real(*a))
    assert kernels.library() is not None and len(builds) == 1 and kernels._verified(path)


@pytest.mark.slow
@needs_compiler
def test_truncated_cached_library_does_not_kill_predict(tmp_path):
    """The reported crash, as a user meets it: a cached library cut to 20,000 bytes, then an fp32 predict in a new
    process: exit 0 with its results, no Bus error."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    sample = ROOT / "samples" / "punch.mp4"
    cmd = [sys.executable, "-m", "actionrec", "predict", str(sample), "--precision", "fp32", "--format", "json"]
    cmd += ["--backend", "torch"]  # a short clip's `auto` runs ONNX Runtime, which builds no kernels
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    (path,) = (tmp_path / "actionrec" / "kernels").glob("attention-*.so")
    path.write_bytes(path.read_bytes()[:20000])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["videos"][0]["label"] == "punch"


@pytest.mark.slow  # builds the library again (C compilation): the full suite runs it
@needs_compiler
def test_a_compiler_with_arguments_works(tmp_path, monkeypatch, fresh_library):
    """CC may be a command line (`ccache gcc`): here `env cc`, split like a shell and run."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", "env " + (shutil.which("cc") or shutil.which("gcc")))
    assert kernels.library() is not None


@pytest.mark.parametrize(("width", "channels_last"), [(16, False), (32, True)])
def test_backend_layout_follows_width_and_keeps_the_logits(width, channels_last):
    """The torch back end runs wide fp32 ResNets in channels_last_3d (faster there) and narrow ones contiguous;
    either way its logits equal the plain module's."""
    torch.manual_seed(0)
    model = build("r3d10", num_classes=5, width=width).eval()
    meta = ModelMeta(arch="r3d10", arch_args={"width": width}, labels=tuple("abcde"))
    clips = np.random.default_rng(0).standard_normal((2, 3, 4, 32, 32)).astype(np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(clips)).numpy()
    backend = TorchBackend(model, meta, precision=Precision.fp32)
    assert backend.channels_last is channels_last
    np.testing.assert_allclose(backend(clips), expected, atol=1e-4, rtol=1e-4)


@needs_compiler
def test_default_predict_path_runs_the_fused_kernels(monkeypatch):
    """The torch back end at fp32 (what `predict` uses on a CPU without native bf16) goes through the kernels, once
    per attention block."""
    calls = []
    original = kernels.gate_add_relu
    monkeypatch.setattr(kernels, "gate_add_relu", lambda *a, **k: calls.append(1) or original(*a, **k))
    torch.manual_seed(0)
    model = build("r3d10", num_classes=3, width=8).eval()
    meta = ModelMeta(arch="r3d10", arch_args={"width": 8}, labels=("a", "b", "c"))
    backend = TorchBackend(model, meta, precision=Precision.fp32)
    logits = backend(np.zeros((2, 3, 4, 32, 32), np.float32))
    assert logits.shape == (2, 3) and len(calls) == 4  # r3d10: one block per stage


@needs_compiler
def test_kernels_refuse_what_they_would_read_out_of_bounds():
    """Each kernel checks what it reads by pointer: a strided or wrongly shaped tensor, another dtype or a gate of
    the wrong size is a ValueError naming the kernel, before any C code runs."""
    x = torch.randn(2, 8, 2, 6, 6)
    w1, w2 = torch.randn(2, 8, 1, 1, 1), torch.randn(8, 2, 1, 1, 1)
    gate, smap = torch.rand(2, 8, 1, 1, 1), torch.rand(2, 1, 2, 6, 6)
    bad = [
        (lambda: kernels.channel_gate(x[..., ::2], w1, w2), "channel_gate: x"),
        (lambda: kernels.channel_gate(x.double(), w1, w2), "channel_gate: x"),
        (lambda: kernels.channel_gate(x, w1[:, :7], w2), "channel_gate: w1"),
        (lambda: kernels.spatial_pool(x, gate[:1]), "spatial_pool: gate"),
        (lambda: kernels.gate_add_relu(x, gate, smap[..., :3], x), "gate_add_relu: smap"),
        (lambda: kernels.gate_add_relu(x, gate, smap, x[:1]), "gate_add_relu: identity"),
        (
            lambda: kernels.gate_add_relu(x, gate, smap, x.contiguous(memory_format=torch.channels_last_3d)),
            "gate_add_relu: identity",
        ),
        (lambda: kernels.spatial_conv(torch.rand(1, 2, 2, 6, 6), torch.rand(1, 2, 1, 4, 4)), "spatial_conv"),
        (lambda: kernels.channel_gate(x.half(), w1, w2), "channel_gate: x"),
        (lambda: kernels.spatial_pool(x.double(), gate), "spatial_pool: x"),
        (lambda: kernels.gate_add_relu(x.half(), gate, smap, x.half()), "gate_add_relu: x"),
        (lambda: kernels.gate_add_relu(x.bfloat16(), gate, smap, x), "gate_add_relu: identity must be bfloat16"),
        (lambda: kernels.gate_add_relu(x, gate, smap, x.bfloat16()), "gate_add_relu: identity must be float32"),
        (lambda: kernels.gate_add_relu(x.bfloat16(), gate.bfloat16(), smap, x.bfloat16()), "gate_add_relu: gate"),
        (lambda: kernels.spatial_pool(x.bfloat16(), gate.bfloat16()), "spatial_pool: gate"),
        (lambda: kernels.channel_gate(x.bfloat16(), w1.bfloat16(), w2), "channel_gate: w1"),
    ]
    for call, message in bad:
        with pytest.raises(ValueError, match=message):
            call()


@pytest.mark.slow  # builds the library again (C compilation): the full suite runs it
@needs_compiler
def test_kernels_are_installed_when_the_cache_and_tmpdir_are_on_different_file_systems(
    tmp_path, monkeypatch, fresh_library, caplog
):
    """A rename from the temporary folder into the cache fails with EXDEV when they lie on different file systems
    (simulated: os.replace refuses any rename out of the cache folder's tree); the build runs inside the cache
    folder, so the library is installed there and loaded, with no warning."""
    cache, tmp = tmp_path / "cache", tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if not Path(src).resolve().is_relative_to(cache.resolve()) and Path(dst).resolve().is_relative_to(cache):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    with caplog.at_level("WARNING", logger="actionrec.ops.fused_attention"):
        assert kernels.library() is not None
    (built,) = (cache / "actionrec" / "kernels").glob("attention-*.so")
    assert kernels._verified(built) and not [r for r in caplog.records if r.levelname == "WARNING"]
    assert [p.name for p in (cache / "actionrec" / "kernels").iterdir() if p.name.startswith(".")] == []


def test_a_fallback_is_one_warning_per_process(tmp_path, monkeypatch, fresh_library, caplog):
    """A compiler that fails every build (three sets of flags) falls back to torch ops with ONE warning that says so
    and why, however often the blocks ask for the kernels; no compiler at all is one warning too."""
    failing = tmp_path / "cc"
    failing.write_text("#!/bin/sh\necho 'cc: error: out of licences' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", str(failing))
    x, identity = torch.randn(1, 8, 2, 6, 6), torch.randn(1, 8, 2, 6, 6)
    with caplog.at_level("WARNING", logger="actionrec.ops.fused_attention"), torch.inference_mode():
        for _ in range(5):
            assert not kernels.usable(x, identity)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "torch ops" in warning and "out of licences" in warning
    caplog.clear()
    kernels.library.cache_clear()
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with caplog.at_level("WARNING", logger="actionrec.ops.fused_attention"):
        assert kernels.library() is None and kernels.library() is None
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 1


@pytest.mark.slow
@needs_compiler
def test_unwritable_cache_leaves_no_folder_in_the_temporary_folder(tmp_path, monkeypatch, fresh_library):
    """With the cache under a regular file, the per-process build folder (actionrec-kernels-*) is removed once the
    library is loaded, and the loaded kernels still compute the torch formulation's numbers."""
    blocker, tmp = tmp_path / "cache", tmp_path / "tmp"
    blocker.write_text("not a folder")
    tmp.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    assert kernels.library() is not None
    assert list(tmp.iterdir()) == []
    att = _attention(8)
    x, identity = torch.randn(2, 8, 2, 6, 6), torch.randn(2, 8, 2, 6, 6)
    fused, plain = _both(att, x, identity)
    torch.testing.assert_close(fused, plain)


# ---- bf16 inference: what `--precision auto` runs on CPUs with native bf16 ----

BF16_ULP = 2.0**-8  # bf16's spacing relative to a value: 8 significant bits

_native_here = kernels._compiler() is not None and kernels.native_bf16_kernels()


def _bf16_kernels_ran(monkeypatch) -> list[str]:
    """The names of the C functions the fused path calls from now on (recorded as they are looked up)."""
    names: list[str] = []
    original = kernels._kernel

    def spy(name, x=None):
        fn = original(name, x)
        names.append(fn.__name__)
        return fn

    monkeypatch.setattr(kernels, "_kernel", spy)
    return names


@needs_compiler
@pytest.mark.parametrize(
    "native", [False, pytest.param(True, marks=pytest.mark.skipif(not _native_here, reason="no AVX-512 BF16"))]
)
@pytest.mark.parametrize(
    "shape", [(2, 16, 8, 32, 32), (3, 24, 3, 17, 19), (4, 128, 1, 2, 2), (1, 8, 5, 23, 29), (2, 40, 2, 7, 9)]
)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last_3d])
def test_bf16_block_agrees_with_torch_to_bf16_rounding(shape, layout, native, monkeypatch):
    """On bf16 activations the kernels (the AVX-512 BF16 writer and the portable C one) run in place, in x's layout,
    and give the fp32 formula on the same bf16 numbers rounded once to bf16 (within one bf16 step), and the torch-ops
    path the back end ran before (bf16 autocast, every gate in bf16) to within bf16 rounding of its gates."""
    monkeypatch.setattr(kernels, "native_bf16_kernels", lambda: native)
    names = _bf16_kernels_ran(monkeypatch)
    att = _attention(shape[1])
    x = torch.randn(shape).bfloat16().contiguous(memory_format=layout)
    identity = torch.randn(shape).bfloat16().contiguous(memory_format=layout)
    with torch.inference_mode():
        exact = torch.relu(identity.float() + att(x.float()))  # fp32 arithmetic on the bf16 inputs
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = att.channel(x)
            torch_ops = torch.addcmul(identity, y, att.spatial.gate(y)).relu_()  # what ran before the kernels
            into = x.clone()
            fused = attention_add_relu(into, identity, att)
    suffix = "_cl" if layout == torch.channels_last_3d else ""
    assert f"gate_add_relu{suffix}_bf16{'_avx512' if native else ''}" in names
    assert f"channel_gate{suffix}_bf16" in names and f"spatial_pool{suffix}_bf16" in names
    assert fused.dtype == torch.bfloat16 and fused.data_ptr() == into.data_ptr()  # in place
    assert fused.is_contiguous(memory_format=layout)
    torch.testing.assert_close(fused.float(), exact, rtol=BF16_ULP, atol=1e-5)
    assert (fused.float() - exact).abs().max() > 0  # it did round to bf16
    # torch's path also rounds Mc, Ms, their logits and Mc * x to bf16: on these gates (far from 0.5) up to 9 bf16
    # steps of the terms |identity| + |x| (Mc, Ms < 1) off the exact result, where the kernels stay within one
    terms = identity.float().abs() + x.float().abs()
    assert ((fused.float() - torch_ops.float()).abs() <= 12 * BF16_ULP * terms).all()
    assert (fused.float() - exact).abs().max() <= (torch_ops.float() - exact).abs().max()  # no less exact


@needs_compiler
def test_bf16_rounds_to_nearest_even_like_torch(monkeypatch):
    """The portable and the AVX-512 BF16 writers round fp32 results to bf16 as torch's .bfloat16() does, ties to
    even included: with x = 1, map 1 and identity 0 the result is relu(gate), for gates whose low 16 bits are each
    rounding case (exact, below, at and above half a step, odd and even)."""
    high = torch.tensor([1.0, 3.0, 1e-3, 250.0, 1.5]).view(torch.int32) & ~0xFFFF
    low = torch.tensor([0x0000, 0x7FFF, 0x8000, 0x8001, 0x18000, 0xFFFF])
    gate = (high.view(-1, 1) | low.view(1, -1)).flatten().view(torch.float32)
    c = gate.numel()
    x = torch.ones(1, c, 1, 1, 1, dtype=torch.bfloat16)
    expected = gate.bfloat16().view(1, c, 1, 1, 1)  # torch's rounding of the same fp32 values
    for native in [False] + ([True] if _native_here else []):
        monkeypatch.setattr(kernels, "native_bf16_kernels", lambda native=native: native)
        out = kernels.gate_add_relu(x, gate.view(1, c, 1, 1, 1), torch.ones(1, 1, 1, 1, 1), torch.zeros_like(x))
        assert torch.equal(out.view(torch.int16), expected.view(torch.int16)), f"native={native}"


@needs_compiler
def test_bf16_backend_runs_the_kernels_and_keeps_the_labels_on_the_sample(monkeypatch):
    """The torch back end in bf16 (what `--precision auto` picks on AMX and AVX-512 BF16 CPUs) runs the bf16 kernels
    on the shipped model and sample, and its window labels are those of the torch-ops path in bf16 and of fp32,
    with logits within bf16 rounding."""
    calls: list[torch.dtype] = []
    original = kernels.gate_add_relu
    monkeypatch.setattr(kernels, "gate_add_relu", lambda x, *a, **k: calls.append(x.dtype) or original(x, *a, **k))
    logits = {}
    for precision, dtype in ((Precision.fp32, torch.float32), (Precision.bf16, torch.bfloat16)):
        with load(None, backend=BackendKind.torch, precision=precision) as recognizer:
            clips = np.concatenate([x for _, x in recognizer.clip_batches(sample_path("sequence.mp4"), num_windows=6)])
            calls.clear()
            logits[precision, "fused"] = recognizer.backend.forward(clips)
            assert calls == [dtype] * 4  # r3d10: one attention block per stage
            unfuse_attention(recognizer.backend.model)
            logits[precision, "torch"] = recognizer.backend.forward(clips)
    fused = logits[Precision.bf16, "fused"]
    for other in (logits[Precision.bf16, "torch"], logits[Precision.fp32, "torch"]):
        np.testing.assert_array_equal(fused.argmax(1), other.argmax(1))
        np.testing.assert_allclose(fused, other, atol=8 * BF16_ULP * np.abs(other).max())


@needs_compiler
@pytest.mark.parametrize("shape", [(2, 16, 8, 32, 32), (3, 24, 3, 17, 19), (4, 128, 1, 2, 2), (1, 8, 5, 23, 29)])
def test_bf16_training_kernels_give_the_fp32_formula_to_bf16_rounding(shape, monkeypatch):
    """Under bf16 autocast (what `--precision auto` trains in on AMX CPUs) channels_last_3d blocks train through the
    bf16 kernels: the output is the fp32 formula on the same bf16 numbers within one bf16 step, and the gradients of
    the input, the shortcut and the three gate weights are as close to fp32's as torch's own autocast path (bf16
    ops) gets, or closer."""
    names = _bf16_kernels_ran(monkeypatch)
    att = _attention(shape[1]).train()
    x = torch.randn(shape).bfloat16()
    # one maximum per channel: bf16's few digits make ties likely, and a tie's gradient goes to its first position
    # in the kernels, half to each in torch's amax (both valid subgradients)
    flat = x.view(shape[0], shape[1], -1)
    top = flat.argmax(2, keepdim=True)
    flat.scatter_(2, top, flat.gather(2, top) + 0.5)
    x = x.contiguous(memory_format=torch.channels_last_3d)
    identity = torch.randn(shape).bfloat16().contiguous(memory_format=torch.channels_last_3d)
    grad = torch.randn(shape).bfloat16()
    exact = _grads(att, x.float(), identity.float(), grad.float(), fused=False)  # fp32 on the same numbers
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused = _grads(att, x, identity, grad, fused=True)
        assert {"channel_pool_arg_cl_bf16", "attention_grad_out_cl_bf16", "attention_grad_x_cl_bf16"} <= set(names)
        torch_ops = _grads(att, x, identity, grad, fused=False)
    assert fused[0].dtype == fused[1].dtype == fused[2].dtype == torch.bfloat16  # activations and their gradients
    torch.testing.assert_close(fused[0].float(), exact[0], rtol=BF16_ULP, atol=1e-5)
    names = ["x", "identity", "fc1", "fc2", "spatial conv"]
    for name, f, t, e in zip(names, fused[1:], torch_ops[1:], exact[1:], strict=True):
        scale = e.abs().max().item()
        error, torch_error = (f.float() - e).abs().max().item(), (t.float() - e).abs().max().item()
        assert error <= max(torch_error, 4 * BF16_ULP * scale), (name, error, torch_error, scale)


@pytest.mark.slow  # builds the library again (C compilation): the full suite runs it
@needs_compiler
def test_a_toolchain_without_avx512_bf16_still_builds_the_bf16_kernels(tmp_path, monkeypatch, fresh_library):
    """Where the compiler or assembler refuses the AVX-512 BF16 code, the next build leaves it out: the kernels load,
    say they have no native bf16 writer, and bf16 blocks run on the portable one, in one bf16 step of fp32."""
    real = shutil.which("cc") or shutil.which("gcc")
    wrapper = tmp_path / "cc-without-bf16"
    wrapper.write_text(f'#!/bin/sh\ncase "$*" in *-D{kernels.NO_NATIVE_BF16}*) exec {real} "$@";; esac\nexit 1\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("CC", str(wrapper))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kernels.library() is not None and not kernels.native_bf16_kernels()
    names = _bf16_kernels_ran(monkeypatch)
    att = _attention(16)
    x = torch.randn(2, 16, 3, 9, 11).bfloat16().contiguous(memory_format=torch.channels_last_3d)
    identity = torch.randn(2, 16, 3, 9, 11).bfloat16().contiguous(memory_format=torch.channels_last_3d)
    with torch.inference_mode():
        exact = torch.relu(identity.float() + att(x.float()))
        fused = attention_add_relu(x.clone(), identity, att)
    assert "gate_add_relu_cl_bf16" in names
    torch.testing.assert_close(fused.float(), exact, rtol=BF16_ULP, atol=1e-5)


@needs_compiler
@pytest.mark.parametrize(
    ("dtype", "native"),
    [
        (torch.float32, False),
        (torch.bfloat16, False),
        pytest.param(torch.bfloat16, True, marks=pytest.mark.skipif(not _native_here, reason="no AVX-512 BF16")),
    ],
)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last_3d])
def test_a_nan_stays_nan_on_the_fused_path(dtype, native, layout, monkeypatch):
    """One NaN activation (a damaged model) makes the fused block's output NaN exactly where torch's is: the
    kernels' ReLU keeps NaN, whatever the compiler flags assume, so no NaN becomes a finite number."""
    monkeypatch.setattr(kernels, "native_bf16_kernels", lambda: native)
    att = _attention(16)
    x = torch.randn(2, 16, 4, 9, 11).to(dtype).contiguous(memory_format=layout)
    x[0, 3, 1, 5, 5] = float("nan")
    identity = torch.randn(x.shape).to(dtype).contiguous(memory_format=layout)
    with torch.inference_mode():
        fused = attention_add_relu(x.clone(), identity, att).float()
        plain = torch.relu(identity.float() + att(x.float()))
    assert torch.isnan(plain[0]).all() and not torch.isnan(plain[1]).any()  # sample 0's gates are all NaN
    assert torch.equal(torch.isnan(fused), torch.isnan(plain))


@needs_compiler
def test_a_damaged_model_is_caught_by_the_nan_guard_on_the_fused_path(tmp_path, videos):
    """A model file with one NaN weight in an attention block: predict on the fused (eager fp32) path fails that
    video with the pipeline's one-line non-finite error, as ONNX Runtime and torch.compile do, not a label."""
    torch.manual_seed(0)
    meta = ModelMeta(arch="r3d10", arch_args={"width": 8}, labels=("a", "b", "c"), preprocessing=_SMALL)
    model = build(meta.arch, num_classes=3, **meta.arch_args).eval()
    with torch.no_grad():
        next(m for m in model.modules() if isinstance(m, Attention3d)).channel.fc1.weight[0, 0] = float("nan")
    path = save_model(tmp_path / "damaged.safetensors", model, meta)
    with load(path, backend=BackendKind.torch, precision=Precision.fp32) as recognizer:
        assert isinstance(recognizer.backend.model.layer1[0].merge, FusedAttentionMerge)
        with pytest.raises(ActionrecError, match="non-finite scores"):
            recognizer.predict(videos["mp4"])
