"""Training step time (forward + cross-entropy + backward + SGD step) of the 3D ResNet with and without attention,
eager and compiled (`torch.compile(model)`, compile time reported apart), in channels_last_3d (the layout
`actionrec train` uses: its convolution backward runs 1.2-1.6x faster here) and contiguous, all timed side by side
in one run.
Configurations: r3d18 width 16 and 64 at 16x112x112 batch 4, and the shipped model's (r3d10 width 16, 8x64x64,
batch 8). Target: attention/plain step time <= 1.25.

    python bench/bench_train_step.py                                  # all three configurations
    python bench/bench_train_step.py --configs r3d18-w64 --repeats 5 --no-compile
    python bench/bench_train_step.py --quick                          # smoke run: tiny r3d10, eager only, 1 thread
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from _timing import enable_many_compiles, header, set_threads, time_interleaved, timed

from actionrec.networks import build
from actionrec.ops import fuse_attention


@dataclass(frozen=True)
class Config:
    """One network and input size to train."""

    arch: str
    width: int
    clip_len: int
    crop: int
    batch: int

    def __str__(self) -> str:
        return f"{self.arch} width {self.width}, {self.clip_len}x{self.crop}x{self.crop}, batch {self.batch}"


CONFIGS = {
    "r3d18-w16": Config("r3d18", 16, 16, 112, 4),
    "r3d18-w64": Config("r3d18", 64, 16, 112, 4),
    "shipped": Config("r3d10", 16, 8, 64, 8),  # the shipped model's configuration and training batch
}
QUICK = Config("r3d10", 8, 4, 32, 2)
NUM_CLASSES = 16


LAYOUTS = {"channels_last": torch.channels_last_3d, "contiguous": torch.contiguous_format}


def train_step(config: Config, attention: bool, compiled: bool, layout: str) -> tuple[Callable[[], object], float]:
    """A no-argument training step on a fixed random batch, and its compile seconds (0 when eager)."""
    torch.manual_seed(0)
    model = build(config.arch, num_classes=NUM_CLASSES, width=config.width, attention=attention).train()
    model = model.to(memory_format=LAYOUTS[layout])
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    clips = torch.randn(config.batch, 3, config.clip_len, config.crop, config.crop)
    clips = clips.contiguous(memory_format=LAYOUTS[layout])
    labels = torch.randint(0, NUM_CLASSES, (config.batch,))
    if not compiled:  # as `actionrec train` runs it: the fused kernels swapped in (where they apply: channels_last)
        fuse_attention(model)
    net = torch.compile(model, dynamic=False) if compiled else model  # static shapes: one graph per model

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(clips), labels).backward()
        optimizer.step()

    compile_s = timed(step)[1] if compiled else 0.0  # the first step compiles forward and backward
    return step, compile_s


def bench_config(config: Config, compile_modes: list[bool], layouts: list[str], repeats: int) -> None:
    print(f"\n== {config}")
    steps, compile_s = {}, {}
    rows = [(compiled, layout) for compiled in compile_modes for layout in layouts]
    for compiled, layout in rows:
        for attention in (False, True):
            key = (compiled, layout, attention)
            steps[key], compile_s[key] = train_step(config, attention, compiled, layout)
    t = time_interleaved(steps, repeats=repeats)
    print(f"  {'':<24} {'plain s/step':>12} {'attn s/step':>12} {'attn/plain':>10} {'compile s plain/attn':>21}")
    for compiled, layout in rows:
        plain, attn = t[(compiled, layout, False)].median, t[(compiled, layout, True)].median
        name = f"{'compiled' if compiled else 'eager'} {layout}"
        comp = f"{compile_s[(compiled, layout, False)]:.1f} / {compile_s[(compiled, layout, True)]:.1f}"
        print(f"  {name:<24} {plain:12.3f} {attn:12.3f} {attn / plain:10.3f} {comp if compiled else '-':>21}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (median counts) after one warm-up")
    parser.add_argument("--threads", type=int, help="intra-op threads [default: torch's]")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile")
    parser.add_argument("--layouts", nargs="+", choices=list(LAYOUTS), default=list(LAYOUTS), help="memory layouts")
    parser.add_argument("--quick", action="store_true", help="smoke run: r3d10 width 8, 4x32x32, batch 2, eager")
    args = parser.parse_args()
    configs = [CONFIGS[name] for name in args.configs]
    if args.quick:  # compiling a training graph takes minutes even when tiny: eager only
        configs, args.repeats, args.threads, args.compile = [QUICK], 1, 1, False
    set_threads(args.threads)
    print(header())
    if args.compile:
        enable_many_compiles()
    for config in configs:
        bench_config(config, [False, True] if args.compile else [False], args.layouts, args.repeats)
    print("\ntarget: attention/plain <= 1.25")


if __name__ == "__main__":
    main()
