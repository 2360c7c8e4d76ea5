"""The paper's two attention modules for 3D feature maps, applied in order: channel ("what"), then spatial
("where"). Written with plain pooling ops and 1x1x1 convolutions so that they export to ONNX unchanged."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from ..ops import fused_attention as kernels


class ChannelAttention(nn.Module):
    """Mc = sigmoid(MLP(AvgPool(F)) + MLP(MaxPool(F))), pooled over T, H, W; one MLP shared by both pools."""

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 4):
        super().__init__()
        hidden = max(channels // reduction, min_hidden)
        self.fc1 = nn.Conv3d(channels, hidden, 1, bias=False)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv3d(hidden, channels, 1, bias=False)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        pooled = torch.cat([x.mean((2, 3, 4), keepdim=True), x.amax((2, 3, 4), keepdim=True)])  # (2N, C, 1, 1, 1)
        mlp = self.fc2(self.act(self.fc1(pooled)))  # one pass of the shared MLP over both pools
        return torch.sigmoid(mlp[:n] + mlp[n:])  # (N, C, 1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class SpatialGate(nn.Module):
    """The map itself: sigmoid(conv([mean_c(F); max_c(F)])), (N, 1, T, H, W) in [0, 1]. Hooks read it here."""

    def __init__(self, kernel_size: tuple[int, int, int] = (1, 7, 7)):
        super().__init__()
        self.conv = nn.Conv3d(2, 1, kernel_size, padding=tuple(k // 2 for k in kernel_size), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)  # (N, 2, T, H, W)
        return torch.sigmoid(self.conv(pooled))  # (N, 1, T, H, W)


class SpatialAttention(nn.Module):
    """Ms applied to the features: F * sigmoid(conv([mean_c(F); max_c(F)]))."""

    def __init__(self, kernel_size: tuple[int, int, int] = (1, 7, 7)):
        super().__init__()
        self.gate = SpatialGate(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class Attention3d(nn.Module):
    """Channel attention, then spatial attention, as on the residual branch of every block (before the add)."""

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: tuple[int, int, int] = (1, 7, 7)):
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(spatial_kernel)
        self.fused = all(k % 2 for k in spatial_kernel)  # fused CPU kernels where they apply; False: always torch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))

    def add_residual(self, x: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        """relu(identity + Ms * (Mc * x)): the gated branch added to the shortcut. At fp32 inference on the CPU the
        fused kernels (actionrec.ops.fused_attention) do it in three passes over x, writing the result over x; in
        fp32 CPU training in channels_last_3d, the kernels with their backward; otherwise torch, with the spatial gate,
        the add and the ReLU in one pass (addcmul) instead of three."""
        w1, w2, wconv = self.channel.fc1.weight, self.channel.fc2.weight, self.spatial.gate.conv.weight
        if self.fused and not _hooked(self.spatial.gate):
            if kernels.usable(x, identity):
                mc = kernels.channel_gate(x, w1, w2)  # (N, C, 1, 1, 1)
                pooled = kernels.spatial_pool(x, mc)  # (N, 2, T, H, W): Mc * x is never written
                ms = kernels.spatial_conv(pooled, wconv).sigmoid_()  # (N, 1, T, H, W)
                return kernels.gate_add_relu(x, mc, ms, identity, inplace=True)  # over x: a fresh tensor of bn2's
            if kernels.trainable(x, identity):  # training in channels_last_3d: the same passes, with a backward
                return kernels.attention_residual(x, identity, w1, w2, wconv)
        y = x * self.channel.gate(x)  # (N, C, T, H, W)
        return torch.addcmul(identity, y, self.spatial.gate(y)).relu_()


def _hooked(module: nn.Module) -> bool:
    """Whether someone listens to this module's output (capture_spatial_maps): then it must run as a module."""
    return bool(module._forward_hooks or module._forward_pre_hooks)


@contextlib.contextmanager
def capture_spatial_maps(model: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Record every spatial attention map of the forward passes run inside the block, by module name.

    >>> with capture_spatial_maps(net) as maps:
    ...     net(clips)
    >>> maps["layer1.0.attention.spatial.gate"].shape  # (N, 1, T', H', W'), values in [0, 1]
    """
    maps: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, SpatialGate):
            handles.append(
                module.register_forward_hook(lambda _m, _i, out, name=name: maps.__setitem__(name, out.detach()))
            )
    try:
        yield maps
    finally:
        for h in handles:
            h.remove()
