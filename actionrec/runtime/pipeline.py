"""Prediction end to end: video file -> windows -> `preprocess` -> back end -> window scores -> video result.

Decoding runs in a background thread (OpenCV releases the GIL) so that it overlaps the network, and windows
reach the network in batches. The Python API (`load`, `Recognizer.predict`) mirrors `actionrec predict`.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ActionrecError, ModelFileError
from ..hub import DEFAULT_MODEL_NAME as DEFAULT_MODEL_NAME  # the model store's facts, re-exported
from ..hub import default_model_path as default_model_path
from ..hub import resolve_model, shipped_model_path
from ..io.checkpoint import model_file_kind, onnx_external_data, read_meta
from ..model_meta import Preprocessing
from .aggregate import VideoResult, WindowResult, ranked, softmax, video_label, video_ranking
from .backends import Backend, BackendKind, Device, Precision, open_backend
from .segments import DEFAULT_SEGMENT_CONFIG, SegmentConfig, segment

if TYPE_CHECKING:  # decoding (OpenCV) is imported where a video is read: `default_model_path` and `info` need none
    from ..io.video import Window

# `backend=auto` runs the shipped model's ONNX twin on ONNX Runtime for a run of at most this many clips: ONNX Runtime
# is ready about 0.9 s sooner (no `import torch`) and, on its own CPU provider, takes about 8 ms a clip more than
# torch (docs/speed.md#start-up, bench/bench_startup.py), so it is ahead up to about 100 clips; 64 (30 s of video at
# the shipped model's 0.48 s stride) keeps a margin for CPUs where torch is relatively faster.
AUTO_ONNX_MAX_CLIPS = 64
_NO_FRAMES = np.empty((0, 0, 0, 3), np.uint8)  # a view would keep the whole window's pixels alive


_RUNNING: dict[threading.Thread, tuple[threading.Event, queue.Queue]] = {}  # prefetch threads, for `stop_prefetching`


def stop_prefetching(timeout: float = 2.0) -> None:
    """Stop every prefetch thread still running and wait (up to `timeout` seconds in all) until it has left the
    decoder. Runs at exit: a run stopped by a signal can leave a prefetching generator unclosed (its frames held by
    the exception's traceback), and a daemon thread still inside OpenCV when the process tears down aborts it
    ("terminate called without an active exception")."""
    deadline = time.monotonic() + timeout
    for thread, (stop, q) in list(_RUNNING.items()):
        stop.set()
        while thread.is_alive() and time.monotonic() < deadline:
            try:
                q.get_nowait()  # unblock a producer waiting on a full queue
            except queue.Empty:
                thread.join(0.05)


atexit.register(stop_prefetching)


def prefetch(items: Iterable, depth: int = 2) -> Iterator:
    """Iterate `items` in a background thread, `depth` ahead; exceptions surface in the consumer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put((item, None))
            q.put((done, None))
        except BaseException as e:  # handed to the consumer, re-raised there
            q.put((done, e))

    thread = threading.Thread(target=work, daemon=True)
    _RUNNING[thread] = (stop, q)
    thread.start()
    try:
        while True:
            item, error = q.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)
        _RUNNING.pop(thread, None)


def batched(windows: Iterable[Window], size: int) -> Iterator[list[Window]]:
    batch: list[Window] = []
    for w in windows:
        batch.append(w)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def clip_batches(
    path: str | os.PathLike[str],
    spec: Preprocessing,
    *,
    stride: int | None = None,
    num_windows: int | None = None,
    batch_size: int = 8,
) -> Iterator[tuple[list[Window], np.ndarray]]:
    """The video's windows in batches with their network input (B, 3, T, crop, crop), decoded ahead on a thread
    while the caller runs the network: the one way every path (predict, evaluate, explain, export's check) turns a
    video into clips."""
    from ..io.video import iter_windows
    from ..transforms import frame_resizer, preprocess

    windows = iter_windows(
        path,
        clip_len=spec.clip_len,
        frame_step=spec.frame_step,
        stride=stride,
        num_windows=num_windows,
        transform=frame_resizer(spec),
        fps=spec.fps,
    )
    return prefetch(
        ((b, preprocess(np.stack([w.frames for w in b]), spec)) for b in batched(windows, batch_size)), depth=2
    )


class Recognizer:
    """A model file opened on a back end, ready to label videos. `close()` (or a `with` block) releases the back
    end: its threads, its ONNX Runtime session, the torch thread count it set; closing twice is harmless."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.meta = backend.meta

    def close(self) -> None:
        """Release the back end; idempotent."""
        close = getattr(self.backend, "close", None)  # a minimal back end (a test's) may hold nothing to release
        if close is not None:
            close()

    def __enter__(self) -> Recognizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def clip_batches(
        self,
        path: str | os.PathLike[str],
        *,
        stride: int | None = None,
        num_windows: int | None = None,
        batch_size: int = 8,
    ) -> Iterator[tuple[list[Window], np.ndarray]]:
        """`clip_batches` with this model's preprocessing."""
        return clip_batches(
            path, self.meta.preprocessing, stride=stride, num_windows=num_windows, batch_size=batch_size
        )

    def window_probs(
        self,
        path: str | os.PathLike[str],
        *,
        stride: int | None = None,
        num_windows: int | None = None,
        batch_size: int = 8,
    ) -> tuple[np.ndarray, list[Window]]:
        """Class probabilities (W, C) of each window of the video, and the windows (frames dropped)."""
        probs, kept = [], []
        for batch, x in self.clip_batches(path, stride=stride, num_windows=num_windows, batch_size=batch_size):
            probs.append(softmax(self.backend(x)))
            kept.extend(dataclasses.replace(w, frames=_NO_FRAMES) for w in batch)  # drop the pixels, keep the times
        return np.concatenate(probs), kept

    def predict(
        self,
        path: str | os.PathLike[str],
        *,
        stride: int | None = None,
        batch_size: int = 8,
        top_k: int = 5,
        segment_config: SegmentConfig = DEFAULT_SEGMENT_CONFIG,
    ) -> VideoResult:
        """Label one video: each window's top-k, the video's ranking, its segments (`segments.segment` with
        `segment_config`) and its label (`aggregate.video_label`); raises `VideoError` when it cannot be read."""
        from ..io.video import probe

        info = probe(path)
        probs, windows = self.window_probs(path, stride=stride, batch_size=batch_size)
        if not np.isfinite(probs).all():  # NaN never reaches a result (nor JSON): it is this video's error
            bad = int((~np.isfinite(probs).all(axis=1)).sum())
            raise ActionrecError(
                f"{path}: the network gave non-finite scores (NaN or infinity) for {bad} of its {len(windows)} "
                "windows: a damaged model file?"
            )
        labels = self.meta.labels
        ranking = ranked(video_ranking(probs), labels, top_k)
        duration = windows[-1].end_s
        starts, ends = np.array([w.start_s for w in windows]), np.array([w.end_s for w in windows])
        segments = segment(probs, starts, ends, labels, segment_config, duration_s=duration)
        main = video_label(segments)
        assert main is not None  # a video has windows, so segments
        return VideoResult(
            video=str(path),
            frames=windows[-1].video_frames,
            fps=info.fps,
            duration_s=duration,
            label=main.label,
            score=main.score,
            top=ranking,
            segments=segments,
            windows=[
                WindowResult(round(w.start_s, 6), round(w.end_s, 6), ranked(p, labels, top_k))
                for w, p in zip(windows, probs, strict=True)
            ],
        )

    def predict_many(self, paths: Iterable[str | os.PathLike[str]], **kwargs) -> Iterator[VideoResult]:
        """Label each video in turn; a video that fails yields a result with `error` set, and the rest go on."""
        for path in paths:
            try:
                yield self.predict(path, **kwargs)
            except ActionrecError as e:
                yield VideoResult(video=str(path), error=str(e))


def _check_external_data(path: Path) -> None:
    """An .onnx whose weights live in external data files that are missing or not regular files (/dev/zero): one
    line naming both (ONNX Runtime's own message is a long shape-inference error that names neither). Read without
    the onnx package (`checkpoint.onnx_external_data`), whose import alone costs more than the whole prediction."""
    try:
        locations = onnx_external_data(path)
    except (ValueError, EOFError, UnicodeDecodeError, OSError):  # not a readable graph: ONNX Runtime says so
        return
    for location in dict.fromkeys(locations):
        kind = model_file_kind(path.parent / location) if location else "file"
        if kind is None:
            raise ModelFileError(f"{path}: its external weights file {location} is missing (expected beside it)")
        if kind != "file":
            raise ModelFileError(f"{path}: its external weights file {location} is {kind}, not a regular file")


def shipped_onnx_twin(path: str | os.PathLike[str]) -> Path | None:
    """The ONNX twin of the shipped model (the same network exported, shipped beside it, with the same metadata)
    when `path` is the shipped model and the twin is there; else None."""
    path = Path(path)
    if path.resolve() != shipped_model_path().resolve():
        return None
    twin = path.with_suffix(".onnx")
    try:
        return twin if model_file_kind(twin) == "file" and read_meta(twin) == read_meta(path) else None
    except ActionrecError:  # a damaged twin: the torch model runs
        return None


def count_clips(
    videos: Iterable[str | os.PathLike[str]], spec: Preprocessing, *, stride: int | None = None, limit: int
) -> int:
    """The clips (windows) the videos will give, from their headers (`probe`, nothing decoded), counted until the
    sum passes `limit`. A video that is not a local file (a URL, a camera, a missing path) or whose header gives no
    frame count may be long: it counts as limit + 1. A file that cannot be read gives none (it fails at once)."""
    from ..io.video import grid_frames, probe
    from ..io.window_plan import WindowPlan

    plan = WindowPlan.for_spec(spec, stride)
    total = 0
    for video in videos:
        if total > limit:
            break
        try:
            if model_file_kind(video) != "file":
                return limit + 1
        except ActionrecError:  # a name the system refuses: that video fails on its own; its length is unknown
            return limit + 1
        try:
            info = probe(video)
        except ActionrecError:
            continue
        if info.frames <= 0 or info.fps <= 0:
            return limit + 1
        total += len(plan.starts(max(grid_frames(info, spec.fps), 1)))  # what iter_windows will plan
    return total


def _auto_model(
    path: Path, videos: Iterable[str | os.PathLike[str]], stride: int | None, device: str, precision: Precision
) -> Path:
    """What `backend=auto` opens: the shipped model's ONNX twin for a run of at most AUTO_ONNX_MAX_CLIPS clips on
    the CPU at fp32 (ONNX Runtime runs no bf16), else the model as given."""
    if device != Device.cpu.value or precision == Precision.bf16:
        return path
    twin = shipped_onnx_twin(path)
    if twin is None:
        return path
    clips = count_clips(videos, read_meta(path).preprocessing, stride=stride, limit=AUTO_ONNX_MAX_CLIPS)
    return twin if clips <= AUTO_ONNX_MAX_CLIPS else path


def load(
    model: str | os.PathLike[str] | None = None,
    *,
    backend: BackendKind = BackendKind.auto,
    device: Device | str = Device.cpu,
    precision: Precision = Precision.auto,
    threads: int | None = None,
    compile: bool = False,
    streams: int | None = None,
    batch_size: int = 8,
    videos: Iterable[str | os.PathLike[str]] | None = None,
    stride: int | None = None,
) -> Recognizer:
    """Open a model for prediction: a file, an installed model's name, or None / "default" for the shipped model
    (`hub.resolve_model`); `compile` builds a torch.compile graph (worth it for long videos and folders; it costs
    seconds up front, less once Inductor's cache is warm) for batches of `batch_size` clips, the size to pass to
    `predict`; `streams`: parts of each batch that run at once on the CPU (see `backends.open_backend`). Use it as
    a context manager, or call `close()`, to release the back end.

    `videos` (and `stride`, as `predict` will be given it) name the videos the recognizer will label: with
    `backend=auto` on the shipped model, few enough clips in all (AUTO_ONNX_MAX_CLIPS) run on its ONNX twin on ONNX
    Runtime, which starts about 0.9 s sooner; without `videos` auto keeps the file's own back end."""
    path = resolve_model(model)  # a file, an installed model's name, or None / "default": the shipped model
    if backend == BackendKind.auto and videos is not None and not compile and streams in (None, 1):
        path = _auto_model(Path(path), videos, stride, Device(device).value, Precision(precision))
    if Path(path).suffix.lower() == ".onnx":
        _check_external_data(Path(path))
    backend_ = open_backend(
        path,
        kind=backend,
        device=device,
        precision=precision,
        threads=threads,
        compile=compile,
        streams=streams,
        batch_size=batch_size,
    )
    return Recognizer(backend_)
