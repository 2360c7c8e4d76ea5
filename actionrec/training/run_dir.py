"""The run folder: its files (recipe, metrics, best and last model files, resume state), checked before a run,
written after each epoch so that a kill loses at most that epoch, and read back to resume."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import DataSplit
from ..errors import ActionrecError, OptionError
from ..io.checkpoint import save_model, torch_load
from ..io.files import atomic_path, exclusive, nearest_existing, write_text_atomic
from ..model_meta import ModelMeta
from .recipe import ResolvedConfig, TrainConfig
from .rng import rng_state

STATE_FILE = "state.pt"  # resume state: weights, optimizer, scheduler, RNG states, history
CONFIG_FILE = "config.json"  # the recipe, as run
METRICS_FILE = "metrics.jsonl"  # one JSON line per finished epoch
BEST_FILE = "best.safetensors"  # highest validation video accuracy, then clip accuracy, then lowest validation loss
LAST_FILE = "last.safetensors"  # the weights after the last epoch
STATE_VERSION = 1

SYNTHETIC_DESCRIPTION = (
    "{n} classes learned from synthetic data only: rendered figures (actionrec synth), never real video. On real "
    "people expect some labels to be wrong; it is a starting point for fine-tuning on your own clips "
    "(actionrec train DATA --init MODEL), or pull a real-world model (actionrec pull kinetics400-r3d18)."
)


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best: Path  # best.safetensors: see BEST_FILE (the last epoch without validation data)
    last: Path  # last.safetensors: the weights after the last epoch
    best_epoch: int  # 1-based
    best_val_clip_acc: float | None
    best_val_video_acc: float | None
    epochs_done: int
    history: tuple[dict[str, Any], ...]  # the metrics.jsonl records

    @classmethod
    def of(cls, run_dir: Path, history: list[dict[str, Any]], best: dict[str, Any]) -> TrainResult:
        return cls(
            run_dir=run_dir,
            best=run_dir / BEST_FILE,
            last=run_dir / LAST_FILE,
            best_epoch=best["epoch"],
            best_val_clip_acc=best["val_clip_acc"],
            best_val_video_acc=best["val_video_acc"],
            epochs_done=len(history),
            history=tuple(history),
        )


def resume_config(run_dir: Path, *, epochs: int | None = None, workers: int | None = None) -> TrainConfig:
    """The recipe a run folder was started with, set to continue it (optionally to more epochs)."""
    run_dir = Path(run_dir)
    if not (run_dir / STATE_FILE).is_file():
        raise ActionrecError(
            f"{run_dir}: no resume state ({STATE_FILE}); not a run folder, or it was stopped before its first epoch"
        )
    try:
        raw = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        config = TrainConfig.from_dict(raw)
    except (OSError, ValueError, TypeError) as e:
        raise ActionrecError(f"{run_dir / CONFIG_FILE}: cannot read the run's recipe ({e})") from None
    changes: dict[str, Any] = {"resume": run_dir, "out": run_dir}
    if epochs is not None:
        changes["epochs"] = epochs
    if workers is not None:
        changes["workers"] = workers
    return dataclasses.replace(config, **changes)


def require_state(run_dir: Path) -> None:
    """A run to resume has its resume state."""
    if not (run_dir / STATE_FILE).is_file():
        raise ActionrecError(f"{run_dir}: no resume state ({STATE_FILE}); not a run folder, or not started")


@contextlib.contextmanager
def run_folder(config: TrainConfig, *, lock: bool) -> Iterator[None]:
    """The run folder held for the block. With `lock` (the process that writes it): created if need be and checked
    writable before any work, locked so that a second run into it stops at once with one line (`BusyError`), and
    checked to hold no other run (or, resuming, this run's state). A folder created here is removed again if the
    block fails while it is still empty."""
    if not lock:
        yield
        return
    out = Path(config.resume) if config.resume is not None else config.out
    created = _make_folder(out)
    try:
        with exclusive(out, "run folder"):
            if config.resume is not None:
                require_state(out)
            elif (out / STATE_FILE).exists():
                raise ActionrecError(
                    f"{out}: already holds a run; continue it with --resume {out} or choose another --output"
                )
            yield
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only while empty
        raise


def _make_folder(out: Path) -> bool:
    """Create the run folder (and its parents) and write a probe file in it; whether it was created. One line
    naming the folder and the reason when it cannot be: a usage error (`--output`) when a parent is a file."""
    if out.exists() and not out.is_dir():
        raise ActionrecError(f"{out}: exists and is not a folder; choose another --output")
    parent = nearest_existing(out)
    if parent is not None and not parent.is_dir():
        raise OptionError("output", f"{out}: {parent} is a file, not a folder")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe_file = out / f".write-test-{os.getpid()}"
        probe_file.write_bytes(b"")
        probe_file.unlink()
    except OSError as e:
        raise ActionrecError(f"{out}: cannot write the run folder ({e.strerror or e})") from None
    return created


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """An OSError while writing `path` (a full disk, a folder made read-only) as one line naming it."""
    try:
        yield
    except OSError as e:
        raise ActionrecError(f"{path}: cannot write ({e.strerror or e})") from None


def write_config(config: TrainConfig) -> None:
    with writing(config.out / CONFIG_FILE):
        write_text_atomic(config.out / CONFIG_FILE, json.dumps(config.to_dict(), indent=2) + "\n")


def model_meta(
    config: ResolvedConfig,
    split: DataSplit,
    history: list[dict[str, Any]],
    best: dict[str, Any],
    *,
    processes: int,
    bf16: bool,
) -> ModelMeta:
    """What the model files say about themselves: network, labels, preprocessing, and how they were trained."""
    last = history[-1]
    from ..model_meta import VERSION

    training = {
        "data": split.source,
        "data_path": str(Path(config.data).resolve()),  # `evaluate` on this data scores the run's own split
        "synthetic": split.synthetic,
        "train_videos": len(split.train),
        "val_videos": len(split.val),
        "skipped_videos": len(split.skipped),
        "recipe": {k: v for k, v in config.to_dict().items() if k not in ("out", "resume", "data", "cache_dir")},
        "epoch": last["epoch"],
        "epochs": config.epochs,
        "val_clip_acc": last["val_clip_acc"],
        "val_video_acc": last["val_video_acc"],
        "best_epoch": best["epoch"],
        "best_val_clip_acc": best["val_clip_acc"],
        "best_val_video_acc": best["val_video_acc"],
        "best_val_loss": best.get("val_loss"),
        "seed": config.seed,
        "processes": processes,
        "precision": "bf16" if bf16 else "fp32",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "actionrec": VERSION,
    }
    return ModelMeta(
        config.arch,
        config.arch_args,
        split.labels,
        preprocessing=config.preprocessing,
        training=training,
        description=SYNTHETIC_DESCRIPTION.format(n=len(split.labels)) if split.synthetic else "",
    )


def resume_state(
    config: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    history: list[dict[str, Any]],
    best: dict[str, Any],
) -> dict[str, Any]:
    """Everything a run needs to go on after its last finished epoch exactly as if it had not stopped."""
    return {
        "version": STATE_VERSION,
        "epoch": len(history),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "best": best,
        "history": history,
        "config": json.dumps(config.to_dict()),
    }


def save_epoch(
    out: Path,
    model: nn.Module,
    meta: ModelMeta,
    history: list[dict[str, Any]],
    improved: bool,
    state: dict[str, Any],
) -> None:
    """Model files, metrics, then the resume state last: a kill at any point loses at most this epoch."""
    with writing(out / LAST_FILE):
        save_model(out / LAST_FILE, model, meta)
    if improved:
        with writing(out / BEST_FILE):
            save_model(out / BEST_FILE, model, meta)
    with writing(out / METRICS_FILE):
        write_text_atomic(out / METRICS_FILE, "".join(json.dumps(h) + "\n" for h in history))
    with writing(out / STATE_FILE), atomic_path(out / STATE_FILE) as tmp:
        torch.save(state, tmp)


def load_state(run_dir: Path) -> dict[str, Any]:
    """The resume state of `run_dir`, read as `io.checkpoint.torch_load` reads weights: tensors and plain containers
    only, never torch's advice to unpickle with weights_only=False."""
    path = run_dir / STATE_FILE
    try:
        state = torch_load(path)
    except ActionrecError as e:
        raise ActionrecError(f"unreadable resume state: {e}") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise ActionrecError(f"{path}: not an actionrec resume state (version {STATE_VERSION})")
    return state


def load_weights(model: nn.Module, weights: dict[str, torch.Tensor], path: Path) -> None:
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        first = " ".join(str(e).strip().splitlines()[:2])
        raise ActionrecError(f"{path}: its weights do not fit the configured model ({first})") from None
