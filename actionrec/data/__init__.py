"""Data sets for training and evaluation: layouts (`layouts`), grouped train/validation splits (`splits`),
undecodable videos (`undecodable`), the decoded-frame cache (`frame_cache`) and the clip Dataset (`clips`)."""

from ..choices import DataLayout
from .clips import Clip, ClipDataset, EpochSampler
from .frame_cache import FrameCache
from .layouts import open_dataset
from .splits import DataSplit, VideoItem, grouped_split

__all__ = [
    "Clip",
    "ClipDataset",
    "DataLayout",
    "DataSplit",
    "EpochSampler",
    "FrameCache",
    "VideoItem",
    "grouped_split",
    "open_dataset",
]
