"""Initialisation: the default weights, and the two starts that make parts of a network the identity (zero-init
residual branches; attention as the exact identity, for weights trained without it)."""

from __future__ import annotations

from collections.abc import Collection

import torch
from torch import nn

from .attention import Attention3d


def init_weights(model: nn.Module) -> None:
    """He initialisation for convolutions, unit BatchNorm, small normal classifiers (as torchvision's video ResNets)."""
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
    """Start every residual branch at zero (each block's `zero_init_last`: its last BN's scale = 0), so each block
    begins as the identity and the network as a shallow one that deepens while it trains (Goyal et al. 2017). A
    no-op for non-residual nets. Blocks say how they are zero-initialised, as timm's do: this knows no block type."""
    for m in model.modules():
        zero_init_last = getattr(m, "zero_init_last", None)
        if callable(zero_init_last):
            zero_init_last()


def attention_as_identity(model: nn.Module, keep: Collection[str] = ()) -> tuple[str, ...]:
    """Make each block's attention an exact identity at initialisation, so that the network computes what the plain
    ResNet computes and trains as fast from the first step; returns the names of the rescaled BatchNorms.

    The attention's last layers (the channel MLP's fc2, the spatial conv) are zeroed, so both gates are
    sigmoid(0) = 0.5 everywhere, and the BatchNorm feeding the attention (the block's `last_bn`) is scaled by 4,
    which the two 0.5 gates undo exactly (powers of two). The gates still learn: fc1 keeps its random weights, so
    fc2 and the spatial conv get gradients at once. Blocks whose attention weights are named in `keep` (loaded from
    a file) are left alone. Dense blocks have no BatchNorm before their attention: their gates become a constant
    1/4, which the BatchNorm after every dense block (transition or final norm) normalises away.
    """
    rescaled = []
    with torch.no_grad():
        for name, block in model.named_modules():
            attention = getattr(block, "attention", None)
            if not isinstance(attention, Attention3d) or any(k.startswith(f"{name}.attention.") for k in keep):
                continue
            nn.init.zeros_(attention.channel.fc2.weight)  # channel gate: sigmoid(0) = 0.5 for every channel
            nn.init.zeros_(attention.spatial.gate.conv.weight)  # spatial gate: 0.5 everywhere
            bn = getattr(block, "last_bn", None)  # the BatchNorm feeding the attention; none in a dense block
            if bn is None:
                continue
            bn.weight.mul_(4.0)  # 4 * 0.5 * 0.5 = 1, exact in floating point
            bn.bias.mul_(4.0)
            rescaled.append(f"{name}.{block.last_bn_name}")
    return tuple(rescaled)
