"""The networks in plain torch, by name: the 3D Residual Attention Network (`r3d10`-`r3d50` with attention), its
dense variant (`dense3d`) and the paper's baselines (the same with attention=False, and `c3d`). Builders compose
stem, blocks and stages explicitly, like torchvision's models/video/resnet.py; speed tricks are applied from
outside by the back ends (`actionrec.ops`)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..model_meta import ARCHITECTURES
from .attention import Attention3d, ChannelAttention, SpatialAttention, SpatialGate, capture_spatial_maps
from .c3d import C3D, c3d
from .densenet import DenseBlock, DenseNet3d, dense3d
from .init import attention_as_identity, init_weights, zero_init_residuals
from .resnet import BasicBlock, Bottleneck, ResNet3d, r3d10, r3d18, r3d34, r3d50


@dataclass(frozen=True)
class Network:
    """A registered network: its builder and the facts other code asks about it, so that adding a network means
    its builder and one entry in NETWORKS."""

    builder: Callable[..., nn.Module]
    options: frozenset[str]  # the builder arguments a user may set (`train --width/--growth/...`)
    residual: bool = False  # a 3D ResNet: channels_last_3d pays from `tuning.CHANNELS_LAST_MIN_WIDTH` wide


_RESNET = frozenset({"width", "attention", "reduction", "spatial_kernel", "dropout"})
NETWORKS: dict[str, Network] = {
    "r3d10": Network(r3d10, _RESNET, residual=True),
    "r3d18": Network(r3d18, _RESNET, residual=True),
    "r3d34": Network(r3d34, _RESNET, residual=True),
    "r3d50": Network(r3d50, _RESNET, residual=True),
    "dense3d": Network(dense3d, frozenset({"growth", "attention", "reduction", "spatial_kernel", "dropout"})),
    "c3d": Network(c3d, frozenset({"width", "dropout"})),
}
BUILDERS: dict[str, Callable[..., nn.Module]] = {name: network.builder for name, network in NETWORKS.items()}


assert tuple(BUILDERS) == ARCHITECTURES, "model_meta.ARCHITECTURES names the builders, torch-free"


def build(arch: str, *, num_classes: int, **arch_args) -> nn.Module:
    """Build a network by name from BUILDERS with the arguments a model file stores."""
    if arch not in BUILDERS:
        raise KeyError(f"unknown architecture {arch!r}; known: {', '.join(BUILDERS)}")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in arch_args.items()}  # JSON lists -> tuples
    return BUILDERS[arch](num_classes=num_classes, **args)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def gflops_per_clip(model: nn.Module, input_shape: Sequence[int]) -> float:
    """Floating-point operations (2 x multiply-adds) of one clip's forward pass, in GFLOP. Counted on a copy of the
    model on the meta device (shapes only, no arithmetic: 10x sooner), or on the model itself where an op has no
    meta form."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        shadow = copy.deepcopy(model).to("meta").eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            shadow(torch.zeros(1, *input_shape, device="meta"))
        return counter.get_total_flops() / 1e9
    except (NotImplementedError, RuntimeError):
        pass
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 1e9


__all__ = [
    "BUILDERS",
    "C3D",
    "NETWORKS",
    "Attention3d",
    "BasicBlock",
    "Bottleneck",
    "ChannelAttention",
    "DenseBlock",
    "DenseNet3d",
    "Network",
    "ResNet3d",
    "SpatialAttention",
    "SpatialGate",
    "attention_as_identity",
    "build",
    "c3d",
    "capture_spatial_maps",
    "count_parameters",
    "dense3d",
    "gflops_per_clip",
    "init_weights",
    "r3d10",
    "r3d18",
    "r3d34",
    "r3d50",
    "zero_init_residuals",
]
