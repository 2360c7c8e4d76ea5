"""The module swap that runs a residual block's attention, add and ReLU as fused CPU kernels: `fuse_attention`
replaces each ResNet block that carries `Attention3d` by a `FusedAttentionBlock` with the same parameters and the
same state-dict names. The network itself stays plain torch; back ends and the training loop apply this."""

from __future__ import annotations

import torch
from torch import nn

from ..networks import Attention3d
from ..networks.resnet import ResidualBlock
from . import fused_attention as kernels


class FusedAttentionBlock(nn.Module):
    """A `BasicBlock` or `Bottleneck` whose relu(identity + Ms * (Mc * branch)) runs as one unit.

    At fp32 or bf16 inference on the CPU the fused kernels do it in three passes over the branch's output, writing
    the result over it; in CPU training in channels_last_3d (fp32 or bf16 autocast), the kernels with their backward;
    otherwise torch, with the spatial gate, the add and the ReLU in one pass (addcmul) instead of three. Same numbers
    as the block's own forward, to rounding. The block's children are this module's children under the same names, so
    `state_dict()` and `load_state_dict()` are those of the block."""

    def __init__(self, block: ResidualBlock):
        super().__init__()
        if not isinstance(block.attention, Attention3d):
            raise TypeError(f"{type(block).__name__} has no attention to fuse")
        self._modules.update(block._modules)  # the same modules, the same names: the same state dict
        self.training = block.training
        self.block_type = type(block)
        self.fused = all(k % 2 for k in block.attention.spatial.gate.conv.kernel_size)  # the C conv needs odd sides

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block_type.branch(self, x)  # the block's own layers, run on this module's (shared) children
        return attention_add_relu(out, self.downsample(x), self.attention, fused=self.fused)

    def unfused(self) -> ResidualBlock:
        """The plain block with these modules."""
        block = self.block_type.__new__(self.block_type)
        nn.Module.__init__(block)
        block._modules.update(self._modules)
        block.training = self.training
        return block


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
    """Swap, in place, every residual block with attention for a `FusedAttentionBlock`; returns the model. Blocks
    without attention, dense blocks and other networks are left as they are (their ops are plain torch already)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, ResidualBlock) and isinstance(child.attention, Attention3d):
                setattr(parent, name, FusedAttentionBlock(child))
    return model


def unfuse_attention(model: nn.Module) -> nn.Module:
    """Undo `fuse_attention` in place (the plain blocks back, with the same modules); returns the model."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, FusedAttentionBlock):
                setattr(parent, name, child.unfused())
    return model
