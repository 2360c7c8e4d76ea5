"""Inference throughput of the 3D ResNet (r3d18, or --arch) with and without attention at the same width, in every
execution mode side by side: fp32 eager, fp32 channels_last_3d, bf16 autocast + channels_last_3d (only where the CPU has
native bf16), and torch.compile (inductor, freezing on, under inference_mode; compile time reported apart).

For each mode: clips/s, the attention/plain time ratio, and the fraction of the machine's peak each achieves
(conv/linear GFLOP per clip x clips/s, against a large matmul of the same dtype timed in the same run). Then a
per-part breakdown (fp32 eager and compiled): plain, attention with and without the fused CPU kernels
(`actionrec.ops.fused_attention`, used by default at fp32 inference), channel attention only, spatial attention only,
both,
attention in stages 3-4 only (the `attention_stages` option), and plain with an identity multiply before the
residual add (the "broken fusion" cost: the multiply keeps inductor from fusing conv + add + ReLU, as the attention
gates do). Targets: attention/plain time <= 1.05 in fp32; in bf16 1.15 at width 64, 1.3 at width 16.

    python bench/bench_network.py                                   # widths 16 64, 16x112x112, batch 4
    python bench/bench_network.py --widths 16 64 --batch 4 --repeats 5 --no-compile
    python bench/bench_network.py --arch r3d10 --widths 16 --clip-len 8 --crop 64 --batch 8   # the shipped size
    python bench/bench_network.py --quick                           # smoke run: tiny input, 1 thread
    python bench/bench_network.py --no-compile --no-parts --modes bf16   # only the modes whose name has "bf16"
    python bench/bench_network.py --cpu-time ...                    # 1 thread, CPU seconds: for a busy machine
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from _timing import (
    Timing,
    enable_many_compiles,
    header,
    matmul_gflops,
    native_bf16,
    set_threads,
    time_interleaved,
    timed,
)
from torch import nn

from actionrec.networks import BasicBlock, build, gflops_per_clip
from actionrec.networks.attention import Attention3d
from actionrec.ops import fuse_attention, unfuse_attention

VARIANTS = (
    "plain",
    "attention",
    "attention, torch gates",
    "channel only",
    "spatial only",
    "plain + identity mul",
    "attention stages 3-4",
)
PARTS = VARIANTS[2:]


@dataclass(frozen=True)
class Mode:
    """One way of running the network."""

    name: str
    compiled: bool  # torch.compile with inductor freezing, called under inference_mode
    channels_last: bool  # model and input in channels_last_3d
    bf16: bool  # bf16 autocast (measured only where the CPU has it natively)

    @property
    def dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.bf16 else torch.float32


MODES = (
    Mode("fp32 eager", compiled=False, channels_last=False, bf16=False),
    Mode("fp32 channels_last_3d", compiled=False, channels_last=True, bf16=False),
    Mode("bf16 autocast + channels_last_3d", compiled=False, channels_last=True, bf16=True),
    Mode("compiled fp32", compiled=True, channels_last=False, bf16=False),
    Mode("compiled fp32 + channels_last_3d", compiled=True, channels_last=True, bf16=False),
    Mode("compiled bf16 + channels_last_3d", compiled=True, channels_last=True, bf16=True),
)


class ChannelOnly(Attention3d):
    """Attention3d with its spatial gate left out: Mc * x (the block adds the shortcut)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.channel(x)


class SpatialOnly(Attention3d):
    """Attention3d with its channel gate left out: Ms * x (the block adds the shortcut)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(x)


class IdentityScale(nn.Module):
    """x * 1, with the 1 computed from x at run time (N, C, 1, 1, 1) so that no compiler folds it away: costs one
    elementwise pass and stands between the conv and the residual add, as a gate does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (x[:, :, :1, :1, :1] * 0 + 1)


def build_variant(variant: str, width: int, arch: str = "r3d18") -> nn.Module:
    """`arch` at `width` with the attention parts `variant` names (same seed, so same conv weights)."""
    torch.manual_seed(0)
    stages = (3, 4) if variant == "attention stages 3-4" else (1, 2, 3, 4)  # the attention_stages option
    attention = variant not in ("plain", "plain + identity mul")
    model = build(arch, num_classes=400, width=width, attention=attention, attention_stages=stages)
    for module in model.modules():
        if isinstance(module, Attention3d) and variant in ("channel only", "spatial only"):
            module.__class__ = ChannelOnly if variant == "channel only" else SpatialOnly
        if isinstance(module, BasicBlock) and variant == "plain + identity mul":
            module.bn2 = nn.Sequential(module.bn2, IdentityScale())
    if variant in ("attention", "attention stages 3-4"):  # as the torch back end runs them: fused kernels (eager)
        fuse_attention(model)
    return model.eval()  # "attention, torch gates": the plain network, without the fused kernels


def runner(model: nn.Module, mode: Mode, clips: torch.Tensor) -> tuple[Callable[[], object], float]:
    """A no-argument forward pass of `model` on `clips` in `mode`, and its compile seconds (0 when eager)."""
    if mode.compiled:  # as the back end: Inductor compiles the plain network
        unfuse_attention(model)
    if mode.channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
        clips = clips.contiguous(memory_format=torch.channels_last_3d)
    net = torch.compile(model) if mode.compiled else model

    def run() -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode.bf16):
            return net(clips)

    compile_s = timed(run)[1] if mode.compiled else 0.0  # the first call compiles
    return run, compile_s


def time_cpu(fns: dict[str, Callable[[], object]], *, repeats: int) -> dict[str, Timing]:
    """As `time_interleaved`, in CPU seconds of the calling thread (run with 1 intra-op thread, so that it does all
    the work): other processes on a shared machine then delay a call without adding to its time."""
    for fn in fns.values():
        fn()
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.thread_time()
            fn()
            seconds[name].append(time.thread_time() - start)
    return {name: Timing(statistics.median(s), min(s), len(s)) for name, s in seconds.items()}


def bench_width(
    width: int, modes: list[Mode], parts_modes: set[str], peaks: dict[torch.dtype, float], args: argparse.Namespace
) -> None:
    shape = (3, args.clip_len, args.crop, args.crop)
    clips = torch.randn(args.batch, *shape)
    flops = {v: gflops_per_clip(build_variant(v, width, args.arch), shape) for v in ("plain", "attention")}
    print(
        f"\n== {args.arch} width {width}, {args.clip_len}x{args.crop}x{args.crop}, batch {args.batch}: "
        f"{flops['plain']:.2f} GFLOP/clip plain, {flops['attention']:.2f} with attention (conv/linear FLOPs)"
    )
    print(
        f"{'mode':<34} {'plain clips/s':>13} {'attn clips/s':>13} {'attn/plain':>10} {'(best)':>6} "
        f"{'plain %peak':>11} {'attn %peak':>10} {'compile s plain/attn':>21}"
    )
    parts: dict[str, dict[str, float]] = {}
    for mode in modes:
        variants = VARIANTS if mode.name in parts_modes else VARIANTS[:2]
        runs, compile_s = {}, {}
        for v in variants:
            runs[v], compile_s[v] = runner(build_variant(v, width, args.arch), mode, clips)
        timings = (time_cpu if args.cpu_time else time_interleaved)(runs, repeats=args.repeats)
        t = {v: timing.median for v, timing in timings.items()}
        best = timings["attention"].best / timings["plain"].best  # noise only slows calls: a check on the median
        rate = {v: args.batch / t[v] for v in ("plain", "attention")}
        peak = {v: rate[v] * flops[v] / peaks[mode.dtype] for v in rate}
        compiled = f"{compile_s['plain']:.1f} / {compile_s['attention']:.1f}" if mode.compiled else "-"
        print(
            f"{mode.name:<34} {rate['plain']:13.2f} {rate['attention']:13.2f} {t['attention'] / t['plain']:10.3f} "
            f"{best:6.3f} "
            f"{peak['plain']:11.1%} {peak['attention']:10.1%} {compiled:>21}"
        )
        if mode.name in parts_modes:
            parts[mode.name] = t
    if parts:
        print_parts(parts)


def print_parts(parts: dict[str, dict[str, float]]) -> None:
    """Each variant's time relative to plain in the same mode, and the share of attention's extra time that the
    broken fusion alone accounts for."""
    cols = ("attention", *PARTS)
    print(f"  {'breakdown (time / plain)':<32}" + "".join(f"{v:>{len(v) + 2}}" for v in cols) + "  fusion share")
    for name, t in parts.items():
        extra = t["attention"] - t["plain"]
        share = (t["plain + identity mul"] - t["plain"]) / extra if extra > 0 else float("nan")
        cells = "".join(f"{t[v] / t['plain']:{len(v) + 2}.3f}" for v in cols)
        print(f"  {name:<32}{cells}  {share:12.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="r3d18", choices=["r3d10", "r3d18", "r3d34"])
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--clip-len", type=int, default=16)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (median counts) after one warm-up")
    parser.add_argument("--threads", type=int, help="intra-op threads [default: torch's]")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile")
    parser.add_argument("--no-parts", dest="parts", action="store_false", help="skip the per-part breakdown")
    parser.add_argument("--modes", nargs="+", metavar="TEXT", help="only the modes whose name contains one of these")
    parser.add_argument(
        "--cpu-time", action="store_true", help="CPU seconds on 1 thread: robust to other load (sets --threads 1)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 4x32x32, batch 1, 1 repeat, 1 thread")
    args = parser.parse_args()
    if args.quick:
        args.clip_len, args.crop, args.batch, args.repeats, args.threads = 4, 32, 1, 1, 1
    if args.cpu_time:
        args.threads = 1
    set_threads(args.threads)
    print(header())

    bf16 = native_bf16()
    modes = [m for m in MODES if (args.compile or not m.compiled) and (bf16 or not m.bf16)]
    if args.modes:
        modes = [m for m in modes if any(text in m.name for text in args.modes)]
    if not bf16:
        print("bf16 modes skipped: no native bf16 on this CPU (autocast would emulate it, far slower than fp32)")
    if args.compile:
        torch._inductor.config.freezing = True  # weights become constants: conv+BN folding, mkldnn weight packing
        enable_many_compiles()
    parts_modes = {"fp32 eager", "compiled fp32"} if args.parts else set()

    n = 512 if args.quick else 2048
    peaks = {torch.float32: matmul_gflops(torch.float32, n=n)}
    if bf16:
        peaks[torch.bfloat16] = matmul_gflops(torch.bfloat16, n=n)
    print("matmul peak: " + ", ".join(f"{str(d).removeprefix('torch.')} {g:.0f} GFLOP/s" for d, g in peaks.items()))
    for width in args.widths:
        bench_width(width, modes, parts_modes, peaks, args)


if __name__ == "__main__":
    main()
