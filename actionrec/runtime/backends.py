"""Back ends behind one small interface: a callable that takes clips (N, 3, T, H, W) float32 as numpy and
returns logits (N, num_classes) float32 as numpy. PyTorch for `.safetensors`, ONNX Runtime for `.onnx`.

Torch is imported only when the PyTorch back end is opened.
"""

from __future__ import annotations

import functools
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np

from ..choices import BackendKind, Device, Precision
from ..cpu import auto_bf16
from ..errors import ActionrecError, ModelFileError, OptionError
from ..io.checkpoint import check_model_file, meta_from_onnx_props
from ..model_meta import ModelMeta
from ..tuning import CHANNELS_LAST_MIN_WIDTH, CPU_STREAMS


class Backend(Protocol):
    meta: ModelMeta
    name: str

    def __call__(self, clips: np.ndarray) -> np.ndarray: ...

    def close(self) -> None:
        """Release what the back end holds (threads, sessions, settings it changed); idempotent."""


class TorchBackend:
    """A PyTorch network in eval mode; bf16 autocast and channels_last_3d when the precision asks for them (and
    channels_last_3d for wide fp32 ResNets, where it is faster), and optionally `torch.compile`d (Inductor, weights
    frozen) for one batch size, `batch_size` (the recognizer's), that short batches are padded to and longer ones
    split into, so that a short first video does not fix a graph that every later full batch recompiles.

    With `streams` > 1 a batch is split into that many parts that run at once on worker threads, each with its
    share of torch's threads (OpenVINO calls these throughput streams): independent passes do not wait at every
    op's thread barrier, and a thread that the decoder pre-empts delays only its own part (the default and its
    measurements: `tuning.CPU_STREAMS`). Logits are the same (batch norm is per clip in eval mode).

    Eager on the CPU, the residual blocks' attention runs as the fused kernels (`ops.fuse_attention`, applied here:
    the network itself is plain torch). `threads` sets torch's thread count for this process when the back end
    opens; `close()` puts the earlier count back."""

    name = "torch"

    def __init__(
        self,
        model,
        meta: ModelMeta,
        *,
        device: str = "cpu",
        precision: Precision = Precision.auto,
        compile: bool = False,
        streams: int = 1,
        threads: int | None = None,
        batch_size: int = 8,
    ):
        import torch

        from ..ops import fuse_attention

        self._threads_before = torch.get_num_threads() if threads else None
        if threads:
            torch.set_num_threads(threads)
        self.meta = meta
        self.device = torch.device(device)
        if precision == Precision.auto:
            precision = Precision.bf16 if auto_bf16(self.device.type) else Precision.fp32
        self.precision = Precision(precision)
        self.model = model.to(self.device).eval()
        self.channels_last = self.precision == Precision.bf16 or _wide(meta)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last_3d)
        self.compiled_batch: int | None = batch_size if compile else None  # the one batch the graph is built for
        if compile:  # Inductor sees the plain network; weights and BatchNorm folded into constants (inference)
            self.model = torch.compile(self.model, dynamic=False, options={"freezing": True})
        else:  # eager: the attention blocks run as the fused CPU kernels where they apply
            self.model = fuse_attention(self.model)

        self.streams = streams
        self._pool = None
        if streams > 1:  # each stream's worker thread gets its share of torch's threads, once, for its lifetime
            share = max(torch.get_num_threads() // streams, 1)
            self._pool = ThreadPoolExecutor(
                streams, "actionrec-stream", initializer=torch.set_num_threads, initargs=(share,)
            )
            list(self._pool.map(lambda _: None, range(streams)))  # start the workers now
            torch.set_num_threads(torch.get_num_threads())  # this thread's count stays, and new threads inherit it

    @property
    def compiled(self) -> bool:
        return hasattr(self.model, "_orig_mod")

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        if self._pool is None or len(clips) < 2:
            return self.forward(clips)
        parts = np.array_split(clips, min(self.streams, len(clips)))  # N -> streams x ~N/streams clips
        return np.concatenate(list(self._pool.map(self.forward, parts)))

    def __enter__(self) -> TorchBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the stream threads and put back the thread count `threads` replaced; idempotent. The back end still
        runs, on the calling thread."""
        import torch

        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._threads_before is not None:
            torch.set_num_threads(self._threads_before)
            self._threads_before = None

    def forward(self, clips: np.ndarray) -> np.ndarray:
        """One pass over the whole batch on the calling thread (what forward hooks, as in `explain`, expect)."""
        import torch

        n = clips.shape[0]
        if self.compiled and self.compiled_batch:  # one graph: pad short batches, split long ones
            if n > self.compiled_batch:
                b = self.compiled_batch
                return np.concatenate([self.forward(clips[i : i + b]) for i in range(0, n, b)])
            if n < self.compiled_batch:
                pad = np.repeat(clips[-1:], self.compiled_batch - n, axis=0)
                clips = np.concatenate([clips, pad])
        x = torch.from_numpy(np.ascontiguousarray(clips, dtype=np.float32)).to(self.device)
        with torch.inference_mode():
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last_3d)
            if self.precision == Precision.bf16:
                with torch.autocast(self.device.type, dtype=torch.bfloat16):
                    logits = self.model(x)
            else:
                logits = self.model(x)
        return logits[:n].float().cpu().numpy()


def _wide(meta: ModelMeta) -> bool:
    """fp32 3D ResNets wide enough to run faster in channels_last_3d (`tuning.CHANNELS_LAST_MIN_WIDTH`)."""
    from ..networks import NETWORKS  # torch: only the torch back end asks

    return NETWORKS[meta.arch].residual and int(meta.arch_args.get("width", 64)) >= CHANNELS_LAST_MIN_WIDTH


OPENVINO = "OpenVINOExecutionProvider"
PLUGIN_REGISTRATION = "actionrec-openvino"  # the name the OpenVINO plug-in library is registered under
OPENVINO_HINT = "pip install 'actionrec[openvino]' on Intel CPUs, or onnxruntime-openvino in place of onnxruntime"


class OnnxBackend:
    """An exported `.onnx` model run by ONNX Runtime: on the CPU through OpenVINO's execution provider where it is
    present, else ONNX Runtime's own CPU provider; CUDA where that provider is installed. OpenVINO comes either as
    the plug-in package beside the stock onnxruntime (`pip install 'actionrec[openvino]'`, onnxruntime-ep-openvino,
    registered here once per process; it offers Intel CPUs only) or built into onnxruntime-openvino, installed in
    place of onnxruntime. `provider="cpu"` forces ONNX Runtime's own CPU kernels.

    Why OpenVINO: ONNX Runtime's CPU provider runs Conv3d as im2col + GEMM (bench/bench_onnx_conv.py); OpenVINO's
    CPU plugin has direct 3D convolutions. It runs here at fp32 (OpenVINO's automatic bf16 on AMX CPUs is turned
    off), its threads not pinned to cores (faster in full predict). CPU-provider session: all graph optimisations,
    one intra-op thread per physical core, worker threads that sleep between calls (spinning gained nothing and
    steals CPU from the decoding thread beside the network in predict). The measurements behind each choice:
    `tuning.py`, bench/README.md (bench/bench_onnx.py, --tune) and docs/speed.md."""

    name = "onnxruntime"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        device: str = "cpu",
        threads: int | None = None,
        spinning: bool = False,
        provider: str = "auto",
    ):
        import onnxruntime as ort

        ort.set_default_logger_severity(3)  # errors reach the user as one line (ModelFileError), not ORT's log
        threads = threads or physical_cores()
        available = ort.get_available_providers()
        providers: list = ["CPUExecutionProvider"]
        plugin: list = []  # OpenVINO's devices from the plug-in package, when it is what provides OpenVINO
        if device == "cuda":
            if "CUDAExecutionProvider" not in available:
                raise ActionrecError(f"{path}: onnxruntime here has no CUDA provider; use --device cpu")
            providers.insert(0, "CUDAExecutionProvider")
        elif provider in ("auto", "openvino"):
            built_in = OPENVINO in available
            plugin = [] if built_in else openvino_plugin_devices()
            if provider == "openvino" and not (built_in or plugin):
                raise ActionrecError(f"{path}: no OpenVINO provider here ({OPENVINO_HINT})")
            pinning = json.dumps({"CPU": {"ENABLE_CPU_PINNING": "NO"}})  # threads free to yield to the decoder
            ov = {"precision": "FP32", "num_of_threads": str(threads), "load_config": pinning}
            if built_in:
                providers.insert(0, (OPENVINO, {"device_type": "CPU", **ov}))
        self.session = None
        if plugin:
            with_plugin = _session_options(ort, threads, spinning)
            try:
                with_plugin.add_provider_for_devices(plugin, ov)
                self.session = ort.InferenceSession(str(path), with_plugin)
            except Exception as e:  # a plug-in that refuses the graph or its options: ONNX Runtime's kernels run it
                if provider == "openvino":
                    raise ActionrecError(f"{path}: OpenVINO's plug-in cannot run it ({first_line(e)})") from None
                self.session = None
        if self.session is None:
            try:
                self.session = ort.InferenceSession(
                    str(path), _session_options(ort, threads, spinning), providers=providers
                )
            except Exception as e:  # onnxruntime raises its own untyped errors for bad graphs
                raise ModelFileError(f"{path}: onnxruntime cannot load it ({first_line(e)})") from None
        self.provider = self.session.get_providers()[0]  # what runs the graph: the first provider that took it
        self.meta = meta_from_onnx_props(path, self.session.get_modelmeta().custom_metadata_map)
        self.input_name = self.session.get_inputs()[0].name
        self.fixed_batch = _check_onnx_io(path, self.session, self.meta)  # None: any batch size

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        if self.session is None:
            raise ActionrecError("the ONNX Runtime back end was closed")
        x = np.ascontiguousarray(clips, dtype=np.float32)
        if self.fixed_batch is None:
            (logits,) = self.session.run(None, {self.input_name: x})
            return logits
        n, b = len(x), self.fixed_batch  # a graph exported for one batch size: run in its batches, the last padded
        padded = np.concatenate([x, np.repeat(x[-1:], -n % b, axis=0)]) if n % b else x
        parts = [self.session.run(None, {self.input_name: padded[i : i + b]})[0] for i in range(0, len(padded), b)]
        return np.concatenate(parts)[:n]

    def close(self) -> None:
        """Release the ONNX Runtime session (its memory and threads); calling it again does nothing."""
        self.session = None

    def __enter__(self) -> OnnxBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_onnx_io(path: str | os.PathLike[str], session, meta: ModelMeta) -> int | None:
    """Check, when the model opens, that the graph takes what its metadata's preprocessing makes, (N, 3, T, crop,
    crop) float32, and gives (N, labels): a graph whose dimensions disagree (edited to 0 or 2^40) would otherwise
    fail on its first batch. Symbolic dimensions match anything. Returns the batch size when the graph fixes one."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    want = (None, *meta.preprocessing.input_shape)
    dims = list(inputs[0].shape) if len(inputs) == 1 else []
    fixed = [d if isinstance(d, int) else None for d in dims]
    if (
        len(inputs) != 1
        or len(dims) != 5
        or any(g is not None and g != w for g, w in zip(fixed[1:], want[1:], strict=True))
    ):
        got = ", ".join(f"{i.name} {list(i.shape)}" for i in inputs)
        raise ModelFileError(
            f"{path}: its graph takes {got}, but its metadata's preprocessing makes clips of "
            f"[batch, {', '.join(map(str, want[1:]))}]"
        )
    if inputs[0].type != "tensor(float)":
        raise ModelFileError(f"{path}: its graph takes {inputs[0].type}, not float32 clips")
    if fixed[0] is not None and fixed[0] < 1:
        raise ModelFileError(f"{path}: its graph takes batches of {fixed[0]} clips")
    out = list(outputs[0].shape) if outputs else []
    if len(out) != 2 or (isinstance(out[1], int) and out[1] != meta.num_classes):
        raise ModelFileError(f"{path}: its graph gives {out}, but its metadata has {meta.num_classes} labels")
    return fixed[0]


def _session_options(ort, threads: int, spinning: bool):
    """The session settings every OnnxBackend uses (see its docstring)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3  # errors only: its warnings are not the user's business
    return options


@functools.cache
def _register_openvino_plugin() -> bool:
    """Register the plug-in package's library with ONNX Runtime, once per process; False where that cannot be."""
    try:
        import onnxruntime as ort
        import onnxruntime_ep_openvino as plugin
    except ImportError:
        return False
    if not hasattr(ort, "register_execution_provider_library"):  # onnxruntime before 1.22: no plug-ins
        return False
    try:
        ort.register_execution_provider_library(PLUGIN_REGISTRATION, plugin.get_library_path())
    except Exception:  # a plug-in built for another onnxruntime, a missing library file, or registered already
        return any(d.ep_name == OPENVINO for d in ort.get_ep_devices())
    return True


def openvino_plugin_devices() -> list:
    """OpenVINO's CPU device offered by the plug-in package onnxruntime-ep-openvino (`actionrec[openvino]`), as
    ONNX Runtime's OrtEpDevice list for `SessionOptions.add_provider_for_devices`; [] where the package is absent,
    this onnxruntime takes no plug-ins, or the plug-in offers no CPU device (it offers Intel CPUs only)."""
    if not _register_openvino_plugin():
        return []
    import onnxruntime as ort

    return [d for d in ort.get_ep_devices() if d.ep_name == OPENVINO and d.ep_metadata.get("ov_device") == "CPU"]


def physical_cores() -> int:
    """Physical cores this process may run on (Linux topology files), else the logical CPU count."""
    try:
        cpus = os.sched_getaffinity(0)
        cores = set()
        for cpu in cpus:
            topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
            cores.add(((topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip()))
        return max(len(cores), 1)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def first_line(e: Exception) -> str:
    """The first non-empty line of an exception's message (third-party errors can run to pages)."""
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


def open_backend(
    path: str | os.PathLike[str],
    *,
    kind: BackendKind = BackendKind.auto,
    device: Device | str = Device.cpu,
    precision: Precision = Precision.auto,
    threads: int | None = None,
    compile: bool = False,
    streams: int | None = None,
    batch_size: int = 8,
) -> Backend:
    """Open a model file with the back end its suffix (or `kind`) names.

    threads: CPU threads for the network (default: torch's, one per core). streams (torch, CPU, eager): parts of
    each batch that run at once, each on threads // streams of them (see `TorchBackend`); default 2 where there are
    at least 2 threads, else 1. batch_size: the clips per call the caller will pass, which `compile` builds its
    one graph for.
    """
    path = Path(path)
    device = Device(device).value
    check_model_file(path)  # a FIFO would block the reader forever
    is_onnx = path.suffix.lower() == ".onnx"
    if kind == BackendKind.auto:
        kind = BackendKind.onnxruntime if is_onnx else BackendKind.torch
    if kind == BackendKind.onnxruntime:
        if streams not in (None, 1):
            raise OptionError("streams", "streams apply to eager torch (not compile, not onnxruntime)")
        if compile:
            raise OptionError("compile", "compile applies to the torch back end only")
        if not is_onnx:
            raise ActionrecError(f"{path}: the onnxruntime back end needs an .onnx file (see `actionrec export`)")
        return OnnxBackend(path, device=device, threads=threads)
    if is_onnx:
        raise ActionrecError(f"{path}: the torch back end needs a .safetensors model file")
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ActionrecError("--device cuda: no CUDA device is available to torch here")
    if streams is None:
        streams = CPU_STREAMS if device == "cpu" and not compile and (threads or torch.get_num_threads()) >= 2 else 1
    if streams > 1 and (compile or device != "cpu"):
        raise OptionError("streams", "streams apply to eager torch on the CPU (not compile, not onnxruntime, not CUDA)")
    from ..io.checkpoint import load_model

    model, meta = load_model(path)
    return TorchBackend(
        model,
        meta,
        device=device,
        precision=precision,
        compile=compile,
        streams=streams,
        threads=threads,
        batch_size=batch_size,
    )
