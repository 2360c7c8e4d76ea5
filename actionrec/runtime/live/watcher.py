"""`Watcher`: a model watching a live source, labelling each window as it completes, with the current segment."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from ...errors import ActionrecError
from ...transforms import preprocess
from ..aggregate import ranked, softmax
from ..segments import OnlineSegmenter, Segment
from .capture import Capture
from .records import Coverage, LatencyHistogram, LiveConfig, LiveLabel, LiveStats
from .sources import Source, parse_source
from .windows import LatestQueue, LiveWindow


class Watcher:
    """Label a live source window by window: `labels()` yields a `LiveLabel` as each window completes, until the
    source ends (a file, or a stream of known length), `stop()` is called or the caller stops iterating (Ctrl-C);
    a source that disconnects (after `reconnect` attempts) raises VideoError from `labels()`. `stats()` and
    `segments()` tell how it went, whenever asked. Use as a context manager, which stops the capture thread."""

    def __init__(
        self,
        recognizer,
        source: Source | str | os.PathLike[str],
        config: LiveConfig | None = None,
        *,
        notify: Callable[[str], None] | None = None,
    ):
        self.recognizer = recognizer
        self.meta = recognizer.meta
        self.source = source if isinstance(source, Source) else parse_source(source)
        self.config = config or LiveConfig()
        self.coverage = Coverage()
        self.skipped = 0
        self.queue = LatestQueue(self.config.pending, self._decided)
        self.capture = Capture(
            self.source, self.meta.preprocessing, self.config, self.queue, notify or (lambda m: None)
        )
        self.segmenter = OnlineSegmenter(self.meta.labels, self.config.segments)
        self.latency = LatencyHistogram()
        self.labelled = 0

    def _decided(self, window: LiveWindow, labelled: bool) -> None:  # under the queue's lock
        self.coverage.decide(window.start_frame, window.end_frame, labelled)
        if not labelled:
            self.skipped += 1

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, wait_s: float = 2.0) -> None:
        """Stop reading: the capture thread ends after its current frame and releases the source; wait up to
        `wait_s` for that, so that no decoder is left mid-read when the process exits (a read blocked in a stalled
        stream is left to time out on its daemon thread)."""
        self.capture.stop()
        self.queue.close()
        if self.capture.is_alive() and threading.current_thread() is not self.capture:
            self.capture.join(wait_s)

    def labels(self) -> Iterator[LiveLabel]:
        """Each window's label and the current segment, in order, as the windows complete."""
        spec = self.meta.preprocessing
        if self.capture.ident is None:  # not started: a first network call (its one-off set-up costs) before
            self.recognizer.backend(np.zeros((1, 3, spec.clip_len, spec.crop, spec.crop), np.float32))
            self.capture.start()
        while True:
            window = self.queue.get(timeout=0.1)  # a short wait: Ctrl-C reaches the main thread promptly
            if window is None:
                if self.queue.finished:
                    break
                continue
            probs = softmax(self.recognizer.backend(preprocess(window.frames, spec)))[0]
            if not np.isfinite(probs).all():
                raise ActionrecError(
                    f"{self.source}: the network gave non-finite scores (NaN or infinity): a damaged model file?"
                )
            segment = self.segmenter.push(window.start_s, window.end_s, probs)
            latency = time.monotonic() - window.arrived
            self.latency.add(latency)
            self.labelled += 1
            yield LiveLabel(
                window=window.index,
                start_s=window.start_s,
                end_s=window.end_s,
                top=ranked(probs, self.meta.labels, self.config.top_k),
                segment=segment,
                latency_s=latency,
                dropped_frames=self.coverage.dropped,
            )
        self.capture.join(1.0)
        if self.capture.error is not None:
            raise self.capture.error

    @property
    def ended(self) -> str:
        """Why the source stopped sending: "end of file", "end of stream", or "" (still running, stopped, or
        disconnected)."""
        return self.capture.ended

    def segments(self) -> list[Segment]:
        """The segments so far (the last one still open)."""
        return self.segmenter.segments()

    def stats(self) -> LiveStats:
        """The run so far; once the source has ended or the watch stopped, skipped windows after the last
        labelled one count as dropped too."""
        first, last = self.capture.first_arrival, self.capture.last_arrival
        dropped = self.coverage.dropped + (self.coverage.pending if self.queue.finished else 0)
        return LiveStats(
            frames=self.capture.frames,
            windows=self.labelled,
            skipped_windows=self.skipped,
            dropped_frames=dropped,
            reconnects=self.capture.reconnects,
            seconds=last - first if first is not None else 0.0,
            latency_p50_s=self.latency.percentile(50),
            latency_p95_s=self.latency.percentile(95),
            latency_max_s=self.latency.max if self.latency.count else None,
        )
