"""The CPU facts and the one `--precision auto` rule: bf16 only where measured faster (and, for training, where its
gradients are right), measured once per CPU; tested with the CPU facts mocked and on this machine."""

from __future__ import annotations

import json

import pytest
import torch

from actionrec import cpu
from actionrec.cpu import Bf16Verdict, CpuFacts, auto_bf16, cpu_bf16_verdict
from actionrec.runtime.backends import Precision, TorchBackend

AVX512_BF16_XEON = CpuFacts("Intel Xeon Processor", frozenset({"avx2", "avx512f", "avx512_bf16"}))
AMX_XEON = CpuFacts("Intel Xeon Processor", frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}))
AVX2_EPYC = CpuFacts("AMD EPYC", frozenset({"avx2", "fma"}))


def _rule(facts, *, native=True, speedup=1.0, gradient_error=0.002, training=False):
    calls = []

    def verdict(f):
        calls.append(f)
        return Bf16Verdict(speedup, gradient_error)

    picked = auto_bf16("cpu", training=training, facts=facts, native=lambda: native, verdict=verdict)
    return picked, calls


def test_auto_picks_bf16_only_where_it_was_measured_faster(monkeypatch):
    """AVX-512 BF16 without AMX measured at half fp32's speed -> fp32; AMX measured at 5x -> bf16; no native bf16
    -> fp32 without measuring; ACTIONREC_AUTO_BF16=0 -> fp32 whatever was measured."""
    monkeypatch.delenv("ACTIONREC_AUTO_BF16", raising=False)
    assert _rule(AVX512_BF16_XEON, speedup=0.53) == (False, [AVX512_BF16_XEON])
    assert _rule(AMX_XEON, speedup=5.0) == (True, [AMX_XEON])
    assert _rule(AVX2_EPYC, native=False, speedup=9.0) == (False, [])
    assert _rule(AMX_XEON, speedup=cpu.BF16_MIN_SPEEDUP - 0.01)[0] is False  # a hair faster is not worth it
    monkeypatch.setenv("ACTIONREC_AUTO_BF16", "0")
    assert _rule(AMX_XEON, speedup=5.0) == (False, [])


def test_training_also_needs_right_gradients(monkeypatch):
    """The same rule serves training, which also refuses bf16 where its convolution gradients are wrong; prediction
    (forward only) still takes the faster bf16 there."""
    monkeypatch.delenv("ACTIONREC_AUTO_BF16", raising=False)
    assert _rule(AMX_XEON, speedup=2.0, gradient_error=float("inf"), training=True)[0] is False
    assert _rule(AMX_XEON, speedup=2.0, gradient_error=float("inf"), training=False)[0] is True
    assert _rule(AMX_XEON, speedup=2.0, gradient_error=0.002, training=True)[0] is True
    assert _rule(AVX512_BF16_XEON, speedup=0.5, gradient_error=0.002, training=True)[0] is False


def test_verdict_is_measured_once_per_cpu_and_remeasured_when_the_cache_is_bad(tmp_path, monkeypatch):
    """The measurement is cached under the CPU's fingerprint: a second call reads it, another CPU (same model name,
    other flags) is measured anew, and a garbage cache file means measuring again, not a crash."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    runs = []

    def measure():
        runs.append(1)
        return 0.5

    first = cpu_bf16_verdict(AVX512_BF16_XEON, measure=measure, check=lambda: 0.002)
    again = cpu_bf16_verdict(AVX512_BF16_XEON, measure=measure, check=lambda: 0.002)
    assert first == again == Bf16Verdict(0.5, 0.002) and len(runs) == 1
    assert AMX_XEON.model == AVX512_BF16_XEON.model and AMX_XEON.fingerprint() != AVX512_BF16_XEON.fingerprint()
    cpu_bf16_verdict(AMX_XEON, measure=measure, check=lambda: 0.002)
    assert len(runs) == 2
    files = sorted((tmp_path / "actionrec" / "cpu").glob("bf16-*.json"))
    assert len(files) == 2 and json.loads(files[0].read_text())["speedup"] == 0.5
    for f in files:
        f.write_bytes(b"\x00garbage")
    assert cpu_bf16_verdict(AMX_XEON, measure=measure, check=lambda: 0.002).speedup == 0.5 and len(runs) == 3


def test_this_cpu_facts_and_the_backend_follow_the_rule():
    """This machine's facts read from /proc/cpuinfo, and TorchBackend's auto precision is exactly the rule's."""
    facts = cpu.cpu_facts()
    assert facts.model and len(facts.fingerprint()) == 12
    backend = TorchBackend(torch.nn.Identity(), _meta(), precision=Precision.auto)
    assert backend.precision == (Precision.bf16 if auto_bf16("cpu") else Precision.fp32)


def test_gradients_in_the_training_precision_match_fp32():
    """In the precision training's auto picks on this CPU, a 3x3x3 convolution over 2 frames (where the shipped
    network's third stage runs; oneDNN's bf16 weight gradient is garbage there on AVX-512 BF16 CPUs without AMX)
    gives the fp32 weight gradient to within bf16's rounding."""
    bf16 = auto_bf16("cpu", training=True)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 64, 2, 8, 8, generator=gen).contiguous(memory_format=torch.channels_last_3d)
    w = (torch.randn(64, 64, 3, 3, 3, generator=gen) * 0.05).requires_grad_()
    (ref,) = torch.autograd.grad(torch.nn.functional.conv3d(x, w, padding=1).square().sum(), w)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = torch.nn.functional.conv3d(x, w, padding=1)
    (got,) = torch.autograd.grad(y.float().square().sum(), w)
    assert torch.isfinite(got).all()
    assert ((got - ref).norm() / ref.norm()).item() < 0.03


def _meta():
    from actionrec.model_meta import ModelMeta, Preprocessing

    pre = Preprocessing(clip_len=4, frame_step=1, resize=36, crop=32, mean=(0.5,) * 3, std=(0.25,) * 3)
    return ModelMeta(arch="r3d10", arch_args={}, labels=("a", "b"), preprocessing=pre)


@pytest.mark.skipif(not cpu.onednn_bf16(), reason="no native bf16 on this CPU")
def test_bf16_training_is_refused_where_its_gradients_are_wrong(tmp_path):
    """Where this CPU's bf16 gradients are wrong, `--precision bf16` training stops with one line saying why; where
    they are right, the check reports an error of bf16's rounding only."""
    from actionrec.errors import ActionrecError
    from actionrec.training import TrainConfig
    from actionrec.training.processes import setup as _setup

    verdict = cpu_bf16_verdict()
    if verdict.trainable:
        assert verdict.gradient_error < 0.02
        return
    with pytest.raises(ActionrecError, match="bf16 convolution gradients are wrong"):
        _setup(TrainConfig(data=tmp_path, out=tmp_path / "run", precision=Precision.bf16))
