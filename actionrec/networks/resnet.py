"""3D ResNets (torchvision's r3d stem, BasicBlock or Bottleneck, four stages) with attention on every residual
branch before the add: the 3D Residual Attention Network, or with attention=False the plain 3D ResNet baseline."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .attention import Kernel, attention_or_identity
from .init import init_weights


class AddReLU(nn.Module):
    """How a residual block ends: relu(attention(branch) + shortcut), the add and the ReLU in place (as torchvision's
    blocks). Each block holds one as `merge`; `ops.fuse_attention` swaps it for one that runs the three as fused
    kernels. No parameters: the block's state dict is the same either way."""

    def forward(self, attention: nn.Module, out: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        out = attention(out)
        out += identity  # in place: no fresh tensor for the sum
        return torch.relu_(out)


class ResidualBlock(nn.Module):
    """merge(attention, branch(x), shortcut(x)) = relu(attention(branch(x)) + shortcut(x)); subclasses build
    `branch`, `attention` (injected: `Attention3d` or `nn.Identity`), `downsample`, `relu` (the branch's) and `merge`
    (injected: `AddReLU`), and name the branch's last BatchNorm (`last_bn_name`), the one that feeds the attention."""

    last_bn_name: str

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def last_bn(self) -> nn.BatchNorm3d:
        """The residual branch's last BatchNorm: what feeds the attention (`init.attention_as_identity` scales it)."""
        return getattr(self, self.last_bn_name)

    def zero_init_last(self) -> None:
        """Start the residual branch at zero (its last BatchNorm's scale), so the block begins as the identity."""
        nn.init.zeros_(self.last_bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.merge(self.attention, self.branch(x), self.downsample(x))


class BasicBlock(ResidualBlock):
    """Two 3x3x3 convolutions; attention on the residual branch before the add."""

    expansion = 1
    last_bn_name = "bn2"

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int,
        *,
        attention: bool,
        reduction: int,
        spatial_kernel: Kernel,
    ):
        super().__init__()
        self.conv1 = nn.Conv3d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.attention = attention_or_identity(planes, attention, reduction, spatial_kernel)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_planes, planes, stride)
        self.merge = AddReLU()

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """The residual branch up to the attention."""
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))


class Bottleneck(ResidualBlock):
    """1x1x1 reduce, 3x3x3, 1x1x1 expand (x4); attention on the residual branch before the add."""

    expansion = 4
    last_bn_name = "bn3"

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int,
        *,
        attention: bool,
        reduction: int,
        spatial_kernel: Kernel,
    ):
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv3d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(out_planes)
        self.attention = attention_or_identity(out_planes, attention, reduction, spatial_kernel)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_planes, out_planes, stride)
        self.merge = AddReLU()

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """The residual branch up to the attention."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


def _shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    if stride == 1 and in_planes == out_planes:
        return nn.Identity()
    return nn.Sequential(nn.Conv3d(in_planes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm3d(out_planes))


class ResNet3d(nn.Module):
    """3D ResNet with torchvision's r3d stem (3x7x7 conv, stride (1, 2, 2)), four stages, global average pool."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: Sequence[int],
        *,
        num_classes: int,
        width: int = 64,
        attention: bool = True,
        attention_stages: Sequence[int] = (1, 2, 3, 4),
        reduction: int = 16,
        spatial_kernel: Kernel = (1, 7, 7),
        dropout: float = 0.0,
    ):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(3, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )
        in_planes = width
        stages = []
        for i, depth in enumerate(layers, start=1):
            planes, stride = width * 2 ** (i - 1), 1 if i == 1 else 2
            blocks = []
            for j in range(depth):
                blocks.append(
                    block(
                        in_planes,
                        planes,
                        stride if j == 0 else 1,
                        attention=attention and i in attention_stages,
                        reduction=reduction,
                        spatial_kernel=spatial_kernel,
                    )
                )
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_planes, num_classes)
        init_weights(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (N, w, T, H/2, W/2)
        x = self.layer1(x)  # (N, w, T, H/2, W/2)
        x = self.layer2(x)  # (N, 2w, T/2, H/4, W/4)
        x = self.layer3(x)  # (N, 4w, T/4, H/8, W/8)
        return self.layer4(x)  # (N, 8w, T/8, H/16, W/16)  (x4 channels for Bottleneck)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).mean((2, 3, 4))  # (N, C): global average pool, no adaptive pooling op
        return self.fc(self.dropout(x))  # (N, num_classes)


def r3d10(*, num_classes: int, attention: bool = True, width: int = 64, **kwargs) -> ResNet3d:
    return ResNet3d(BasicBlock, (1, 1, 1, 1), num_classes=num_classes, attention=attention, width=width, **kwargs)


def r3d18(*, num_classes: int, attention: bool = True, width: int = 64, **kwargs) -> ResNet3d:
    return ResNet3d(BasicBlock, (2, 2, 2, 2), num_classes=num_classes, attention=attention, width=width, **kwargs)


def r3d34(*, num_classes: int, attention: bool = True, width: int = 64, **kwargs) -> ResNet3d:
    return ResNet3d(BasicBlock, (3, 4, 6, 3), num_classes=num_classes, attention=attention, width=width, **kwargs)


def r3d50(*, num_classes: int, attention: bool = True, width: int = 64, **kwargs) -> ResNet3d:
    return ResNet3d(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, attention=attention, width=width, **kwargs)
