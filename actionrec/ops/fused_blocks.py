"""The module swap that runs a residual block's attention, add and ReLU as fused CPU kernels: `fuse_attention`
replaces the `merge` (`AddReLU`) of each ResNet block that carries `Attention3d` by a `FusedAttentionMerge`; the
block, its parameters and their state-dict names stay. The network itself stays plain torch; back ends and the
training loop apply this."""

from __future__ import annotations

import torch
from torch import nn

from ..networks import Attention3d
from ..networks.resnet import AddReLU, ResidualBlock
from . import fused_attention as kernels


class FusedAttentionMerge(nn.Module):
    """A block's `merge` (`AddReLU`: relu(attention(out) + identity)) with the attention, the add and the ReLU run as
    one unit. At fp32 or bf16 inference on the CPU the fused kernels do it in three passes over the branch's output,
    writing the result over it; in CPU training in channels_last_3d (fp32 or bf16 autocast), the kernels with their
    backward; otherwise torch, with the spatial gate, the add and the ReLU in one pass (addcmul) instead of three.
    Same numbers as `AddReLU`, to rounding. No parameters: the block keeps its own, under their own names."""

    def forward(self, attention: Attention3d, out: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        fused = all(k % 2 for k in attention.spatial.gate.conv.kernel_size)  # the C conv needs odd sides
        return attention_add_relu(out, identity, attention, fused=fused)


def attention_add_relu(
    x: torch.Tensor, identity: torch.Tensor, attention: Attention3d, *, fused: bool = True
) -> torch.Tensor:
    """relu(identity + Ms * (Mc * x)) for the block's branch output x and shortcut `identity`."""
    w1, w2 = attention.channel.fc1.weight, attention.channel.fc2.weight
    wconv = attention.spatial.gate.conv.weight
    if fused and kernels.usable(x, identity):
        mc = kernels.channel_gate(x, w1, w2)  # (N, C, 1, 1, 1)
        pooled = kernels.spatial_pool(x, mc)  # (N, 2, T, H, W): Mc * x is never written
        ms = kernels.spatial_conv(pooled, wconv).sigmoid_()  # (N, 1, T, H, W)
        return kernels.gate_add_relu(x, mc, ms, identity, inplace=True)  # over x: a fresh tensor of the last BN's
    if fused and kernels.trainable(x, identity):  # training in channels_last_3d: the same passes, with a backward
        return kernels.attention_residual(x, identity, w1, w2, wconv)
    y = attention.channel(x)  # (N, C, T, H, W)
    return torch.addcmul(identity, y, attention.spatial.gate(y)).relu_()


def fuse_attention(model: nn.Module) -> nn.Module:
    """Swap, in place, the `merge` of every residual block with attention for a `FusedAttentionMerge`; returns the
    model. Blocks without attention, dense blocks and other networks are left as they are (their ops are plain
    torch already)."""
    for block in model.modules():
        if isinstance(block, ResidualBlock) and isinstance(block.attention, Attention3d):
            block.merge = FusedAttentionMerge()
    return model


def unfuse_attention(model: nn.Module) -> nn.Module:
    """Undo `fuse_attention` in place (each block's plain `AddReLU` back); returns the model."""
    for block in model.modules():
        if isinstance(block, ResidualBlock) and isinstance(block.merge, FusedAttentionMerge):
            block.merge = AddReLU()
    return model
