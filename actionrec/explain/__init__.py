"""Where the network looks: its spatial attention maps laid over the video's frames as a heat map (the paper's
Fig. 6), written as a video and/or a contact sheet, and the share of attention mass inside a box.

`maps` runs the plain torch network over the pipeline's clips with hooks on its attention, `geometry` maps the
network's crop onto frame pixels (and holds the metric), `overlay` draws one frame, `sheet` lays out the contact
sheet and `heatmap` (`explain_video`) does a whole video, encoded by `io.video_writer`.
"""

from ..io.video_writer import VideoCodec, open_video_writer
from .geometry import (
    Box,
    area_share,
    attention_frames,
    attention_share,
    box_mask,
    box_to_crop,
    crop_region,
    time_steps,
)
from .heatmap import ExplainResult, explain_video
from .maps import (
    Explainer,
    WindowMaps,
    load_for_explain,
    nearest_windows,
    select_blocks,
    spatial_blocks,
    window_maps,
)
from .sheet import sheet_size

__all__ = [
    "Box",
    "ExplainResult",
    "Explainer",
    "VideoCodec",
    "WindowMaps",
    "area_share",
    "attention_frames",
    "attention_share",
    "box_mask",
    "box_to_crop",
    "crop_region",
    "explain_video",
    "load_for_explain",
    "nearest_windows",
    "open_video_writer",
    "select_blocks",
    "sheet_size",
    "spatial_blocks",
    "time_steps",
    "window_maps",
]
