"""Labelling many videos on a Ray cluster with Ray Data: a dataset of paths, an actor pool holding one model replica
per actor, and the results written as JSON Lines or Parquet shards, record for record what `predict` writes.
Needs the `ray` extra: pip install 'actionrec[ray]'.

>>> from actionrec.ray_predict import predict_dataset
>>> run = predict_dataset(["a.mp4", "b.mp4"], "model.safetensors", output="results/", actors=2)
>>> run.videos, run.failed
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .choices import BackendKind, DatasetFormat, Device, Precision
from .errors import ActionrecError, require_extra
from .runtime.aggregate import VideoResult
from .runtime.segments import DEFAULT_SEGMENT_CONFIG, SegmentConfig

RAY_MODULES = ("ray", "pyarrow")  # what the `ray` extra installs (ray[data] brings pyarrow)
ROWS_PER_FILE = 1000  # results gathered into one output file, at least (the last file of a run may hold fewer)
ATTEMPTS = 3  # runs of one video whose worker died before it is given up as that video's error


@dataclass(frozen=True)
class LabelOptions:
    """How each actor opens the model and labels a video: `predict`'s options, one value for the whole pool."""

    model: str  # a model file every node can read at this path
    backend: BackendKind = BackendKind.auto
    device: Device = Device.cpu
    precision: Precision = Precision.auto
    threads: int = 1  # the network's CPU threads in each actor
    streams: int | None = None
    compile: bool = False
    stride: int | None = None
    batch_size: int = 8
    top_k: int = 5
    segment_config: SegmentConfig = DEFAULT_SEGMENT_CONFIG


@dataclass(frozen=True)
class DatasetRun:
    """What `predict_dataset` did: results of `videos` videos (`failed` of them error records) in `files` files."""

    output: str
    format: DatasetFormat
    videos: int
    failed: int
    files: int


def result_schema():
    """The Arrow schema of a result record, derived from `VideoResult`'s fields (`to_dict()`'s keys, in its order)
    and their types, nested dataclasses as structs. Every block has this one schema, error records (empty lists,
    nulls) included, so that all files read as one table."""
    return _arrow_schema(VideoResult)


def _arrow_schema(cls):
    import pyarrow as pa

    hints = typing.get_type_hints(cls)
    return pa.schema([(f.name, _arrow_type(hints[f.name])) for f in dataclasses.fields(cls)])


def _arrow_type(hint):
    """The Arrow type of a result field's annotation: str, int, float, X | None, list[X], a dataclass."""
    import pyarrow as pa

    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (types.UnionType, typing.Union) and len(args) == 1:  # X | None: nullable X
        return _arrow_type(args[0])
    if typing.get_origin(hint) is list:
        return pa.list_(_arrow_type(args[0]))
    if dataclasses.is_dataclass(hint):
        return pa.struct(list(_arrow_schema(hint)))
    scalars = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}
    if hint in scalars:
        return scalars[hint]
    raise TypeError(f"no Arrow type for a result field of type {hint!r}")


class _Attempts:
    """A small actor counting how often each video was started, so that a video whose worker dies each time (a crash
    in the decoder, say) becomes its error record after ATTEMPTS tries instead of being retried for ever."""

    def __init__(self) -> None:
        self.started: dict[str, int] = {}

    def begin(self, video: str, finished: str | None) -> int:
        """Count a start of `video` and return how many it has had; `finished`, the caller's previous video, is
        forgotten (it ended without killing its worker), so the table holds only the videos in flight."""
        if finished is not None:
            self.started.pop(finished, None)
        self.started[video] = self.started.get(video, 0) + 1
        return self.started[video]


class _Labeller:
    """One actor of the pool: a model replica with its own thread count, labelling batches of paths into rows."""

    def __init__(self, options: LabelOptions, attempts) -> None:
        from .io.video import quiet_decoder_logs
        from .runtime.pipeline import load

        quiet_decoder_logs()  # a bad video is its error record; FFmpeg's own messages would only fill the worker logs
        self.options = options
        self.attempts = attempts
        self.previous: str | None = None
        self.schema = result_schema()
        self.recognizer = load(
            options.model,
            backend=options.backend,
            device=options.device,
            precision=options.precision,
            threads=options.threads,
            streams=options.streams,
            compile=options.compile,
        )

    def __call__(self, batch):
        import pyarrow as pa

        rows = [self.label(video).to_dict() for video in batch.column("video").to_pylist()]
        return pa.Table.from_pylist(rows, schema=self.schema)

    def label(self, video: str) -> VideoResult:
        import ray

        started = ray.get(self.attempts.begin.remote(video, self.previous))
        self.previous = video
        if started > ATTEMPTS:
            return VideoResult(
                video=video,
                error=f"{video}: the worker labelling it died {started - 1} times (a crash while decoding or in the "
                "network); given up",
            )
        o = self.options
        # predict_many: the same per-video call, and the same error record for a video that fails, as `predict`
        results = self.recognizer.predict_many(
            [video], stride=o.stride, batch_size=o.batch_size, top_k=o.top_k, segment_config=o.segment_config
        )
        return next(results)


def _results_sink(output: str, fmt: DatasetFormat, rows_per_file: int):
    """A Ray Data file sink writing result blocks as `fmt` files in `output`; each write task returns its rows
    and error records, gathered in `on_write_complete`. JSON Lines are written with `io.output.dumps`, the writer
    of `predict`'s lines, so that a line is byte for byte the one `predict` writes (Ray's write_json goes through
    pandas, which rounds floats to 10 digits)."""
    from ray.data.datasource import BlockBasedFileDatasink

    from .io.output import dumps

    class ResultsSink(BlockBasedFileDatasink):
        def __init__(self) -> None:
            super().__init__(output, min_rows_per_file=rows_per_file, file_format=fmt.value)
            self.totals: tuple[int, int, int] = (0, 0, 0)

        def write(self, blocks, ctx) -> tuple[int, int]:
            import pyarrow as pa

            tables = [t for t in (_arrow(b) for b in blocks) if t.num_rows]
            if not tables:
                return 0, 0
            table = pa.concat_tables(tables)
            super().write([table], ctx)
            return table.num_rows, table.num_rows - table.column("error").null_count

        def write_block_to_file(self, block, file) -> None:
            table = block.to_arrow()
            if fmt == DatasetFormat.parquet:
                import pyarrow.parquet as pq

                pq.write_table(table, file)
            else:
                file.write("".join(dumps(row) + "\n" for row in table.to_pylist()).encode("utf-8"))

        def on_write_complete(self, write_result) -> None:
            super().on_write_complete(write_result)
            counts = [r for r in write_result.write_returns if r and r[0]]
            self.totals = (sum(r[0] for r in counts), sum(r[1] for r in counts), len(counts))

    return ResultsSink()


def _arrow(block):
    from ray.data.block import BlockAccessor

    return BlockAccessor.for_block(block).to_arrow()


def _check_output(output: str) -> None:
    """A local output folder must be new or empty: files of an earlier run beside this one's would read as one
    result set, with videos twice."""
    from .io.video import is_url

    if is_url(output):  # s3://, gs://...: Ray's file system layer creates and writes it
        return
    path = Path(output)
    if path.exists() and not path.is_dir():
        raise ActionrecError(f"{path}: not a folder; the Ray run writes its result files into a folder")
    if path.is_dir() and any(path.iterdir()):
        raise ActionrecError(f"{path}: holds files already; give a new or empty folder for the result files")


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[None]:
    """The Ray instance to run on: the one this process is already connected to; else the cluster at `address`
    ("auto": the one started on this machine, "HOST:PORT", "ray://HOST:PORT") or at $RAY_ADDRESS; else a new local
    instance (`num_cpus`: its CPUs [default: all]). One this block started is shut down at its end."""
    import ray

    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    local = address is None
    ray.init(
        address="local" if local else address,  # "local": a new instance, never another one found on this machine
        num_cpus=num_cpus if local else None,
        include_dashboard=False if local else None,
        logging_level=logging.WARNING,
    )
    try:
        yield
    finally:
        ray.shutdown()


def predict_dataset(
    paths: Sequence[str | os.PathLike[str]],
    model: str | os.PathLike[str] | None = None,
    *,
    output: str | os.PathLike[str],
    format: DatasetFormat | str = DatasetFormat.jsonl,
    actors: int | None = None,
    threads_per_actor: int = 1,
    address: str | None = None,
    top_k: int = 5,
    stride: int | None = None,
    batch_size: int = 8,
    segment_config: SegmentConfig = DEFAULT_SEGMENT_CONFIG,
    backend: BackendKind = BackendKind.auto,
    device: Device = Device.cpu,
    precision: Precision = Precision.auto,
    streams: int | None = None,
    compile: bool = False,
    rows_per_file: int = ROWS_PER_FILE,
    progress: bool = True,
) -> DatasetRun:
    """Label `paths` (video files or URLs every node can read) with `model` on Ray Data, into result files in the
    folder `output` (a new or empty folder, or a URI Ray writes to, such as s3://bucket/run).

    Each of `actors` actors (default: as many as the cluster's CPUs allow, `threads_per_actor` CPUs each) opens the
    model once (`load`: a file at the same path on every node, an installed name, or None for the shipped model)
    and labels one video at a time with `Recognizer.predict`, as `predict` does: a record per video, an unreadable
    video giving its error record. A worker that dies has its videos retried on a new actor (Ray Data restarts the
    pool's actors and retries their tasks); a video that kills its worker ATTEMPTS times becomes its error record.
    Runs on the Ray instance this process is connected to, else the cluster at `address`, else a new local one.
    """
    require_extra("predict --ray", "ray", RAY_MODULES)
    import ray
    import ray.data

    from .hub import resolve_model
    from .io.checkpoint import read_meta

    fmt = DatasetFormat(format)
    if actors is not None and actors < 1:
        raise ActionrecError(f"actors={actors}: give at least 1")
    if threads_per_actor < 1:
        raise ActionrecError(f"threads_per_actor={threads_per_actor}: give at least 1")
    videos = [os.fspath(p) for p in paths]
    if not videos:
        raise ActionrecError("no videos to label")
    read_meta(resolve_model(model))  # a bad model file is one line here, before any actor starts
    out = os.fspath(output)
    _check_output(out)
    # A file goes by its absolute path (the same on every node); a name or the shipped model is found on each node.
    is_file = model is not None and Path(model).is_file()
    options = LabelOptions(
        model=str(Path(model).resolve()) if is_file else os.fspath(model or "default"),
        backend=backend,
        device=Device(device),
        precision=precision,
        threads=threads_per_actor,
        streams=streams,
        compile=compile,
        stride=stride,
        batch_size=batch_size,
        top_k=top_k,
        segment_config=segment_config,
    )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = progress
    context.print_on_execution_start = progress
    with ray_session(address):
        size = actors or max(int(ray.cluster_resources().get("CPU", 1)) // threads_per_actor, 1)
        attempts = ray.remote(num_cpus=0)(_Attempts).remote()
        sink = _results_sink(out, fmt, rows_per_file)
        try:
            # One video a call: a worker that dies takes only the video it was on with it (the others it had
            # queued are retried untouched), and the pool shares out long and short videos as they come.
            ray.data.from_items([{"video": v} for v in videos]).map_batches(
                _Labeller,
                fn_constructor_kwargs={"options": options, "attempts": attempts},
                batch_size=1,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=min(size, len(videos))),
                num_cpus=threads_per_actor,
                num_gpus=1 if options.device == Device.cuda else None,
            ).write_datasink(sink, ray_remote_args={"num_cpus": 0})  # file writes: no CPU of the actors' to wait for
        finally:
            ray.kill(attempts)
    rows, failed, files = sink.totals
    return DatasetRun(output=out, format=fmt, videos=rows, failed=failed, files=files)


def read_results(output: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every record in a `predict_dataset` output folder (JSON Lines or Parquet files), as the dicts
    `VideoResult.to_dict()` gives; in no particular order."""
    import json

    folder = Path(output)
    records: list[dict[str, Any]] = []
    for f in sorted(folder.iterdir()):
        if f.suffix == ".jsonl":
            records.extend(json.loads(line) for line in f.read_text(encoding="utf-8").splitlines())
        elif f.suffix == ".parquet":
            require_extra(f"{f}: reading Parquet results", "ray", RAY_MODULES)
            import pyarrow.parquet as pq

            records.extend(pq.read_table(f).to_pylist())
    return records


__all__ = ["DatasetFormat", "DatasetRun", "LabelOptions", "predict_dataset", "ray_session", "read_results"]
