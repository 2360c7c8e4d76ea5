"""ONNX export that is checked: a self-contained `.onnx` file with a dynamic batch axis and the model's metadata,
written only after ONNX Runtime has matched PyTorch on random clips and on clips of a real (or generated) video;
optionally quantised to int8 (static, calibrated on those clips) for ONNX Runtime on the CPU.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ActionrecError, ModelFileError, require_extra
from .io.checkpoint import META_KEY
from .io.files import atomic_path
from .model_meta import ModelMeta, Preprocessing
from .runtime.aggregate import softmax
from .runtime.backends import first_line

if TYPE_CHECKING:
    from torch import nn

PARITY_TOLERANCE = 1e-4  # largest |ORT - torch| logit difference allowed, relative to the largest |logit|
INPUT_NAME = "clips"  # (batch, 3, T, H, W) float32, batch dynamic
OUTPUT_NAME = "logits"  # (batch, num_classes) float32
CHECK_WINDOWS = 8  # evenly spaced windows per check video for parity (twice that with int8: half calibrate it)
EXPORT_MODULES = ("onnx", "onnxscript")  # pyproject's [export] extra: the checker and torch's exporter need them


@dataclass(frozen=True)
class Parity:
    """How closely one ONNX model matches a reference on a set of clips."""

    source: str  # which clips, for the user: "2 random clips", "8 clips of walk.mp4", ...
    clips: int
    max_abs_diff: float  # largest |logit difference| over all clips and classes
    scale: float  # largest |reference logit|: what the difference is relative to
    top1_agreement: float  # fraction of clips whose argmax class is the same
    max_prob_diff: float  # largest |softmax probability difference|
    seconds: float = 0.0  # wall time of the ONNX model on these clips (second run, warm)

    @property
    def relative(self) -> float:
        return self.max_abs_diff / max(self.scale, 1e-12)

    def line(self) -> str:
        return (
            f"{self.source}: max |logit diff| {self.max_abs_diff:.2e} (max |logit| {self.scale:.3g}, "
            f"relative {self.relative:.2e}), top-1 agreement {self.top1_agreement:.0%}, "
            f"max prob diff {self.max_prob_diff:.2e}"
        )


@dataclass(frozen=True)
class ExportResult:
    """What `export_onnx` wrote and how it was checked."""

    path: Path  # the fp32 model
    opset: int
    check_video: str  # the video(s) the real-clip checks used, or a note that one was generated
    parity: tuple[Parity, ...]  # ORT fp32 vs PyTorch fp32: random clips, then real clips
    int8: Parity | None = None  # ORT int8 vs ORT fp32 on real clips it was not calibrated on, when quantised
    int8_path: Path | None = None  # the int8 model written beside the fp32 one, when quantised
    fp32_seconds: float = 0.0  # ORT fp32 wall time on those same clips, to compare with int8.seconds


INT8_SUFFIX = ".int8.onnx"


def default_output(model_path: str | os.PathLike[str], int8: bool = False) -> Path:
    """MODEL.onnx beside the model file (MODEL.int8.onnx for the quantised one)."""
    return Path(model_path).with_suffix(INT8_SUFFIX if int8 else ".onnx")


def output_pair(int8_out: Path) -> tuple[Path, Path]:
    """(fp32, int8) files of an --int8 export whose -o names the int8 model: the fp32 one beside it, NAME.onnx for
    NAME.int8.onnx, else OUT.fp32.onnx."""
    if int8_out.name.lower().endswith(INT8_SUFFIX):
        return int8_out.with_name(int8_out.name[: -len(INT8_SUFFIX)] + ".onnx"), int8_out
    return int8_out.with_suffix(".fp32.onnx"), int8_out


def export_onnx(
    model_path: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    opset: int | None = None,
    check_videos: Sequence[str | os.PathLike[str]] = (),
    int8: bool = False,
    tolerance: float = PARITY_TOLERANCE,
    threads: int | None = None,
) -> ExportResult:
    """Export a `.safetensors` model file to ONNX, check it against PyTorch, and write it atomically.

    Raises ActionrecError (and leaves nothing at `out`) when the export fails or when ONNX Runtime's logits differ
    from PyTorch's by more than `tolerance` x max |logit| on random or real clips. With `int8` the fp32 model is
    written too: at MODEL.onnx and MODEL.int8.onnx by default, beside an `out` that names the int8 model otherwise
    (`output_pair`), both or neither.
    """
    from .io.checkpoint import load_model

    model_path = Path(model_path)
    if model_path.suffix.lower() == ".onnx":
        raise ActionrecError(f"{model_path}: already an ONNX file; export needs the .safetensors model")
    given = Path(out) if out is not None else None
    if given is not None and given.suffix.lower() != ".onnx":
        raise ActionrecError(f"{given}: an ONNX model file must end in .onnx")
    if not int8:
        out, int8_out = given or default_output(model_path), None
    elif given is None:
        out, int8_out = default_output(model_path), default_output(model_path, int8=True)
    else:
        out, int8_out = output_pair(given)
    require_extra(f"{model_path}: ONNX export", "export", EXPORT_MODULES)
    model, meta = load_model(model_path)
    spec = meta.preprocessing
    with tempfile.TemporaryDirectory(prefix="actionrec-export-") as work:
        if check_videos:
            videos = [Path(v) for v in check_videos]
            video_note = ", ".join(v.name for v in videos)
        else:
            videos = [write_check_video(Path(work) / "pattern.mp4", spec)]
            video_note = "a generated moving-pattern video (pass --check-video for a real one)"
        real = video_clips(videos, spec, per_video=2 * CHECK_WINDOWS if int8 else CHECK_WINDOWS)  # (K, 3, T, H, W)
        rng = np.random.default_rng(0)
        random = rng.standard_normal((2, *spec.input_shape), dtype=np.float32)  # (2, 3, T, H, W)
        with atomic_path(out) as tmp, contextlib.ExitStack() as quantised:
            used_opset = write_onnx(model, meta, tmp, opset=opset, precision="fp32")
            try:
                ort_fp32 = _session(tmp, threads)
            except ModelFileError:
                raise ActionrecError(
                    f"{out}: this onnxruntime cannot run the exported graph (opset {used_opset}); try --opset 17"
                ) from None
            parity = (
                compare(ort_fp32, _torch_logits(model, random), random, "2 random clips"),
                compare(ort_fp32, _torch_logits(model, real), real, f"{len(real)} video clips"),
            )
            for p in parity:
                if not p.max_abs_diff <= tolerance * max(p.scale, 1e-6):  # NaN fails too
                    raise ActionrecError(
                        f"{out}: ONNX Runtime disagrees with PyTorch on {p.source}: max |logit diff| "
                        f"{p.max_abs_diff:.3g} > {tolerance:g} x max |logit| {p.scale:.3g}; nothing written"
                    )
            int8_parity, fp32_seconds = None, parity[1].seconds
            if int8_out is not None:
                int8_tmp = quantised.enter_context(atomic_path(int8_out))  # renamed just before the fp32 file
                calibration, held_out = real[0::2], real[1::2]  # judged on windows it was not calibrated on
                quantize_int8(tmp, int8_tmp, meta, calibration)
                ort_int8 = _session(int8_tmp, threads)
                ort_int8(random)  # warm-up, so that the timings compare like with like
                fp32_start = time.perf_counter()
                fp32_logits = ort_fp32(held_out)
                fp32_seconds = time.perf_counter() - fp32_start
                int8_parity = compare(ort_int8, fp32_logits, held_out, f"{len(held_out)} held-out video clips")
    return ExportResult(
        path=out,
        opset=used_opset,
        check_video=video_note,
        parity=parity,
        int8=int8_parity,
        int8_path=int8_out,
        fp32_seconds=fp32_seconds,
    )


# ---- the graph


DYNAMO_MIN_OPSET = 18  # the torch.export-based exporter writes opset 18 and up; older opsets use TorchScript's


def write_onnx(model: nn.Module, meta: ModelMeta, path: Path, *, opset: int | None, precision: str) -> int:
    """Export `model` (eval, fp32) with a dynamic batch axis to one self-contained `.onnx` file carrying `meta`;
    returns the opset written.

    The torch.export-based exporter (torch's default since 2.9) gives a clean graph (batch norms folded, no
    Identity nodes) that ONNX Runtime runs as fast as the TorchScript exporter's; an `opset` below 18, which it
    cannot write, goes through the TorchScript exporter (`dynamic_axes`) instead.
    """
    require_extra(f"{path}: ONNX export", "export", EXPORT_MODULES)
    import onnx
    import torch

    example = torch.zeros(2, *meta.preprocessing.input_shape)  # (2, 3, T, H, W): batch 2 so it stays symbolic
    try:
        with _quiet_exporter(), torch.no_grad():
            if opset is not None and opset < DYNAMO_MIN_OPSET:
                buffer = io.BytesIO()
                torch.onnx.export(
                    model.eval(),
                    (example,),
                    buffer,
                    dynamo=False,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                    opset_version=opset,
                )
                proto = onnx.load_from_string(buffer.getvalue())
            else:
                program = torch.onnx.export(
                    model.eval(),
                    (example,),
                    dynamo=True,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
                    opset_version=opset,
                    optimize=True,
                    verbose=False,
                )
                proto = program.model_proto
    except Exception as e:  # torch.export / onnxscript / TorchScript raise many unrelated types
        raise ActionrecError(f"{meta.arch}: torch.onnx.export failed ({first_line(e)})") from None
    written = opset_of(proto)
    if opset is not None and written != opset:  # the exporter falls back to its own opset when conversion fails
        raise ActionrecError(f"--opset {opset}: the exporter cannot convert this model to it (it wrote {written})")
    set_metadata(proto, meta, precision)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:
        raise ActionrecError(f"{path}: the exported graph is not valid ONNX ({first_line(e)})") from None
    onnx.save_model(proto, str(path), save_as_external_data=False)  # weights inside: one file is the model
    return written


def set_metadata(proto, meta: ModelMeta, precision: str) -> None:
    """Store the full metadata (`META_KEY`, what `read_onnx_meta` reads) plus a few props people can read."""
    import onnx

    c, t, h, w = meta.preprocessing.input_shape
    onnx.helper.set_model_props(
        proto,
        {
            META_KEY: meta.to_json(),
            "arch": meta.arch,
            "labels": ", ".join(meta.labels),
            "input": f"{INPUT_NAME}: float32 (batch, {c}, {t}, {h}, {w}), normalised RGB",
            "precision": precision,
        },
    )
    proto.doc_string = f"actionrec {meta.arch} video action classifier, {meta.num_classes} classes"


def opset_of(proto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Hide the exporter's and the quantiser's warnings and log lines ('torchvision is not installed', 'consider
    pre-processing') from the user."""
    loggers = [logging.getLogger("torch.onnx"), logging.getLogger()]  # the quantiser logs on the root logger
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# ---- the checks


def video_clips(videos: Sequence[Path], spec: Preprocessing, per_video: int = CHECK_WINDOWS) -> np.ndarray:
    """Evenly spaced windows of each video as the pipeline's `clip_batches` gives them: (K, 3, T, crop, crop)
    float32."""
    from .runtime.pipeline import clip_batches

    clips = []
    for video in videos:
        clips.extend(x for _, x in clip_batches(video, spec, num_windows=per_video, batch_size=per_video))
    return np.concatenate(clips)


def write_check_video(path: Path, spec: Preprocessing, fps: float = 25.0) -> Path:
    """A short synthetic video for the real-clip check: a textured background and two shapes moving across it,
    written with cv2.VideoWriter and read back through the same decoder as any user video."""
    import cv2

    n = max(3 * spec.span, 48)
    h, w = 120, 160
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(1)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise ActionrecError(f"{path}: OpenCV cannot write an mp4v check video here; pass --check-video")
    try:
        for i in range(n):
            phase = i / n
            frame = np.empty((h, w, 3), np.float32)
            frame[..., 0] = 100 + 60 * np.sin(xx / 9 + 6.28 * phase)
            frame[..., 1] = 90 + 50 * np.cos(yy / 7 - 3.14 * phase)
            frame[..., 2] = 80 + 40 * np.sin((xx + yy) / 13)
            frame += rng.normal(0, 8, frame.shape)
            cx, cy = int(20 + (w - 40) * phase), int(h / 2 + 30 * np.sin(6.28 * phase))
            cv2.circle(frame, (cx, cy), 14, (240, 40, 40), -1)
            cv2.rectangle(frame, (w - cx - 12, 20), (w - cx + 12, 44), (30, 200, 60), -1)
            rgb = np.clip(frame, 0, 255).astype(np.uint8)
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def _torch_logits(model: nn.Module, clips: np.ndarray) -> np.ndarray:
    """The reference: PyTorch fp32 in eval mode."""
    import torch

    with torch.inference_mode():
        return model.eval()(torch.from_numpy(clips)).float().numpy()


def _session(path: Path, threads: int | None):
    """The ONNX model as predict runs it (OnnxBackend: same session options, metadata read back)."""
    from .runtime.backends import OnnxBackend

    return OnnxBackend(path, threads=threads)


def compare(backend, reference: np.ndarray, clips: np.ndarray, source: str) -> Parity:
    """Run `backend` on `clips` once (timed: warm it up first) and measure it against `reference` logits (N, C)."""
    start = time.perf_counter()
    got = backend(clips)
    seconds = time.perf_counter() - start
    if got.shape != reference.shape:
        raise ModelFileError(f"{source}: ONNX output shape {got.shape} != PyTorch {reference.shape}")
    return Parity(
        source=source,
        clips=len(clips),
        max_abs_diff=float(np.abs(got - reference).max()),
        scale=float(np.abs(reference).max()),
        top1_agreement=float((got.argmax(1) == reference.argmax(1)).mean()),
        max_prob_diff=float(np.abs(softmax(got) - softmax(reference)).max()),
        seconds=seconds,
    )


# ---- int8


def quantize_int8(fp32_path: Path, out: Path, meta: ModelMeta, calibration: np.ndarray) -> None:
    """Static int8 quantisation (QDQ, per-channel 7-bit weights, uint8 activations) calibrated on `calibration`
    clips; ONNX Runtime fuses it into QLinearConv. The metadata is carried over.

    Full 8-bit weights overflow the 16-bit sums of AVX2's u8 x s8 instructions on CPUs without VNNI: on a
    trained r3d10 that cost 4% top-1 agreement with fp32 (max prob diff 0.13), 7-bit weights none (0.03)."""
    require_extra(f"{out}: int8 quantisation", "export", ("onnx",))
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Clips(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(np.array_split(calibration, max(len(calibration) // 2, 1)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT_NAME: np.ascontiguousarray(batch)}

    with _quiet_exporter(), tempfile.TemporaryDirectory(prefix="actionrec-int8-") as work:
        q_path = Path(work) / "int8.onnx"
        try:
            quantize_static(
                str(fp32_path),
                str(q_path),
                Clips(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                reduce_range=True,  # 7-bit weights: no u8s8 overflow on AVX2 CPUs without VNNI
            )
        except Exception as e:  # onnxruntime.quantization raises plain Exceptions
            raise ActionrecError(f"{fp32_path.name}: int8 quantisation failed ({first_line(e)})") from None
        proto = onnx.load(str(q_path))
    set_metadata(proto, meta, "int8")
    onnx.save_model(proto, str(out), save_as_external_data=False)
