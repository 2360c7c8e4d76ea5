"""Self-describing model files: safetensors weights plus the JSON metadata needed to rebuild and use them
(architecture and arguments, labels, preprocessing, provenance). Nothing is unpickled on load.

`read_meta` parses the header alone and never imports torch, so the ONNX Runtime path stays torch-free.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from .config import ModelMeta
from .errors import ModelFileError
from .files import atomic_path

if TYPE_CHECKING:
    import torch
    from torch import nn

META_KEY = "actionrec"  # key of the JSON metadata in the safetensors header and in ONNX metadata_props


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    if path.is_dir():
        raise ModelFileError(f"{path}: is a folder, not a model file")


def read_meta(path: str | os.PathLike[str]) -> ModelMeta:
    """The metadata of a `.safetensors` or `.onnx` model file, without loading weights or torch."""
    path = Path(path)
    _check_exists(path)
    if path.suffix.lower() == ".onnx":
        from .backends import read_onnx_meta

        return read_onnx_meta(path)
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > min(100 * 2**20, path.stat().st_size - 8):
                raise ValueError(f"header of {size} bytes in a file of {path.stat().st_size}")
            header = json.loads(f.read(size))
        text = header.get("__metadata__", {}).get(META_KEY)
    except (struct.error, ValueError, UnicodeDecodeError, AttributeError) as e:
        raise ModelFileError(f"{path}: not a safetensors model file ({e})") from None
    if text is None:
        raise ModelFileError(f"{path}: a safetensors file without actionrec metadata (labels, preprocessing)")
    try:
        meta = ModelMeta.from_json(text)
    except (ValueError, TypeError, KeyError) as e:
        raise ModelFileError(f"{path}: bad actionrec metadata: {e}") from None
    try:
        ends = [int(e["data_offsets"][1]) for k, e in header.items() if k != "__metadata__"]
    except (KeyError, TypeError, IndexError, ValueError):
        raise ModelFileError(f"{path}: not a safetensors model file (malformed tensor table)") from None
    if max(ends, default=0) > path.stat().st_size - 8 - size:
        raise ModelFileError(
            f"{path}: cut short: its tensors need {8 + size + max(ends)} bytes, it has {path.stat().st_size}"
        )
    classifier = header.get("fc.weight") or header.get("module.fc.weight") or {}
    rows = (classifier.get("shape") or [None])[0] if isinstance(classifier, dict) else None
    if rows != meta.num_classes:
        raise ModelFileError(f"{path}: {meta.num_classes} labels, but the classifier (fc.weight) has {rows} outputs")
    return meta


def save_model(path: str | os.PathLike[str], model: nn.Module, meta: ModelMeta) -> Path:
    """Write weights and metadata to one `.safetensors` file, atomically (temporary file, then rename)."""
    from safetensors.torch import save_file

    state = {k.removeprefix("module."): v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={META_KEY: meta.to_json()})
    return path


def load_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, with any DataParallel/DDP `module.` prefix stripped."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{path}: cannot read weights ({e})") from None
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_model(path: str | os.PathLike[str], device: str = "cpu") -> tuple[nn.Module, ModelMeta]:
    """Rebuild the network a model file describes and load its weights; returns (model in eval mode, meta)."""
    from .networks import build

    meta = read_meta(path)
    try:
        model = build(meta.arch, num_classes=meta.num_classes, **meta.arch_args)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ModelFileError(f"{path}: cannot build {meta.arch!r} from its metadata ({e})") from None
    try:
        model.load_state_dict(load_state(path))
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise ModelFileError(f"{path}: weights do not match the architecture ({' '.join(first[:2])})") from None
    return model.to(device).eval(), meta


def describe(path: str | os.PathLike[str], meta: ModelMeta) -> list[tuple[str, str]]:
    """`actionrec info`'s lines, (name, value): what the model is, its input, training data, accuracy, size and
    labels; torch-free and without loading weights."""
    spec = meta.preprocessing
    training = meta.training or {}
    step = f", every {spec.frame_step}th frame" if spec.frame_step > 1 else " in a row"
    resize = getattr(spec, "resize_to", None)
    size = f"resized to {resize[0]}x{resize[1]}" if resize else f"short side {spec.resize}"
    lines = [("file", str(path))]
    if meta.description:
        lines.append(("what it is", meta.description))
    args = ", ".join(f"{k} {v}" for k, v in sorted(meta.arch_args.items()))
    params = parameter_count(path)
    lines.append(
        ("network", f"{meta.arch}" + (f" ({args})" if args else "") + (f", {params:,} parameters" if params else ""))
    )
    lines.append(("input", f"{spec.clip_len} frames{step}, {size}, centre crop {spec.crop}"))
    if training.get("data"):
        lines.append(("trained on", str(training["data"])))
    acc = training.get("best_val_video_acc", training.get("val_video_acc"))
    if isinstance(acc, int | float):
        lines.append(("accuracy", f"held-out video top-1 {100 * acc:.1f} % ({training.get('val_videos', '?')} videos)"))
    elif training.get("reported_accuracy"):
        lines.append(("accuracy", str(training["reported_accuracy"])))
    lines.append((f"labels ({meta.num_classes})", ", ".join(meta.labels)))
    return lines


def parameter_count(path: str | os.PathLike[str]) -> int | None:
    """Learnable parameters of a safetensors model file, from its header alone (BatchNorm running statistics not
    counted); None for other files."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        return None
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
    except (OSError, struct.error, ValueError):
        return None
    stats = ("running_mean", "running_var", "num_batches_tracked")
    total = 0
    for name, entry in header.items():
        if name == "__metadata__" or name.endswith(stats):
            continue
        n = 1
        for d in entry.get("shape", []):
            n *= int(d)
        total += n
    return total
