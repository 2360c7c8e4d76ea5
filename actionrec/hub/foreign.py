"""Starting a ResNet3d from weights a user already has as a file (`--init FILE`): torchvision's r3d_18 layout,
Hara et al.'s 3D-ResNets-PyTorch checkpoints, or an actionrec model file. Maps names, loads what fits, reports."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelFileError
from ..io.checkpoint import check_model_file, load_state, model_file_kind, torch_load
from ..networks import Attention3d, ResNet3d, attention_as_identity

_PARAM = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_TORCHVISION_BLOCK = re.compile(rf"(layer\d+\.\d+)\.conv(\d)\.([01])\.{_PARAM}")  # conv1.0 = conv, conv1.1 = BN
_HARA_STEM = re.compile(rf"(conv1|bn1)\.{_PARAM}")  # top-level conv1/bn1: the stem (blocks' ones are prefixed)
_WRAPPERS = ("state_dict", "model_state_dict", "model", "net", "module")  # where checkpoints keep their tensors


@dataclass(frozen=True)
class InitReport:
    """What `load_pretrained` did, by tensor name. BatchNorm's num_batches_tracked counters are left out."""

    source: str  # the file the weights came from
    layout: str  # "torchvision", "hara" or "actionrec": how its names were read
    loaded: tuple[str, ...]  # our tensors now holding the file's values
    new: tuple[str, ...]  # our tensors left at their fresh initialisation (attention, a resized classifier, ...)
    skipped: tuple[str, ...]  # the file's tensors not used
    reasons: dict[str, str] = field(default_factory=dict)  # skipped name -> why (no counterpart, shape)
    rescaled: tuple[str, ...] = ()  # BatchNorms scaled x4 so that new attention starts as the identity
    unscaled: tuple[str, ...] = ()  # BatchNorms scaled x0.25: the file's identity attention, left out here, undone

    def summary(self) -> str:
        """Counts first, then the names of what was not loaded (those are the ones to check)."""
        lines = [
            f"{self.source}: {self.layout} layout; loaded {len(self.loaded)} tensors, "
            f"{len(self.new)} new, {len(self.skipped)} skipped"
        ]
        if self.new:
            lines.append("new: " + ", ".join(self.new))
        lines.extend(f"skipped {name}: {self.reasons.get(name, 'unused')}" for name in self.skipped)
        if self.rescaled:
            lines.append(f"attention starts as the identity: {len(self.rescaled)} BatchNorms scaled x4")
        if self.unscaled:
            lines.append(f"the file's identity attention left out: {len(self.unscaled)} BatchNorms scaled back x0.25")
        return "\n".join(lines)


def read_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a `.safetensors`, `.pth` or `.pt` file, `module.` prefixes stripped; nothing is unpickled
    beyond plain containers and tensors, and no archive expands without bound (`checkpoint.torch_load`)."""
    path = Path(path)
    if model_file_kind(path) is None:
        raise ModelFileError(f"{path}: no such weights file")
    check_model_file(path)  # a folder, a FIFO: one line, never a blocked read
    if path.suffix.lower() == ".safetensors":
        return load_state(path)
    raw = torch_load(path)
    state = _find_tensors(raw)
    if state is None:
        raise ModelFileError(f"{path}: no state dict of tensors inside (looked at the top and {', '.join(_WRAPPERS)})")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _find_tensors(raw: object) -> dict[str, torch.Tensor] | None:
    if isinstance(raw, dict) and raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
        return raw
    if isinstance(raw, dict):
        for key in _WRAPPERS:
            found = _find_tensors(raw.get(key))
            if found is not None:
                return {str(k): v for k, v in found.items() if isinstance(v, torch.Tensor)}
        tensors = {str(k): v for k, v in raw.items() if isinstance(v, torch.Tensor)}
        return tensors if len(tensors) > len(raw) // 2 and tensors else None  # mostly tensors, a few extras
    return None


def detect_layout(state: dict[str, torch.Tensor]) -> str:
    """Which naming a state dict follows: torchvision (`stem.0`, `conv1.0`), Hara (`conv1`, `bn1`), or ours."""
    if any(_TORCHVISION_BLOCK.fullmatch(k) for k in state):
        return "torchvision"
    if any(_HARA_STEM.fullmatch(k) for k in state):
        return "hara"
    return "actionrec"


def our_name(key: str, layout: str) -> str:
    """The ResNet3d name of a tensor from a file of the given layout (unchanged when the names already agree).

    >>> our_name("layer2.0.conv1.1.running_mean", "torchvision")
    'layer2.0.bn1.running_mean'
    >>> our_name("bn1.weight", "hara")
    'stem.1.weight'
    """
    if layout == "torchvision" and (m := _TORCHVISION_BLOCK.fullmatch(key)):
        block, n, part, param = m.groups()
        return f"{block}.{'conv' if part == '0' else 'bn'}{n}.{param}"
    if layout == "hara" and (m := _HARA_STEM.fullmatch(key)):
        module, param = m.groups()
        return f"stem.{0 if module == 'conv1' else 1}.{param}"
    return key


def load_pretrained(model: nn.Module, path: str | os.PathLike[str]) -> InitReport:
    """Load the tensors of a pretrained 3D ResNet file into `model` (a `ResNet3d`) wherever names and shapes match.

    Accepted: torchvision's `r3d_18` state dict (Kinetics-400 weights as torchvision publishes them), a
    3D-ResNets-PyTorch checkpoint (Hara et al., shortcut type B; their 7x7x7 stem conv does not fit our 3x7x7 one
    and is skipped, their stem BatchNorm is used), or an actionrec model file, as `.pth`/`.pt` or `.safetensors`.
    The classifier is loaded only when its class count matches; otherwise it keeps its fresh initialisation.

    Attention modules the file has no weights for start as the identity (`networks.attention_as_identity`), so that
    at initialisation the network computes exactly what the plain pretrained ResNet computes.

    >>> from actionrec.networks import build
    >>> model = build("r3d18", num_classes=4, width=64, attention=True)
    >>> report = load_pretrained(model, "r3d_18-b3b3357e.pth")  # torchvision's Kinetics-400 r3d_18 weights
    >>> print(report.summary())  # doctest: +SKIP
    r3d_18-b3b3357e.pth: torchvision layout; loaded 100 tensors, 34 new, 2 skipped
    new: layer1.0.attention.channel.fc1.weight, ..., fc.weight, fc.bias
    skipped fc.weight: shape 400x512 vs 4x512
    skipped fc.bias: shape 400 vs 4
    attention starts as the identity: 8 BatchNorms scaled x4
    """
    if not isinstance(model, ResNet3d):
        raise ModelFileError(f"{path}: pretrained weights load into the r3d* networks only, not {type(model).__name__}")
    source = read_state(path)
    layout = detect_layout(source)
    target = model.state_dict()
    loaded: dict[str, torch.Tensor] = {}
    reasons: dict[str, str] = {}
    for key, value in source.items():
        name = our_name(key, layout)
        if name not in target:
            reasons[key] = "no counterpart in this network"
        elif tuple(value.shape) != tuple(target[name].shape):
            shape = "x".join(map(str, value.shape)) or "scalar"
            reasons[key] = f"shape {shape} vs {'x'.join(map(str, target[name].shape)) or 'scalar'}"
        elif name in loaded:
            reasons[key] = f"{name} already loaded from another tensor"
        else:
            loaded[name] = value.to(target[name].dtype)
    if not any(not _is_counter(n) and not n.startswith("fc.") for n in loaded):
        raise ModelFileError(
            f"{path}: none of its {len(source)} tensors fits this network (a different architecture or width?)"
        )
    unscaled = _without_attention(model, {our_name(k, layout): v for k, v in source.items()}, loaded, path)
    with torch.no_grad():
        model.load_state_dict({**target, **loaded})
        rescaled = attention_as_identity(model, keep=loaded)
    new = tuple(n for n in target if n not in loaded and not _is_counter(n))
    return InitReport(
        source=str(path),
        layout=layout,
        loaded=tuple(n for n in loaded if not _is_counter(n)),
        new=new,
        skipped=tuple(k for k in source if k in reasons and not _is_counter(k)),
        reasons={k: r for k, r in reasons.items() if not _is_counter(k)},
        rescaled=rescaled,
        unscaled=unscaled,
    )


def _without_attention(
    model: ResNet3d, source: dict[str, torch.Tensor], loaded: dict[str, torch.Tensor], path: str | os.PathLike[str]
) -> tuple[str, ...]:
    """Plain blocks (no attention) taking weights from a file whose blocks have attention: where that attention is
    the exact identity (both gates a constant 0.5: fc2 and the spatial conv all zero, as `pull` and
    `attention_as_identity` leave it), its BatchNorm was scaled x4 to make up for the gates, so the x4 is undone
    here (x0.25 of the loaded weight and bias, exact); trained attention has no plain equivalent and is refused.
    Changes `loaded` in place; returns the names of the BatchNorms scaled back."""
    unscaled = []
    for name, block in model.named_modules():
        if getattr(block, "last_bn", None) is None or isinstance(block.attention, Attention3d):
            continue  # not a residual block, or one that keeps its attention
        gates = [source.get(f"{name}.attention.{k}.weight") for k in ("channel.fc2", "spatial.gate.conv")]
        if all(g is None for g in gates):
            continue  # the file's block is plain too
        if any(g is None or bool(g.any()) for g in gates):
            raise ModelFileError(
                f"{path}: its blocks have trained attention ({name}), which a network without attention would drop, "
                "distorting every residual branch; keep attention (leave out --no-attention)"
            )
        bn = f"{name}.{block.last_bn_name}"
        for param in ("weight", "bias"):
            if f"{bn}.{param}" in loaded:
                loaded[f"{bn}.{param}"] = loaded[f"{bn}.{param}"] * 0.25  # 4 * 0.25 = 1, exact in floating point
        unscaled.append(bn)
    return tuple(unscaled)


def _is_counter(name: str) -> bool:
    return name.endswith("num_batches_tracked")
