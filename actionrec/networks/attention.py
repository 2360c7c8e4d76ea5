"""The paper's two attention modules for 3D feature maps, applied in order: channel ("what"), then spatial
("where"). Plain torch (pooling with mean/amax, 1x1x1 convolutions as the shared MLP, as timm's cbam.py): exactly the
formulas, nothing else, so export, explain and compile all see the same math."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

Kernel = tuple[int, int, int]


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

    def __init__(self, kernel_size: Kernel = (1, 7, 7)):
        super().__init__()
        self.conv = nn.Conv3d(2, 1, kernel_size, padding=tuple(k // 2 for k in kernel_size), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)  # (N, 2, T, H, W)
        return torch.sigmoid(self.conv(pooled))  # (N, 1, T, H, W)


class SpatialAttention(nn.Module):
    """Ms applied to the features: F * sigmoid(conv([mean_c(F); max_c(F)]))."""

    def __init__(self, kernel_size: Kernel = (1, 7, 7)):
        super().__init__()
        self.gate = SpatialGate(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class Attention3d(nn.Module):
    """Channel attention, then spatial attention, as on the residual branch of every block (before the add)."""

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: Kernel = (1, 7, 7)):
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(spatial_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))


def attention_or_identity(channels: int, enabled: bool, reduction: int, spatial_kernel: Kernel) -> nn.Module:
    """The attention a block injects on its residual branch: `Attention3d`, or `nn.Identity` for the plain baseline."""
    return Attention3d(channels, reduction, spatial_kernel) if enabled else nn.Identity()


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
