"""Live input (`actionrec watch`): a camera, a stream URL or a file paced at its own frame rate, read on a capture
thread into causal windows; the network labels the newest complete window (an older one still waiting is dropped,
so the queue never grows), `OnlineSegmenter` keeps the current segment, and the run's statistics are counted.

`sources` names what to watch, `windows` cuts frames into causal windows and queues them, `capture` reads on its own
thread, `records` holds the configuration and what a run yields and counts, `watcher` runs the network.
"""

from .capture import Capture
from .records import LatencyHistogram, LiveConfig, LiveLabel, LiveStats
from .sources import Source, SourceKind, parse_source
from .watcher import Watcher
from .windows import LatestQueue, LiveWindow, WindowAssembler

__all__ = [
    "Capture",
    "LatencyHistogram",
    "LatestQueue",
    "LiveConfig",
    "LiveLabel",
    "LiveStats",
    "LiveWindow",
    "Source",
    "SourceKind",
    "Watcher",
    "WindowAssembler",
    "parse_source",
]
