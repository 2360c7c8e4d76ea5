"""What this machine's CPU is and what it runs fast: its facts (model, ISA flags, a fingerprint that keys per-CPU
caches), the cache folder, and the one rule by which `--precision auto` picks bf16 for prediction and training.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .io.files import write_text_atomic

log = logging.getLogger(__name__)

BF16_MIN_SPEEDUP = 1.15  # bf16 autocast costs a little accuracy: worth it only where it is clearly faster
_MEASURE_VERSION = 1  # bump when the micro-benchmark changes, so old verdicts are measured again


def cache_root() -> Path:
    """${XDG_CACHE_HOME:-~/.cache}/actionrec: frames, kernels and per-CPU measurements live below it."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "actionrec"


@dataclass(frozen=True)
class CpuFacts:
    model: str  # /proc/cpuinfo "model name" (a VM may show the same generic name for different CPUs)
    flags: frozenset[str]  # ISA flags: what -march=native and oneDNN can use

    @property
    def amx(self) -> bool:
        return "amx_bf16" in self.flags

    @property
    def avx512_bf16(self) -> bool:
        return "avx512_bf16" in self.flags

    def fingerprint(self) -> str:
        """12 hex digits naming this CPU by model *and* ISA flags: two CPUs share it only if code built or measured
        on one runs the same on the other."""
        text = self.model + "\n" + " ".join(sorted(self.flags))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def cpu_facts() -> CpuFacts:
    """This CPU's facts from /proc/cpuinfo (Linux); elsewhere the platform's processor name and no flags."""
    model, flags = "", ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = value
                if model and flags:
                    break
    except OSError:
        pass
    return CpuFacts(model or platform.processor() or platform.machine(), frozenset(flags.split()))


def onednn_bf16() -> bool:
    """oneDNN says it has bf16 kernels for this CPU (true for AVX-512 BF16 as well as AMX)."""
    import torch

    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def measure_bf16_speedup(repeats: int = 5) -> float:
    """fp32 time / bf16-autocast time of a 3x3x3 Conv3d like the network's middle stages, best of `repeats`
    (about half a second)."""
    import torch

    conv = torch.nn.Conv3d(64, 64, 3, padding=1, bias=False).eval()
    x = torch.randn(4, 64, 8, 16, 16).contiguous(memory_format=torch.channels_last_3d)
    conv = conv.to(memory_format=torch.channels_last_3d)

    def best(bf16: bool) -> float:
        times = []
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            conv(x)  # warm-up: oneDNN picks and caches its kernel
            for _ in range(repeats):
                t0 = time.perf_counter()
                conv(x)
                times.append(time.perf_counter() - t0)
        return min(times)

    return best(False) / best(True)


def bf16_gradient_error() -> float:
    """Worst relative error of bf16-autocast Conv3d gradients against fp32 on the same (bf16-exact) numbers, over
    the edge shapes a 3D ResNet's late stages hit: 1-3 frames and 1-8 pixels under a 3x3x3 kernel, strides 1 and 2.

    Why: with torch 2.13's oneDNN on an AVX-512 BF16 CPU without AMX, the weight gradient of a 3x3x3 convolution
    over exactly 2 frames is garbage (relative error 1, sometimes inf or NaN) while the forward pass and the input
    gradient are right. A late stage of the shipped network sees 2 frames, so bf16 training there corrupted every
    step and now and then stopped on a NaN. About a second."""
    import torch

    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for frames, size, stride in ((1, 2, 1), (2, 8, 1), (2, 2, 1), (3, 8, 1), (4, 8, 2)):
        x = torch.randn(2, 32, frames, size, size, generator=gen).bfloat16().float()
        x = x.contiguous(memory_format=torch.channels_last_3d).requires_grad_()
        w = (torch.randn(32, 32, 3, 3, 3, generator=gen) * 0.05).bfloat16().float().requires_grad_()
        y = torch.nn.functional.conv3d(x, w, stride=stride, padding=1)
        g = torch.randn(y.shape, generator=gen).bfloat16().float()
        ref = torch.autograd.grad(y, (x, w), g)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = torch.nn.functional.conv3d(x, w, stride=stride, padding=1)
        got = torch.autograd.grad(y, (x, w), g.bfloat16())
        for a, b in zip(got, ref, strict=True):
            err = ((a.float() - b).norm() / b.norm().clamp_min(1e-12)).item()
            worst = max(worst, err if math.isfinite(err) else math.inf)
    return worst


@dataclass(frozen=True)
class Bf16Verdict:
    speedup: float  # fp32 time / bf16 time of a network-like convolution
    gradient_error: float  # bf16_gradient_error(): about 0.002 where bf16 backward is right

    @property
    def trainable(self) -> bool:
        return self.gradient_error < 0.02


def _verdict_file(facts: CpuFacts) -> Path:
    return cache_root() / "cpu" / f"bf16-{facts.fingerprint()}.json"


def cpu_bf16_verdict(
    facts: CpuFacts | None = None,
    measure: Callable[[], float] = measure_bf16_speedup,
    check: Callable[[], float] = bf16_gradient_error,
) -> Bf16Verdict:
    """bf16's speed-up and gradient error on this CPU, measured once and cached per CPU fingerprint and torch
    version (a cache that can't be read or written only means measuring again)."""
    import torch

    facts = facts or cpu_facts()
    path = _verdict_file(facts)
    key = {"version": _MEASURE_VERSION, "model": facts.model, "torch": torch.__version__}
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if all(cached.get(k) == v for k, v in key.items()):
            return Bf16Verdict(float(cached["speedup"]), float(cached["gradient_error"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    verdict = Bf16Verdict(measure(), check())
    record = {**key, "speedup": round(verdict.speedup, 3), "gradient_error": verdict.gradient_error}
    try:
        write_text_atomic(path, json.dumps(record) + "\n")
    except OSError as e:
        log.debug("bf16 verdict not cached at %s: %s", path, e)
    log.info(
        "bf16 on %s: %.2fx fp32's speed, gradient error %.3g (measured once, cached in %s)",
        facts.model,
        verdict.speedup,
        verdict.gradient_error,
        path,
    )
    return verdict


def auto_bf16(
    device: str = "cpu",
    *,
    training: bool = False,
    facts: CpuFacts | None = None,
    native: Callable[[], bool] = onednn_bf16,
    verdict: Callable[[CpuFacts], Bf16Verdict] = cpu_bf16_verdict,
) -> bool:
    """The rule behind `--precision auto`, for prediction and training alike: bf16 where it is faster than fp32
    (and, for training, where its gradients are right).

    CUDA: where the GPU has bf16. CPU: no native bf16 -> no (autocast emulates it, far slower); otherwise a
    one-time measurement on this CPU decides: bf16 at least `BF16_MIN_SPEEDUP` times fp32's speed (AMX: about 5x;
    on a 2-core AVX-512 BF16 Xeon without AMX it ran at half fp32's speed), and for training a gradient error
    under 2 %. ACTIONREC_AUTO_BF16=0 always says no."""
    if os.environ.get("ACTIONREC_AUTO_BF16", "1") == "0":
        return False
    if device.startswith("cuda"):
        import torch

        return torch.cuda.is_bf16_supported()
    facts = facts or cpu_facts()
    if not native():
        return False
    measured = verdict(facts)
    return measured.speedup >= BF16_MIN_SPEEDUP and (measured.trainable or not training)
