"""Data sets for training and evaluation: layouts, grouped splits, the decoded-frame cache and the clip Dataset."""

from .datasets import (
    ClipDataset,
    DataFormat,
    DataSplit,
    EpochSampler,
    FrameCache,
    VideoItem,
    grouped_split,
    open_dataset,
    skipped_video,
)

__all__ = [
    "ClipDataset",
    "DataFormat",
    "DataSplit",
    "EpochSampler",
    "FrameCache",
    "VideoItem",
    "grouped_split",
    "open_dataset",
    "skipped_video",
]
