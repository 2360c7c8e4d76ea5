"""Throughput of one model on one batch of real clips, side by side: PyTorch fp32 eager, ONNX Runtime fp32 and ONNX
Runtime static int8 (calibrated on clips of the same video), plus int8's accuracy change against fp32 and, with
--tune, ONNX Runtime session settings (graph optimisation level, thread count, spinning). ONNX Runtime runs as
predict runs it (OpenVINO's provider where it is present: the [openvino] plug-in or onnxruntime-openvino) and,
beside it, on its own CPU provider.

    python bench/bench_onnx.py                       # r3d18 width 16 and 64, 16x112x112, batch 4 (random weights)
    python bench/bench_onnx.py --widths 16 --tune    # session settings too
    python bench/bench_onnx.py --model trained.safetensors --video clip.mp4   # a trained model: int8 accuracy

Input: ../shared/data/clips/mmaction2_test.mp4 when present, else a generated moving-pattern video.
Random weights give near-tied logits, so their top-1 agreement understates int8; use --model for accuracy.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from _timing import header

from actionrec.io.checkpoint import load_model
from actionrec.model_meta import ModelMeta, Preprocessing
from actionrec.networks import build
from actionrec.onnx_export import compare, quantize_int8, video_clips, write_check_video, write_onnx
from actionrec.runtime.backends import OnnxBackend, TorchBackend, physical_cores

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEO = ROOT.parent / "shared" / "data" / "clips" / "mmaction2_test.mp4"


def rates(engines: list[tuple[str, Callable[[np.ndarray], np.ndarray]]], clips: np.ndarray, rounds: int) -> list:
    """Clips per second of each engine on `clips`: one warm-up call each, then `rounds` rounds that time every
    engine once in turn (so that a shared machine's load changes hit all of them alike); the best call counts,
    since noise only ever slows a call down."""
    for _, fn in engines:
        fn(clips)
    best = [float("inf")] * len(engines)
    for _ in range(rounds):
        for i, (_, fn) in enumerate(engines):
            start = time.perf_counter()
            fn(clips)
            best[i] = min(best[i], time.perf_counter() - start)
    return [(label, len(clips) / t) for (label, _), t in zip(engines, best, strict=True)]


def torch_fp32(model: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    def run(clips: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(clips)).numpy()

    return run


def ort_session(
    path: Path, *, threads: int | None = None, spinning: bool = False, level: str = "all", provider: str = "auto"
):
    """An OnnxBackend, with its graph optimisation level overridden (CPU provider) when `level` is not 'all'."""
    import onnxruntime as ort

    backend = OnnxBackend(path, threads=threads, spinning=spinning, provider=provider)
    if level != "all":
        options = ort.SessionOptions()
        options.graph_optimization_level = {
            "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        }[level]
        options.intra_op_num_threads = threads or physical_cores()
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        backend.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        backend.provider = "CPUExecutionProvider"
    return backend


def torch_backend(model: torch.nn.Module, meta: ModelMeta) -> TorchBackend:
    """The back end predict opens (its layout rule, streams where there are 2+ threads), on a copy of the model."""
    streams = 2 if torch.get_num_threads() >= 2 else 1
    return TorchBackend(copy.deepcopy(model), meta, precision="fp32", streams=streams)


def short(provider: str) -> str:
    return provider.removesuffix("ExecutionProvider") + " provider"


def bench_model(model: torch.nn.Module, meta: ModelMeta, videos: list[Path], args, work: Path) -> None:
    spec = meta.preprocessing
    clips = video_clips(videos, spec, per_video=-(-(args.batch + args.calibration) // len(videos)))
    batch = np.ascontiguousarray(clips[0::2][: args.batch])  # (B, 3, T, H, W): every other window...
    calibration = clips[1::2][: args.calibration]  # ...and the windows between them calibrate int8
    fp32_path, int8_path = work / f"{meta.arch}-{id(model)}.onnx", work / f"{meta.arch}-{id(model)}.int8.onnx"
    t0 = time.perf_counter()
    write_onnx(model, meta, fp32_path, opset=None, precision="fp32")
    t_export = time.perf_counter() - t0
    name = f"{meta.arch} {meta.arch_args} {spec.clip_len}x{spec.crop}x{spec.crop} batch {len(batch)}"
    print(f"\n== {name}  (export {t_export:.1f} s)")

    ort_fp32 = ort_session(fp32_path)
    reference = torch_fp32(model)(batch)
    parity = compare(ort_fp32, reference, batch, "ORT fp32 vs torch fp32")
    print(f"   {parity.line()}")
    engines = [
        ("torch fp32 eager, one pass", torch_fp32(model)),
        ("torch back end, as predict runs it", torch_backend(model, meta)),
        (f"ORT fp32, {short(ort_fp32.provider)}", ort_fp32),
    ]
    if ort_fp32.provider != "CPUExecutionProvider":
        engines.append(("ORT fp32, CPU provider", ort_session(fp32_path, provider="cpu")))
    if args.int8:
        t0 = time.perf_counter()
        quantize_int8(fp32_path, int8_path, meta, calibration)
        t_quant = time.perf_counter() - t0
        ort_int8 = ort_session(int8_path)
        source = f"ORT int8 vs ORT fp32 (calibrated on {len(calibration)} other clips)"
        q = compare(ort_int8, ort_fp32(batch), batch, source)
        engines.append((f"ORT int8 (static QDQ), {short(ort_int8.provider)}", ort_int8))
        print(f"   {q.line()}  (quantise {t_quant:.1f} s)")
    if args.tune:
        cores = physical_cores()
        for label, kwargs in [
            (f"ORT fp32 CPU provider, spinning on, {cores} threads", {"spinning": True, "provider": "cpu"}),
            ("ORT fp32 CPU provider, 1 thread", {"threads": 1, "provider": "cpu"}),
            ("ORT fp32, 1 thread", {"threads": 1}),
            ("ORT fp32 CPU provider, optimisation basic", {"level": "basic"}),
            ("ORT fp32 CPU provider, optimisation disabled", {"level": "disabled"}),
        ]:
            engines.append((label, ort_session(fp32_path, **kwargs)))
    rows = rates(engines, batch, args.repeats)
    print(f"   (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: other processes slow every engine)")
    base = rows[0][1]
    for label, r in rows:
        print(f"   {label:<40} {r:7.2f} clips/s  x{r / base:.2f} vs torch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 64], help="r3d18 widths (random weights)")
    parser.add_argument("--model", type=Path, help="a .safetensors model file instead of random r3d18s")
    parser.add_argument("--video", type=Path, action="append", help="input and calibration video(s)")
    parser.add_argument("--clip-len", type=int, default=16)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--calibration", type=int, default=4, help="clips to calibrate int8 on")
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds over all engines (best counts)")
    parser.add_argument("--no-int8", dest="int8", action="store_false")
    parser.add_argument("--tune", action="store_true", help="also time ORT session settings")
    args = parser.parse_args()

    threads = physical_cores()
    torch.set_num_threads(threads)
    import onnxruntime as ort

    from actionrec.runtime.backends import OPENVINO, openvino_plugin_devices

    if OPENVINO in ort.get_available_providers():
        openvino = "OpenVINO built in (onnxruntime-openvino)"
    elif openvino_plugin_devices():
        openvino = "OpenVINO from the plug-in (onnxruntime-ep-openvino)"
    elif importlib.util.find_spec("onnxruntime_ep_openvino"):
        openvino = "no OpenVINO provider (the plug-in is installed but offers no device for this CPU)"
    else:
        openvino = "no OpenVINO provider"
    print(header())
    print(f"onnxruntime {ort.__version__}, {openvino} ({threads} intra-op threads = physical cores, spinning off)")
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        work = Path(tmp)
        if args.video:
            videos = args.video
        elif SHARED_VIDEO.exists():
            videos = [SHARED_VIDEO]
        else:
            spec = Preprocessing(clip_len=args.clip_len, crop=args.crop, resize=round(args.crop * 8 / 7))
            videos = [write_check_video(work / "pattern.mp4", spec)]
        print(f"input: {', '.join(str(v) for v in videos)}")
        if args.model:
            model, meta = load_model(args.model)
            bench_model(model, meta, videos, args, work)
            return
        for width in args.widths:
            torch.manual_seed(0)
            meta = ModelMeta(
                arch="r3d18",
                arch_args={"width": width, "attention": True},
                labels=tuple(f"class{i}" for i in range(10)),
                preprocessing=Preprocessing(clip_len=args.clip_len, crop=args.crop, resize=round(args.crop * 8 / 7)),
            )
            model = build(meta.arch, num_classes=meta.num_classes, **meta.arch_args).eval()
            bench_model(model, meta, videos, args, work)


if __name__ == "__main__":
    main()
