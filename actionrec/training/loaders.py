"""The run's data: training clips with the recipe's augmentation, the training and validation DataLoaders (each
process its share), the frame cache (none, with a warning, where its folder cannot be written), and the videos that
did not decode, named once each."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.markup import escape
from torch.utils.data import DataLoader, DistributedSampler

from ..cpu import cache_root
from ..data import Clip, ClipDataset, DataSplit, EpochSampler, FrameCache, VideoItem
from ..errors import DataError
from .processes import Context, worker_context, worker_init
from .recipe import ResolvedConfig


def training_clips(
    items: Sequence[VideoItem], config: ResolvedConfig, cache: FrameCache | None, *, tagged: bool = False
) -> ClipDataset:
    """The training clips of `items` with the recipe's augmentation (random window, crop scales, flips, colour);
    `tagged`: items are `Clip`s, which say whether their video decoded (what the training loop reads)."""
    return ClipDataset(
        items,
        config.preprocessing,
        train=True,
        seed=config.seed,
        cache=cache,
        hflip=config.hflip,
        scales=config.crop_scales,
        color_jitter=config.color_jitter,
        channel_shuffle=config.channel_shuffle,
        tagged=tagged,
    )


def silent(*_args: Any, **_kwargs: Any) -> None:
    """A `say` that says nothing (a process other than the main one, or a quiet run)."""


def default_workers(processes: int) -> int:
    """Decoding workers per training process: the CPUs shared among the processes, at most 8."""
    return min(8, max((os.cpu_count() or 1) // processes, 1))


def default_cache_dir() -> Path:
    return cache_root() / "frames"


@dataclass(frozen=True)
class Loaders:
    train_set: ClipDataset
    sampler: EpochSampler  # the training order; told each epoch
    train: DataLoader
    val: DataLoader | None  # None: no validation videos


def frame_cache(config: ResolvedConfig, say: Callable[..., Any]) -> FrameCache | None:
    """The recipe's frame cache; None when it is off, or when its folder cannot be written (read-only, under a file):
    the run goes on decoding every epoch, as `say` tells once."""
    if not config.cache:
        return None
    try:
        return FrameCache(config.cache_dir or default_cache_dir())
    except DataError as e:
        say(f"[yellow]warning:[/] {escape(str(e))}; training goes on without a frame cache (decoding every epoch)")
        return None


def make_loaders(split: DataSplit, config: ResolvedConfig, ctx: Context, say: Callable[..., Any] = silent) -> Loaders:
    """This process's share of the training clips (reshuffled each epoch) and of the validation clips; `say` tells
    of a frame cache that cannot be used."""
    workers = config.workers if config.workers is not None else default_workers(ctx.world)
    cache = frame_cache(config, say)
    train_set = training_clips(split.train, config, cache, tagged=True)
    sampler = EpochSampler(  # the epoch travels with each index: persistent workers' datasets never see set_epoch
        DistributedSampler(train_set, num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=config.seed)
    )
    loader_args = {
        "num_workers": workers,
        "pin_memory": ctx.device.type == "cuda",
        "worker_init_fn": functools.partial(worker_init, os.getpid()),
        "prefetch_factor": 4 if workers else None,
        "persistent_workers": workers > 0,  # started once per run, not once per epoch (about 2 s each time)
        "multiprocessing_context": worker_context() if workers else None,
    }
    batch = config.batch_size // ctx.world
    train = DataLoader(train_set, batch_size=batch, sampler=sampler, **loader_args)
    val = None
    if split.val:
        val_set = ClipDataset(
            split.val, config.preprocessing, train=False, clips_per_video=config.val_clips, cache=cache, tagged=True
        )
        mine = list(range(ctx.rank, len(val_set), ctx.world))  # every process a share, no padding
        val = DataLoader(val_set, batch_size=batch, sampler=mine, **loader_args)
    return Loaders(train_set, sampler, train, val)


@dataclass
class SkipReport:
    """Videos that did not decode (their clips come with `decoded` False): each named once per run through `say`
    (the main process's console; silent elsewhere)."""

    say: Callable[..., Any] = silent
    named: set[Path] = field(default_factory=set)

    def decoded(self, dataset: ClipDataset, batch: Clip) -> torch.Tensor | None:
        """The mask of the batch's clips that decoded (None: all of them); names the videos behind the others not
        named before."""
        if batch.decoded.all():
            return None
        for index in batch.index[~batch.decoded].tolist():
            path = dataset.items[dataset.video_of(index)].path
            if path not in self.named:
                self.named.add(path)
                self.say(f"[yellow]skipped:[/] {path}: cannot decode the video; the run goes on without it")
        return batch.decoded
