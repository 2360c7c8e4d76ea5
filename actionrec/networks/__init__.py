"""The networks: the 3D Residual Attention Network (a 3D ResNet whose blocks carry channel and spatial attention),
its dense variant, and the paper's baselines (plain 3D ResNet with attention=False, 3D DenseNet, C3D).

Builders compose stem, blocks and stage layout explicitly, like torchvision's models/video/resnet.py.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import torch
from torch import nn

from ..config import ARCHITECTURES
from .attention import Attention3d

Kernel = tuple[int, int, int]


def _attention(channels: int, enabled: bool, reduction: int, spatial_kernel: Kernel) -> nn.Module:
    return Attention3d(channels, reduction, spatial_kernel) if enabled else nn.Identity()


class BasicBlock(nn.Module):
    """Two 3x3x3 convolutions; attention on the residual branch before the add."""

    expansion = 1

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
        self.attention = _attention(planes, attention, reduction, spatial_kernel)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_planes, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if isinstance(self.attention, Attention3d):
            return self.attention.add_residual(out, self.downsample(x))
        out += self.downsample(x)  # in place, as torchvision's blocks: no fresh tensor for the sum
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1x1 reduce, 3x3x3, 1x1x1 expand (x4); attention on the residual branch before the add."""

    expansion = 4

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
        self.attention = _attention(out_planes, attention, reduction, spatial_kernel)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_planes, out_planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if isinstance(self.attention, Attention3d):
            return self.attention.add_residual(out, self.downsample(x))
        out += self.downsample(x)  # in place, as torchvision's blocks: no fresh tensor for the sum
        return self.relu(out)


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
        _init_weights(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (N, w, T, H/2, W/2)
        x = self.layer1(x)  # (N, w, T, H/2, W/2)
        x = self.layer2(x)  # (N, 2w, T/2, H/4, W/4)
        x = self.layer3(x)  # (N, 4w, T/4, H/8, W/8)
        return self.layer4(x)  # (N, 8w, T/8, H/16, W/16)  (x4 channels for Bottleneck)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).mean((2, 3, 4))  # (N, C): global average pool, no adaptive pooling op
        return self.fc(self.dropout(x))  # (N, num_classes)


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
    """x_l = H_l([x_0, ..., x_{l-1}]); the block's output (all maps concatenated) passes through attention."""

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
        self.attention = _attention(self.out_channels, attention, reduction, spatial_kernel)

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
        _init_weights(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (N, 2k, T, H/4, W/4)
        return self.norm(self.blocks(x))  # (N, C, T/8, H/32, W/32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x).mean((2, 3, 4))))  # (N, num_classes)


class C3D(nn.Module):
    """C3D (Tran et al. 2015): eight 3x3x3 convolutions and five max pools, then two fully connected layers.
    The features are averaged over T, H, W before fc6, so any crop size works; `width` scales the channels."""

    def __init__(self, *, num_classes: int, width: int = 64, hidden: int = 4096, dropout: float = 0.5):
        super().__init__()

        def conv(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv3d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]

        w = width
        self.features_ = nn.Sequential(
            *conv(3, w),
            nn.MaxPool3d((1, 2, 2)),  # (N, w, T, H/2, W/2)
            *conv(w, 2 * w),
            nn.MaxPool3d(2),  # (N, 2w, T/2, H/4, W/4)
            *conv(2 * w, 4 * w),
            *conv(4 * w, 4 * w),
            nn.MaxPool3d(2),  # (N, 4w, T/4, H/8, W/8)
            *conv(4 * w, 8 * w),
            *conv(8 * w, 8 * w),
            nn.MaxPool3d(2),  # (N, 8w, T/8, H/16, W/16)
            *conv(8 * w, 8 * w),
            *conv(8 * w, 8 * w),
            nn.MaxPool3d((1, 2, 2), ceil_mode=True),
        )
        self.head = nn.Sequential(
            nn.Linear(8 * w, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.fc = nn.Linear(hidden, num_classes)
        _init_weights(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.head(self.features(x).mean((2, 3, 4))))  # (N, num_classes)


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def zero_init_residuals(model: nn.Module) -> None:
    """Start every residual branch at zero (its last BN's scale = 0), so each block begins as the identity and the
    network as a shallow one that deepens while it trains (Goyal et al. 2017). A no-op for non-residual nets."""
    for m in model.modules():
        if isinstance(m, BasicBlock):
            nn.init.zeros_(m.bn2.weight)
        elif isinstance(m, Bottleneck):
            nn.init.zeros_(m.bn3.weight)


def attention_as_identity(model: nn.Module, keep: Collection[str] = ()) -> tuple[str, ...]:
    """Make each block's attention an exact identity at initialisation, so that the network computes what the plain
    ResNet computes and trains as fast from the first step; returns the names of the rescaled BatchNorms.

    The attention's last layers (the channel MLP's fc2, the spatial conv) are zeroed, so both gates are
    sigmoid(0) = 0.5 everywhere, and the BatchNorm feeding the attention (bn2, bn3 for bottlenecks) is scaled by 4,
    which the two 0.5 gates undo exactly (powers of two). The gates still learn: fc1 keeps its random weights, so
    fc2 and the spatial conv get gradients at once. Blocks whose attention weights are named in `keep` (loaded from
    a file) are left alone. Dense blocks have no BatchNorm before their attention: their gates become a constant
    1/4, which the BatchNorm after every dense block (transition or final norm) normalises away.
    """
    rescaled = []
    with torch.no_grad():
        for name, block in model.named_modules():
            if not isinstance(block, BasicBlock | Bottleneck | DenseBlock):
                continue
            if not isinstance(block.attention, Attention3d) or any(k.startswith(f"{name}.attention.") for k in keep):
                continue
            nn.init.zeros_(block.attention.channel.fc2.weight)  # channel gate: sigmoid(0) = 0.5 for every channel
            nn.init.zeros_(block.attention.spatial.gate.conv.weight)  # spatial gate: 0.5 everywhere
            if isinstance(block, DenseBlock):
                continue
            bn_name = "bn3" if isinstance(block, Bottleneck) else "bn2"
            bn: nn.BatchNorm3d = getattr(block, bn_name)
            bn.weight.mul_(4.0)  # 4 * 0.5 * 0.5 = 1, exact in floating point
            bn.bias.mul_(4.0)
            rescaled.append(f"{name}.{bn_name}")
    return tuple(rescaled)


def r3d10(*, num_classes: int, attention: bool = True, width: int = 64, **kwargs) -> ResNet3d:
    return ResNet3d(BasicBlock, (1, 1, 1, 1), num_classes=num_classes, attention=attention, width=width, **kwargs)


def r3d18(*, num_classes: int, attention: bool = True, width: int = 64, **kwargs) -> ResNet3d:
    return ResNet3d(BasicBlock, (2, 2, 2, 2), num_classes=num_classes, attention=attention, width=width, **kwargs)


def r3d34(*, num_classes: int, attention: bool = True, width: int = 64, **kwargs) -> ResNet3d:
    return ResNet3d(BasicBlock, (3, 4, 6, 3), num_classes=num_classes, attention=attention, width=width, **kwargs)


def r3d50(*, num_classes: int, attention: bool = True, width: int = 64, **kwargs) -> ResNet3d:
    return ResNet3d(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, attention=attention, width=width, **kwargs)


def dense3d(*, num_classes: int, attention: bool = True, growth: int = 16, **kwargs) -> DenseNet3d:
    return DenseNet3d(num_classes=num_classes, attention=attention, growth=growth, **kwargs)


def c3d(*, num_classes: int, width: int = 64, **kwargs) -> C3D:
    return C3D(num_classes=num_classes, width=width, **kwargs)


BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "r3d10": r3d10,
    "r3d18": r3d18,
    "r3d34": r3d34,
    "r3d50": r3d50,
    "dense3d": dense3d,
    "c3d": c3d,
}


assert tuple(BUILDERS) == ARCHITECTURES, "config.ARCHITECTURES names the builders, torch-free"


def build(arch: str, *, num_classes: int, **arch_args) -> nn.Module:
    """Build a network by name from BUILDERS with the arguments a model file stores."""
    if arch not in BUILDERS:
        raise KeyError(f"unknown architecture {arch!r}; known: {', '.join(BUILDERS)}")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in arch_args.items()}  # JSON lists -> tuples
    return BUILDERS[arch](num_classes=num_classes, **args)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def gflops_per_clip(model: nn.Module, input_shape: Sequence[int]) -> float:
    """Floating-point operations (2 x multiply-adds) of one clip's forward pass, in GFLOP."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 1e9
