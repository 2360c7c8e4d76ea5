"""Shared timing helpers for the bench scripts: thread setup, interleaved warm-up + median timing, the machine's
matmul peak in a given dtype, and a header line saying what ran where."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from actionrec.cpu import cpu_bf16_verdict, cpu_facts, onednn_bf16


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one timed function."""

    median: float  # the figure reported: robust to one slow call on a shared machine
    best: float  # the fastest call, for reference: noise only ever slows a call down
    calls: int  # timed calls behind the two figures


def set_threads(threads: int | None) -> int:
    """Use `threads` intra-op threads (default: torch's own choice); returns the number in use."""
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def time_interleaved(fns: dict[str, Callable[[], object]], *, warmup: int = 1, repeats: int = 5) -> dict[str, Timing]:
    """Time each function `repeats` times after `warmup` untimed calls, in rounds that call every function once in
    turn, so that a change in the machine's load hits them all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    return {name: Timing(statistics.median(s), min(s), len(s)) for name, s in seconds.items()}


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    """Call `fn` once; its result and the seconds it took."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def matmul_gflops(dtype: torch.dtype, *, n: int = 2048, repeats: int = 5) -> float:
    """The machine's practical peak in `dtype`: GFLOP/s of an n x n x n matmul (2 n^3 FLOP), median of repeats."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    with torch.inference_mode():
        t = time_interleaved({"mm": lambda: torch.mm(a, b)}, warmup=2, repeats=repeats)["mm"]
    return 2 * n**3 / t.median / 1e9


def native_bf16() -> bool:
    """bf16 is only worth measuring where the CPU computes it natively (AMX / AVX-512 BF16); elsewhere autocast
    emulates it, far slower than fp32."""
    return onednn_bf16()


def enable_many_compiles(limit: int = 64) -> None:
    """A bench compiles the same forward code for many models; lift dynamo's recompile limit (default 8) so that
    none of them silently falls back to eager."""
    import torch._dynamo.config as dynamo

    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(dynamo, name):
            setattr(dynamo, name, limit)
    for name in ("accumulated_recompile_limit", "accumulated_cache_size_limit"):
        if hasattr(dynamo, name):
            setattr(dynamo, name, max(getattr(dynamo, name), 8 * limit))


def cpu_name() -> str:
    return cpu_facts().model


def cpu_isa() -> str:
    """The CPU facts that decide bf16: AMX, AVX-512 BF16, AVX2, and this CPU's cache fingerprint."""
    facts = cpu_facts()
    isa = [name for name in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if name in facts.flags]
    return f"{' '.join(isa) or 'no AVX'}, id {facts.fingerprint()}"


def header() -> str:
    """One line: software, CPU, threads, native bf16 and load, printed at the top of every bench's output."""
    bf16 = "no native bf16"
    if native_bf16():
        verdict = cpu_bf16_verdict()
        grads = "right" if verdict.trainable else "wrong"
        bf16 = f"native bf16 at {verdict.speedup:.2f}x fp32, bf16 gradients {grads}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"torch {torch.__version__}, {cpu_name()} ({os.cpu_count()} CPUs, {cpu_isa()}, {bf16}), "
        f"{torch.get_num_threads()} threads, load average {load:.1f}"
    )
