"""The training/validation clip `Dataset`: which window and crop of which video each item is (random for training,
evenly spaced and centred for validation), and `EpochSampler`, which hands the epoch to DataLoader workers.

Every clip goes through `transforms.preprocess`; this module only picks which window (`io.window_plan`) and crop box.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..errors import VideoError
from ..io.video import grid_frames, probe, read_frames
from ..io.window_plan import WindowPlan
from ..model_meta import Preprocessing
from ..transforms import color_augment, frame_resizer, preprocess, random_box
from .frame_cache import FrameCache, decode_all
from .splits import VideoItem


class EpochSampler(Sampler):
    """A sampler's indices as (epoch, index) pairs: the epoch reaches `ClipDataset` with each item, also in
    persistent DataLoader workers, whose copies of the dataset `set_epoch` cannot reach."""

    def __init__(self, sampler: Sampler):
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self):
        return ((self.epoch, int(i)) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


class Clip(NamedTuple):
    """An item of a `tagged` ClipDataset; a DataLoader batches it field by field into a Clip of tensors."""

    clip: torch.Tensor  # (3, T, crop, crop) float32; zeros where the video did not decode
    label: int
    index: int  # the item: video * clips_per_video + window
    decoded: bool  # False: the video opened but did not decode (the training loop leaves it out, names it once)


class ClipDataset(Dataset):
    """Clips of labelled videos for training (random window start, multi-scale crop, optional flip and colour
    changes) or validation (`clips_per_video` evenly spaced windows, centre crop). Items are (float32
    (3, T, crop, crop), label), or with `tagged` a `Clip`, which also says the item's index and whether its video
    decoded; the clip of video v, window k is item v * clips_per_video + k.

    The random choices of item i in epoch e come from a generator seeded with (seed, e, i): the same whatever
    the number of workers or processes. Call `set_epoch` before each epoch.
    """

    def __init__(
        self,
        items: Sequence[VideoItem],
        spec: Preprocessing,
        *,
        train: bool,
        seed: int = 0,
        clips_per_video: int = 1,
        cache: FrameCache | None = None,
        hflip: bool = True,
        scales: tuple[float, ...] = (1.0, 0.875, 0.75, 0.66),
        color_jitter: float = 0.0,
        channel_shuffle: bool = False,
        tagged: bool = False,
    ):
        if clips_per_video < 1:
            raise ValueError("clips_per_video must be at least 1")
        self.items = tuple(items)
        self.spec = spec
        self.train = train
        self.seed = seed
        self.clips_per_video = 1 if train else clips_per_video
        self.cache = cache
        self.hflip = hflip  # off for direction-dependent classes (walk left vs walk right)
        self.scales = scales  # crop side / short side choices of the multi-scale crop
        self.color_jitter = color_jitter  # brightness / contrast / saturation jitter strength (training only)
        self.channel_shuffle = channel_shuffle  # random RGB order per clip (training only)
        self.tagged = tagged
        self.epoch = 0
        self._counts: dict[Path, int] = {}  # frame counts on the model's clock, from the container, per worker

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items) * self.clips_per_video

    def video_of(self, index: int) -> int:
        return index // self.clips_per_video

    def __getitem__(self, index: int | tuple[int, int]):
        """(clip, label), or with `tagged` a `Clip`, of item `index`, or of `(epoch, index)` as `EpochSampler` gives
        them (a persistent worker's copy of the dataset never sees `set_epoch`). A video that opens but does not
        decode raises its VideoError, or with `tagged` gives a blank `Clip` whose `decoded` is False."""
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        label = self.items[self.video_of(index)].label
        if not self.tagged:
            return torch.from_numpy(self.clip_array(index, epoch)), label
        try:
            return Clip(torch.from_numpy(self.clip_array(index, epoch)), label, index, True)
        except VideoError:
            spec = self.spec
            return Clip(torch.zeros(3, spec.clip_len, spec.crop, spec.crop), label, index, False)

    def clip_array(self, index: int, epoch: int | None = None) -> np.ndarray:
        """The preprocessed clip of item `index` (in `epoch`, default the one set): float32 (3, T, crop, crop)."""
        spec = self.spec
        item = self.items[self.video_of(index)]
        frames = self.cache.frames(item.path, spec) if self.cache is not None else None
        n = len(frames) if frames is not None else self._frame_count(item.path)
        if n == 0:
            frames = decode_all(item.path, spec)
            n = len(frames)
        epoch = self.epoch if epoch is None else epoch
        rng = np.random.default_rng([self.seed, epoch, index]) if self.train else None
        plan = WindowPlan.for_spec(spec)
        if rng is not None:
            start = int(rng.integers(0, plan.last_start(n) + 1))  # temporal jitter
        else:
            starts = plan.spread(n, self.clips_per_video)
            start = starts[min(index % self.clips_per_video, len(starts) - 1)]
        indices = plan.indices(n, start)
        if frames is not None:
            clip = np.asarray(frames[indices])  # (T, H, W, 3), copied out of the memory map
        else:
            clip = read_frames(item.path, indices, frame_resizer(spec), spec.fps)
        box = None
        if rng is not None:
            box = random_box(clip.shape[1], clip.shape[2], spec, rng, scales=self.scales, flip=self.hflip)
            if self.color_jitter > 0 or self.channel_shuffle:
                clip = color_augment(clip, rng, jitter=self.color_jitter, shuffle=self.channel_shuffle)
        return preprocess(clip, spec, box)[0]  # (3, T, crop, crop)

    def _frame_count(self, path: Path) -> int:
        if path not in self._counts:
            self._counts[path] = grid_frames(probe(path), self.spec.fps)
        return self._counts[path]
