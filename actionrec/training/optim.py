"""The optimizer and learning-rate schedule a recipe asks for: SGD (Nesterov) or AdamW, step or cosine decay after
a linear warmup, stepped once per optimizer step."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..choices import Optimizer, Schedule
from .recipe import ResolvedConfig


def make_optimizer(model: nn.Module, config: ResolvedConfig) -> torch.optim.Optimizer:
    if config.optimizer == Optimizer.adamw:
        return torch.optim.AdamW(
            model.parameters(), lr=config.lr, betas=(config.momentum, 0.999), weight_decay=config.weight_decay
        )
    return torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov and config.momentum > 0,
        weight_decay=config.weight_decay,
    )


def lr_factor(config: ResolvedConfig, step: int, steps_per_epoch: int) -> float:
    """Multiplier of the peak lr at optimizer step `step` (0-based, counted over the whole run)."""
    warm = config.warmup_epochs * steps_per_epoch
    if step < warm:
        return (step + 1) / warm
    epoch = step / steps_per_epoch
    if config.schedule == Schedule.cosine:
        span = max(config.epochs - config.warmup_epochs, 1e-9)
        return 0.5 * (1 + math.cos(math.pi * min((epoch - config.warmup_epochs) / span, 1.0)))
    return config.gamma ** sum(int(epoch) >= m for m in config.step_milestones)


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: ResolvedConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """`lr_factor` over the run. A plain lambda: LambdaLR leaves functions out of its state_dict (state.pt)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(config, step, steps_per_epoch))
