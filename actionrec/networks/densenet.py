"""The paper's dense variant: a 3D DenseNet whose dense blocks pass their output through channel and spatial
attention (with attention=False, the plain 3D DenseNet baseline)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .attention import Kernel, attention_or_identity
from .init import init_weights


class DenseLayer(nn.Module):
    """H_l of eq. 1: BN-ReLU-Conv3d 1x1x1 (to 4k, the bottleneck) then BN-ReLU-Conv3d 3x3x3 (to k)."""

    def __init__(self, in_channels: int, growth: int):
        super().__init__()
        self.layer = nn.Sequential(
            nn.BatchNorm3d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv3d(in_channels, 4 * growth, 1, bias=False),
            nn.BatchNorm3d(4 * growth),
            nn.ReLU(inplace=True),
            nn.Conv3d(4 * growth, growth, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class DenseBlock(nn.Module):
    """x_l = H_l([x_0, ..., x_{l-1}]); the block's output (all maps concatenated) passes through attention. No
    BatchNorm feeds it (`last_bn` is None) and there is no residual branch to zero."""

    last_bn = None

    def __init__(
        self,
        in_channels: int,
        num_layers: int,
        growth: int,
        *,
        attention: bool,
        reduction: int,
        spatial_kernel: Kernel,
    ):
        super().__init__()
        self.layers = nn.ModuleList(DenseLayer(in_channels + i * growth, growth) for i in range(num_layers))
        self.out_channels = in_channels + num_layers * growth
        self.attention = attention_or_identity(self.out_channels, attention, reduction, spatial_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = [x]
        for layer in self.layers:
            maps.append(layer(torch.cat(maps, 1)))  # (N, C0 + l*k, T, H, W) in, (N, k, T, H, W) out
        return self.attention(torch.cat(maps, 1))  # (N, C0 + L*k, T, H, W)


class DenseNet3d(nn.Module):
    """The paper's dense variant: stem, dense blocks joined by BN-ReLU-1x1x1 conv + 2x2x2 average pool
    transitions that halve the channels, global average pool, classifier."""

    def __init__(
        self,
        *,
        num_classes: int,
        growth: int = 16,
        block_layers: Sequence[int] = (4, 6, 8, 6),
        attention: bool = True,
        reduction: int = 16,
        spatial_kernel: Kernel = (1, 7, 7),
        dropout: float = 0.0,
    ):
        super().__init__()
        channels = 2 * growth
        self.stem = nn.Sequential(
            nn.Conv3d(3, channels, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(channels),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(3, stride=(1, 2, 2), padding=1),
        )
        blocks: list[nn.Module] = []
        for i, num_layers in enumerate(block_layers):
            block = DenseBlock(
                channels,
                num_layers,
                growth,
                attention=attention,
                reduction=reduction,
                spatial_kernel=spatial_kernel,
            )
            blocks.append(block)
            channels = block.out_channels
            if i < len(block_layers) - 1:
                blocks.append(
                    nn.Sequential(
                        nn.BatchNorm3d(channels),
                        nn.ReLU(inplace=True),
                        nn.Conv3d(channels, channels // 2, 1, bias=False),
                        nn.AvgPool3d(2),
                    )
                )
                channels //= 2
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.Sequential(nn.BatchNorm3d(channels), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (N, 2k, T, H/4, W/4)
        return self.norm(self.blocks(x))  # (N, C, T/8, H/32, W/32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x).mean((2, 3, 4))))  # (N, num_classes)


def dense3d(*, num_classes: int, attention: bool = True, growth: int = 16, **kwargs) -> DenseNet3d:
    return DenseNet3d(num_classes=num_classes, attention=attention, growth=growth, **kwargs)
