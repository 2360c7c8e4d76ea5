"""The choice enums, the one definition of each: what the command line offers for the back end, precision, device,
output and data-set layout, torch-free so that `--help` and the ONNX path never import torch."""

from __future__ import annotations

import enum
from pathlib import Path

from .model_meta import ARCHITECTURES

Architecture = enum.Enum("Architecture", {name: name for name in ARCHITECTURES}, type=str)  # networks.BUILDERS' keys


class BackendKind(str, enum.Enum):
    auto = "auto"  # from the file: .onnx -> onnxruntime, otherwise torch
    torch = "torch"
    onnxruntime = "onnxruntime"


class Precision(str, enum.Enum):
    auto = "auto"  # bf16 where it is faster than fp32 (AMX CPUs, measured elsewhere; bf16 GPUs), else fp32
    fp32 = "fp32"
    bf16 = "bf16"


class Device(str, enum.Enum):
    cpu = "cpu"
    cuda = "cuda"


# Training's device: the same devices, and `auto` (CUDA when torch sees a GPU, else the CPU).
TrainDevice = enum.Enum("TrainDevice", {"auto": "auto", **{d.name: d.value for d in Device}}, type=str)


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"

    @classmethod
    def for_file(cls, path: Path) -> OutputFormat:
        """The format `-o path` gets when --format is not given: by its suffix (.json, .jsonl, .csv), else a table
        (the text predict prints)."""
        return SUFFIX_FORMATS.get(path.suffix.lower(), cls.table)


SUFFIX_FORMATS = {".json": OutputFormat.json, ".jsonl": OutputFormat.jsonl, ".csv": OutputFormat.csv}


class DatasetFormat(str, enum.Enum):
    """What `predict --ray` writes its results as."""

    jsonl = "jsonl"  # one JSON object a line: the line `predict --format jsonl` writes for the video
    parquet = "parquet"  # the same fields as columns (`result_schema`)


class DataLayout(str, enum.Enum):
    """How a labelled data set is laid out (`--layout`)."""

    auto = "auto"  # detected from what the folder holds
    folder = "folder"  # DIR/<label>/**/<video>
    ucf101 = "ucf101"  # classInd.txt, trainlist0N.txt, testlist0N.txt
    hmdb51 = "hmdb51"  # <class>_test_splitN.txt with 0/1/2 per video
    csv = "csv"  # path,label[,group] rows


class Optimizer(str, enum.Enum):
    sgd = "sgd"  # the paper's: SGD with (Nesterov) momentum, L2 weight decay
    adamw = "adamw"  # Adam with decoupled weight decay: leaves the from-scratch plateau sooner on small data


class Schedule(str, enum.Enum):
    step = "step"  # multiply by gamma at each milestone epoch
    cosine = "cosine"  # half a cosine from lr to 0 over the epochs after warmup
