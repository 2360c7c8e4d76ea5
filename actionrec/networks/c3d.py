"""C3D (Tran et al. 2015), the paper's third baseline."""

from __future__ import annotations

import torch
from torch import nn

from .init import init_weights


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
        init_weights(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.head(self.features(x).mean((2, 3, 4))))  # (N, num_classes)


def c3d(*, num_classes: int, width: int = 64, **kwargs) -> C3D:
    return C3D(num_classes=num_classes, width=width, **kwargs)
