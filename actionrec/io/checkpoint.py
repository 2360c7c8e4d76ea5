"""Self-describing model files: safetensors weights plus the JSON metadata needed to rebuild and use them
(architecture and arguments, labels, preprocessing, provenance). Nothing is unpickled on load.

`read_meta` parses the header alone and never imports torch, so the ONNX Runtime path stays torch-free.
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelFileError
from ..model_meta import ModelMeta
from .files import atomic_path

if TYPE_CHECKING:
    import torch
    from torch import nn

META_KEY = "actionrec"  # key of the JSON metadata in the safetensors header and in ONNX metadata_props


def model_file_kind(path: str | os.PathLike[str]) -> str | None:
    """What is at `path`: "file" for a regular file (or a link to one), None for nothing, else what it is ("a
    folder", "a FIFO", ...); a name the system refuses (too long, ...) is a ModelFileError giving its reason."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise ModelFileError(f"{os.fspath(path)}: cannot be a model file ({e.strerror or e})") from None
    except ValueError as e:  # a NUL byte in the name
        raise ModelFileError(f"{os.fspath(path)!r}: cannot be a model file ({e})") from None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file"


def check_model_file(path: str | os.PathLike[str]) -> None:
    """Refuse, in one line, anything but an existing regular file (a FIFO would block the reader forever)."""
    kind = model_file_kind(path)
    if kind is None:
        raise ModelFileError(f"{path}: no such model file")
    if kind != "file":
        raise ModelFileError(f"{path}: is {kind}, not a regular file; give a model file")


def read_meta(path: str | os.PathLike[str]) -> ModelMeta:
    """The metadata of a `.safetensors` or `.onnx` model file, without loading weights or torch."""
    path = Path(path)
    check_model_file(path)
    if path.suffix.lower() == ".onnx":
        return read_onnx_meta(path)
    header, tensors = _read_header(path)
    text = header.get("__metadata__", {}).get(META_KEY) if isinstance(header.get("__metadata__"), dict) else None
    if text is None:
        raise ModelFileError(f"{path}: a safetensors file without actionrec metadata (labels, preprocessing)")
    try:
        meta = ModelMeta.from_json(text)
    except (ValueError, TypeError, KeyError) as e:
        raise ModelFileError(f"{path}: bad actionrec metadata: {e}") from None
    except RecursionError:
        raise ModelFileError(f"{path}: bad actionrec metadata: nested too deep") from None
    shape = (tensors.get("fc.weight") or tensors.get("module.fc.weight") or ((),))[0]
    rows = shape[0] if shape else None
    if rows != meta.num_classes:
        raise ModelFileError(f"{path}: {meta.num_classes} labels, but the classifier (fc.weight) has {rows} outputs")
    return meta


MAX_HEADER = 100 * 2**20  # bytes of safetensors JSON header read at most


Tensors = dict[str, tuple[tuple[int, ...], tuple[int, int]]]  # name: (shape, (begin, end) data offsets)


def _read_header(path: Path) -> tuple[dict, Tensors]:
    """A safetensors file's JSON header (a dict) and its tensor table, parsed and checked in one place: the header
    within the file and `MAX_HEADER`, every tensor's shape and offsets integers, and its data within the file.
    ModelFileError for anything else."""
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > min(MAX_HEADER, path.stat().st_size - 8):
                raise ValueError(f"header of {size} bytes in a file of {path.stat().st_size}")
            header = json.loads(f.read(size))
    except (struct.error, ValueError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path}: not a safetensors model file ({e})") from None
    except RecursionError:
        raise ModelFileError(f"{path}: not a safetensors model file (its header is nested too deep)") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read ({e.strerror or e})") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: not a safetensors model file (its header is not a JSON object)")
    tensors = _tensor_table(path, header)
    end, have = max((e for _, (_, e) in tensors.values()), default=0), path.stat().st_size
    if end > have - 8 - size:
        raise ModelFileError(f"{path}: cut short: its tensors need {8 + size + end} bytes, it has {have}")
    return header, tensors


def _tensor_table(path: Path, header: dict) -> Tensors:
    """Each tensor's (shape, (begin, end) data offsets) from a safetensors header, checked: a shape is a list of
    non-negative integers and the offsets two integers, begin <= end (JSON's 1e400, floats and strings refused)."""

    def ints(value: object) -> bool:
        return isinstance(value, list) and all(type(v) is int and 0 <= v < 2**63 for v in value)

    table = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (ints(shape) and ints(offsets) and len(offsets) == 2 and offsets[0] <= offsets[1]):
            raise ModelFileError(
                f"{path}: not a safetensors model file (tensor {name[:80]!r}: its shape or data_offsets are not "
                "non-negative integers)"
            )
        table[name] = (tuple(shape), (offsets[0], offsets[1]))
    return table


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


MAX_EXPANSION = 64  # what a zip (.pth) archive may expand to, as a multiple of its own size ...
MAX_EXPANDED = 4 * 2**30  # ... and in bytes at most: far above any 3D ResNet's weights (r3d50: about 0.2 GB)


def torch_load(path: str | os.PathLike[str]) -> object:
    """A `.pth`/`.pt` file read with `torch.load(weights_only=True)`: plain containers and tensors only, nothing
    unpickled that could run code, and a zip archive whose members would expand past MAX_EXPANSION times its
    size (or MAX_EXPANDED bytes) refused before anything is inflated. ModelFileError for every failure, never
    torch's advice to re-run with weights_only=False."""
    import pickle
    import zipfile

    import torch

    path = Path(path)
    check_model_file(path)
    size = path.stat().st_size
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                expanded = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise ModelFileError(f"{path}: not a readable PyTorch checkpoint ({e})") from None
        limit = min(MAX_EXPANSION * size, MAX_EXPANDED)
        if expanded > limit:
            raise ModelFileError(
                f"{path}: its archive would expand to {expanded:,} bytes, {expanded / max(size, 1):,.0f}x its size "
                f"(at most {limit:,}); not read"
            )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Unsupported global" in str(e) or "Unsupported operand" in str(e):
            raise ModelFileError(
                f"{path}: holds objects actionrec will not unpickle (code, which is never run: only tensors and "
                "plain containers are read)"
            ) from None
        raise ModelFileError(f"{path}: not a readable PyTorch checkpoint ({_first_line(e)})") from None
    except Exception as e:  # RuntimeError/EOFError/... for corrupt archives: torch raises several types
        raise ModelFileError(f"{path}: not a readable PyTorch checkpoint ({_first_line(e)})") from None


def _first_line(e: Exception) -> str:
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    return lines[0][:200] if lines else type(e).__name__


def load_model(path: str | os.PathLike[str], device: str = "cpu") -> tuple[nn.Module, ModelMeta]:
    """Rebuild the network a model file describes and load its weights; returns (model in eval mode, meta)."""
    from ..networks import build

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


def parameter_count(path: str | os.PathLike[str]) -> int | None:
    """Learnable parameters of a safetensors model file, from its header alone (BatchNorm running statistics not
    counted); None for other files and for a file `read_meta` refuses (a bad header, tensors past its end)."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        return None
    try:
        _, tensors = _read_header(path)
    except ModelFileError:
        return None
    stats = ("running_mean", "running_var", "num_batches_tracked")
    return sum(math.prod(shape) for name, (shape, _) in tensors.items() if not name.endswith(stats))


# ---- ONNX files: the metadata, torch-free and onnx-free ----


def read_onnx_meta(path: str | os.PathLike[str]) -> ModelMeta:
    """The actionrec metadata stored in an ONNX file's metadata_props (needs neither torch nor the onnx package)."""
    try:
        props = onnx_metadata_props(path)
    except (ValueError, EOFError) as e:
        raise ModelFileError(f"{path}: not a readable ONNX file ({e})") from None
    return meta_from_onnx_props(path, props)


# ONNX's ModelProto (onnx.proto): the top-level fields read here, and their protobuf wire types
IR_VERSION, GRAPH, METADATA_PROPS = 1, 7, 14
_MODEL_WIRE_TYPES = {IR_VERSION: 0, GRAPH: 2, METADATA_PROPS: 2}  # 0: varint, 2: length-delimited


def onnx_metadata_props(path: str | os.PathLike[str]) -> dict[str, str]:
    """An ONNX file's metadata_props as a dict, read from the protobuf's top-level fields alone: the graph and its
    weights are skipped, not parsed. ValueError or EOFError when the bytes are not an ONNX model (no ir_version and
    graph, a field of the wrong type, a field running past the end)."""
    props: dict[str, str] = {}
    seen = set()
    with open(path, "rb") as f:
        for number, wire, size in _proto_fields(f, os.fstat(f.fileno()).st_size):
            if _MODEL_WIRE_TYPES.get(number, wire) != wire:
                raise ValueError(f"field {number} has wire type {wire}")
            seen.add(number)
            if number == METADATA_PROPS:  # StringStringEntryProto: key = 1, value = 2
                entry = io.BytesIO(f.read(size))
                pair = {n: entry.read(s).decode("utf-8") for n, w, s in _proto_fields(entry, size) if w == 2}
                props[pair.get(1, "")] = pair.get(2, "")
    if not {IR_VERSION, GRAPH} <= seen:
        raise ValueError("no ir_version or graph")
    return props


# GraphProto.initializer = 5; TensorProto.external_data = 13 (StringStringEntryProto), data_location = 14 (EXTERNAL = 1)
GRAPH_INITIALIZER, TENSOR_EXTERNAL_DATA, TENSOR_DATA_LOCATION, EXTERNAL = 5, 13, 14, 1


def onnx_external_data(path: str | os.PathLike[str]) -> list[str]:
    """The `location` of each graph initializer an ONNX file keeps in an external data file, in graph order (the
    same file may repeat), read from the protobuf without the onnx package: weights held in the file are skipped,
    not parsed. ValueError or EOFError when the bytes are not an ONNX model."""
    locations = []
    with open(path, "rb") as f:
        for number, wire, size in _proto_fields(f, os.fstat(f.fileno()).st_size):
            if number != GRAPH or wire != 2:
                continue
            for g_number, g_wire, g_size in _proto_fields(f, f.tell() + size):
                if g_number != GRAPH_INITIALIZER or g_wire != 2:
                    continue
                external, location = False, ""
                for t_number, t_wire, t_value in _proto_fields(f, f.tell() + g_size):
                    if t_number == TENSOR_DATA_LOCATION and t_wire == 0:
                        external = t_value == EXTERNAL
                    elif t_number == TENSOR_EXTERNAL_DATA and t_wire == 2:
                        entry = io.BytesIO(f.read(t_value))
                        pair = {n: entry.read(s) for n, w, s in _proto_fields(entry, t_value) if w == 2}
                        if pair.get(1) == b"location":
                            location = pair.get(2, b"").decode("utf-8")
                if external:
                    locations.append(location)
    return locations


def _proto_fields(f, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, wire type, value) of each field of the protobuf message that runs from f's position to `end`:
    a varint's value, a length-delimited field's byte count (f at its first byte: the caller may read it; the walk
    goes on after it either way), 0 for fixed-size fields."""
    while f.tell() < end:
        key = _varint(f)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            yield number, wire, _varint(f)
        elif wire in (1, 5):  # 64 and 32 bits
            f.seek(8 if wire == 1 else 4, os.SEEK_CUR)
            yield number, wire, 0
        elif wire == 2:
            size = _varint(f)
            start = f.tell()
            if start + size > end:
                raise ValueError(f"field {number} runs past the end")
            yield number, wire, size
            f.seek(start + size)
        else:
            raise ValueError(f"wire type {wire}")
    if f.tell() != end:
        raise ValueError("the last field runs past the end")


def _varint(f) -> int:
    value = 0
    for shift in range(0, 70, 7):
        byte = f.read(1)
        if not byte:
            raise EOFError("cut short")
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
    raise ValueError("a varint longer than 10 bytes")


def meta_from_onnx_props(path: str | os.PathLike[str], props: dict[str, str]) -> ModelMeta:
    """The actionrec metadata among an ONNX model's metadata_props (as ONNX Runtime or `onnx_metadata_props` give
    them)."""
    if META_KEY not in props:
        raise ModelFileError(f"{path}: an ONNX file without actionrec metadata (labels, preprocessing)")
    try:
        return ModelMeta.from_json(props[META_KEY])
    except (ValueError, TypeError, KeyError) as e:
        raise ModelFileError(f"{path}: bad actionrec metadata: {e}") from None
