"""Why ONNX Runtime runs our networks slower than torch here: one 3x3x3 convolution + ReLU at each stage's shape of
the shipped model (r3d10 width 16, 8x64x64 clips, batch 4), timed side by side in torch (oneDNN), in ORT as a
Conv3d (what `actionrec export` writes), and in ORT as a Conv2d over frames: the clip laid out frame-major
(N, T, C, H, W), the three temporal taps stacked into channels, one 2-D convolution of kernel 3x3 over 3C channels
(ORT's tuned 2-D path). Same weights, outputs compared.

    python bench/bench_onnx_conv.py
    python bench/bench_onnx_conv.py --batch 8 --repeats 30
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _timing import header
from torch import nn

from actionrec.runtime.backends import physical_cores

# (channels, frames, side) of each stage's activations for a 8x64x64 clip at width 16
STAGES = [(16, 8, 32), (32, 4, 16), (64, 2, 8), (128, 1, 4)]


class Conv3dRelu(nn.Module):
    def __init__(self, conv: nn.Conv3d):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))  # (N, C, T, H, W)


class FrameConv2dRelu(nn.Module):
    """The same convolution on a frame-major clip: pad T, stack the kt shifted clips along channels, one Conv2d."""

    def __init__(self, conv: nn.Conv3d):
        super().__init__()
        w = conv.weight.detach()  # (Co, C, kt, kh, kw)
        self.kt = w.shape[2]
        self.weight = nn.Parameter(w.permute(0, 2, 1, 3, 4).reshape(w.shape[0], -1, *w.shape[3:]).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = x.shape  # frame-major
        p = self.kt // 2
        padded = F.pad(x, (0, 0, 0, 0, 0, 0, p, p))  # (N, T + 2p, C, H, W)
        taps = torch.cat([padded[:, d : d + t] for d in range(self.kt)], 2)  # (N, T, kt C, H, W)
        y = F.conv2d(taps.reshape(n * t, self.kt * c, h, w), self.weight, padding=self.weight.shape[-1] // 2)
        return torch.relu(y.reshape(n, t, -1, h, w))  # (N, T, Co, H, W)


def best_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export(module: nn.Module, x: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), dynamo=False)


def bench_stage(c: int, t: int, side: int, batch: int, repeats: int, work: Path, threads: int) -> str:
    """One table row: torch, ORT Conv3d and ORT frame Conv2d times for one stage's shape, and the output diff."""
    conv = nn.Conv3d(c, c, 3, padding=1, bias=False)
    x = torch.randn(batch, c, t, side, side)
    frames = x.permute(0, 2, 1, 3, 4).contiguous()  # (N, T, C, H, W)
    as3d, as2d = Conv3dRelu(conv).eval(), FrameConv2dRelu(conv).eval()
    export(as3d, x, work / "c3.onnx")
    export(as2d, frames, work / "c2.onnx")
    s3, s2 = session(work / "c3.onnx", threads), session(work / "c2.onnx", threads)
    feed3, feed2 = {s3.get_inputs()[0].name: x.numpy()}, {s2.get_inputs()[0].name: frames.numpy()}
    with torch.inference_mode():
        t_torch = best_ms(lambda: as3d(x), repeats)
        reference = as3d(x).numpy()
    t3 = best_ms(lambda: s3.run(None, feed3), repeats)
    t2 = best_ms(lambda: s2.run(None, feed2), repeats)
    diff = float(np.abs(s2.run(None, feed2)[0].transpose(0, 2, 1, 3, 4) - reference).max())
    return (
        f"{f'{c}, {t}, {side}x{side}':<16} {t_torch:8.2f} {t3:8.2f} ms x{t3 / t_torch:4.2f}"
        f" {t2:12.2f} ms x{t2 / t_torch:4.2f} {diff:11.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per engine (the best counts)")
    args = parser.parse_args()
    threads = physical_cores()
    torch.set_num_threads(threads)
    print(header())
    print(f"one 3x3x3 conv + ReLU per stage, batch {args.batch}; ms per call (best of {args.repeats}), ratio to torch")
    print(f"{'C, T, HxW':<16} {'torch':>8} {'ORT Conv3d':>16} {'ORT frame Conv2d':>22} {'max |diff|':>11}")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="bench-onnx-conv-") as tmp:
        for c, t, side in STAGES:
            print(bench_stage(c, t, side, args.batch, args.repeats, Path(tmp), threads))
    print("x > 1: slower than torch (target for the ONNX Runtime path: <= 1)")


if __name__ == "__main__":
    main()
