"""An independent torchvision r3d_18 (VideoResNet), rebuilt from its published layout (models/video/resnet.py) with
module and state-dict names exactly torchvision's, at a chosen width: the reference the foreign-weights mapping and
the Kinetics-400 hub entry are tested against."""

from __future__ import annotations

import torch
from torch import nn


class TvBlock(nn.Module):
    """torchvision's video BasicBlock with Conv3DSimple: conv1 = Sequential(conv, BN, ReLU), conv2 =
    Sequential(conv, BN), a (conv, BN) downsample where the shape changes."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv3d(inplanes, planes, 3, stride=stride, padding=1, bias=False), nn.BatchNorm3d(planes), nn.ReLU()
        )
        self.conv2 = nn.Sequential(nn.Conv3d(planes, planes, 3, padding=1, bias=False), nn.BatchNorm3d(planes))
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv3d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm3d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.conv2(self.conv1(x)) + residual)


class TvR3d18(nn.Module):
    """torchvision's r3d_18: VideoResNet(BasicBlock, [Conv3DSimple] * 4, [2, 2, 2, 2], BasicStem), `width` channels
    in the first stage (64 in torchvision), AdaptiveAvgPool3d + flatten + fc."""

    def __init__(self, num_classes: int = 400, width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(3, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(),
        )
        inplanes, stages = width, []
        for i in range(4):
            planes = width * 2**i
            stages.append(nn.Sequential(TvBlock(inplanes, planes, 1 if i == 0 else 2), TvBlock(planes, planes)))
            inplanes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(inplanes, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.avgpool(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))
