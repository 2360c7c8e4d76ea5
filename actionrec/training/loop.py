"""The training loop: `train` sets a run up (data, model, optimizer, or all of it back from the resume state), then
trains epoch by epoch (bf16 autocast where chosen, channels_last_3d), validates and saves the run folder after each.
Under torchrun every process calls `train`; only rank 0 writes."""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from torch import nn

from ..data import DataSplit, open_dataset
from ..errors import ActionrecError, require_extra
from ..networks import attention_as_identity, build, zero_init_residuals
from ..ops import fuse_attention
from .loaders import Loaders, SkipReport, make_loaders, silent
from .optim import make_optimizer, make_scheduler
from .plots import PLOT_MODULES, write_plots
from .processes import Context, barrier, parallel, setup, sum_over_processes, teardown, torch_threads
from .recipe import FINE_TUNE_STEPS, ResolvedConfig, TrainConfig, check_config, fine_tune_epochs, resolve
from .rng import caller_rng_kept, seed_everything, set_rng_state
from .run_dir import (
    STATE_FILE,
    TrainResult,
    load_state,
    load_weights,
    model_meta,
    resume_state,
    run_folder,
    save_epoch,
    write_config,
    writing,
)
from .validation import improved, validate


def train(
    config: TrainConfig,
    *,
    progress: bool = True,
    console: Console | None = None,
    stop_after: int | None = None,
    threads: int | None = None,
) -> TrainResult:
    """Train (or continue, with `config.resume`) a model; returns where the best and last model files are.

    `stop_after` ends the call after that many epochs in total, exactly as if the process had been killed at an
    epoch boundary (the run stays resumable). `threads`: torch's intra-op threads during the run (None: as they
    are). The caller's random generators, threads and CUDA device are as they were once it returns. Under
    torchrun, every process calls this; only rank 0 writes. What `config` left open is filled first (`resolve`).
    """
    config = resolve(config)
    require_extra(f"{config.out}: drawing the loss and accuracy plots", "plot", PLOT_MODULES)  # before any work
    with torch_threads(threads), caller_rng_kept():
        ctx = setup(config)
        try:
            with run_folder(config, lock=ctx.main):  # one run writes a run folder at a time
                result = _run(config, ctx, progress and ctx.main, console or Console(stderr=True), stop_after)
                barrier(ctx)  # every process reaches the teardown together
            return result
        except ActionrecError as e:
            raise _last_line(e) from None
        finally:
            teardown(ctx)


def _last_line(e: ActionrecError) -> ActionrecError:
    """`e` with its message cut to the last line (a DataLoader worker's error arrives with its traceback), its type
    and fields (an OptionError's option) kept."""
    lines = str(e).strip().splitlines()
    if len(lines) > 1:
        e.args = (re.sub(r"^[\w.]+Error: ", "", lines[-1]),)
    return e


@dataclass
class _Run:
    """One run's parts, and what its epochs have done so far."""

    config: ResolvedConfig
    ctx: Context
    split: DataSplit
    model: nn.Module  # the weights that are saved
    net: nn.Module  # what trains: the model, or DistributedDataParallel around it
    loaders: Loaders
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    skips: SkipReport
    history: list[dict[str, Any]] = field(default_factory=list)  # the metrics.jsonl records
    best: dict[str, Any] = field(
        default_factory=lambda: {"epoch": 0, "val_video_acc": None, "val_clip_acc": None, "val_loss": None}
    )

    def save(self, better: bool) -> None:
        meta = model_meta(
            self.config, self.split, self.history, self.best, processes=self.ctx.world, bf16=self.ctx.bf16
        )
        state = resume_state(self.config, self.model, self.optimizer, self.scheduler, self.history, self.best)
        save_epoch(self.config.out, self.model, meta, self.history, better, state)


def _run(config: ResolvedConfig, ctx: Context, show: bool, console: Console, stop_after: int | None) -> TrainResult:
    log = console.print if show else silent
    config, split = _open(config, ctx, log)
    run = _assemble(config, split, ctx, log, SkipReport(console.print if ctx.main else silent))
    end = config.epochs if stop_after is None else min(config.epochs, stop_after)
    with _progress_bar(console, show) as bar:
        for epoch in range(len(run.history), end):
            _epoch(run, epoch, bar)
    if ctx.main and run.history:
        with writing(config.out):
            write_plots(config.out, run.history)
    return TrainResult.of(config.out, run.history, run.best)


def _open(config: ResolvedConfig, ctx: Context, log: Any) -> tuple[ResolvedConfig, DataSplit]:
    """The checked recipe (its epochs settled) and the data split (the run folder is `run_folder`'s)."""
    if config.resume is not None:
        config = dataclasses.replace(config, out=Path(config.resume))
    check_config(config, ctx.world)
    split = open_dataset(
        config.data,
        layout=config.layout,
        split=config.split,
        val_fraction=config.val_fraction,
        group_regex=config.group_regex,
        seed=config.seed,
        csv_path=config.csv,
        verify=True,
    )
    log(split.summary(), highlight=False, soft_wrap=True)
    if config.epochs is None:  # a fine-tuning run left it open: long enough for the data at hand
        config = dataclasses.replace(config, epochs=fine_tune_epochs(len(split.train), config.batch_size))
        log(f"{config.epochs} epochs ({FINE_TUNE_STEPS}+ steps of {config.batch_size} clips)", highlight=False)
    return config, split


def _assemble(config: ResolvedConfig, split: DataSplit, ctx: Context, log: Any, skips: SkipReport) -> _Run:
    """Model, loaders, optimizer and schedule, in the order the seed's draws expect; a resumed run's state."""
    seed_everything(config.seed)
    model, state = _model(config, split, log)
    fuse_attention(model)  # the attention blocks train through the fused CPU kernels where they apply; same state dict
    # channels_last_3d on every device: the convolution backward passes run faster in it (measured: tuning.py);
    # on GPUs it is the layout cuDNN's fast kernels want.
    model = model.to(ctx.device, memory_format=torch.channels_last_3d)
    net = parallel(model, ctx)
    loaders = make_loaders(split, config, ctx, skips.say)
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config, len(loaders.train))
    run = _Run(config, ctx, split, model, net, loaders, optimizer, scheduler, skips)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        run.history = [dict(h) for h in state["history"]]
        run.best = dict(state["best"])
        set_rng_state(state["rng"])  # last: everything above may draw from the generators
        log(f"resuming {config.out} after epoch {int(state['epoch'])} of {config.epochs}", highlight=False)
    elif ctx.main:
        write_config(config)
    return run


def _model(config: ResolvedConfig, split: DataSplit, log: Any) -> tuple[nn.Module, dict[str, Any] | None]:
    """The network with its starting weights: the resume state's, `init`'s, or from scratch; and the resume state."""
    try:
        model = build(config.arch, num_classes=len(split.labels), **config.arch_args)
    except TypeError as e:
        raise ActionrecError(f"--arch {config.arch}: bad architecture options ({e})") from None
    state = load_state(config.out) if config.resume is not None else None
    if state is not None:
        load_weights(model, state["model"], config.out / STATE_FILE)
    elif config.init is not None:
        from ..hub.foreign import load_pretrained  # starts the attention the file lacks as the identity itself

        report = load_pretrained(model, config.init)
        log(report.summary(), highlight=False, soft_wrap=True)
    else:  # from scratch
        if config.identity_attention:  # random gates halve the branch twice: measured 2x slower from scratch
            attention_as_identity(model)
        if config.zero_init_residual:
            zero_init_residuals(model)
    return model, state


def _progress_bar(console: Console, show: bool) -> Progress:
    columns = [
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
    ]
    return Progress(*columns, console=console, disable=not show)


def _epoch(run: _Run, epoch: int, bar: Progress) -> None:
    """Train one epoch, validate, keep the record and the best, save the run folder (rank 0)."""
    t0 = time.perf_counter()
    run.loaders.sampler.set_epoch(epoch)
    run.loaders.train_set.set_epoch(epoch)
    lr = run.optimizer.param_groups[0]["lr"]
    task = bar.add_task(f"epoch {epoch + 1}/{run.config.epochs}", total=len(run.loaders.train), stats="")
    loss, acc, seconds = _train_epoch(run, bar, task, epoch)
    record: dict[str, Any] = {
        "epoch": epoch + 1,
        "lr": lr,
        "train_loss": loss,
        "train_acc": acc,
        "val_loss": None,
        "val_clip_acc": None,
        "val_video_acc": None,
        "clips_per_s": round(len(run.loaders.train_set) / seconds, 2),
        "time": 0.0,
        "best": None,  # why this epoch became the best so far, if it did
    }
    if run.loaders.val is not None:
        bar.update(task, stats=bar.tasks[-1].fields["stats"] + " | validating")
        record.update(validate(run.model, run.loaders.val, run.config.val_clips, run.ctx, run.skips))
    record["time"] = round(time.perf_counter() - t0, 2)
    record["best"] = improved(record, run.best)
    if record["best"] is not None:
        run.best = {key: record[key] for key in ("epoch", "val_video_acc", "val_clip_acc", "val_loss")}
    run.history.append(record)
    if run.ctx.main:
        run.save(record["best"] is not None)
    bar.update(task, stats=_summary(record) + (f" * best: {record['best']}" if record["best"] else ""))


def _summary(record: dict[str, Any]) -> str:
    summary = f"train loss {record['train_loss']:.4f} acc {record['train_acc']:.1%} {record['clips_per_s']:.1f} clips/s"
    if record["val_video_acc"] is not None:
        summary += f" | val clip {record['val_clip_acc']:.1%} video {record['val_video_acc']:.1%}"
    return summary


def _train_epoch(run: _Run, bar: Progress, task: TaskID, epoch: int) -> tuple[float, float, float]:
    """One pass over the training clips; returns (mean loss, accuracy, seconds) over all processes."""
    run.net.train()
    loader, ctx = run.loaders.train, run.ctx
    totals = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, clips
    t0 = time.perf_counter()
    for step, batch in enumerate(loader):
        keep = run.skips.decoded(loader.dataset, batch)  # clips of undecodable videos: out
        x, y = batch.clip, batch.label
        kept = _kept_everywhere(keep, len(y), ctx)
        if kept == 0:  # no process has a clip to learn from: all of them skip this step together
            bar.update(task, advance=1)
            continue
        loss_sum, correct, n = _step(run, x, y, keep, kept, epoch, step)
        totals += torch.tensor([loss_sum, correct, n], dtype=torch.float64)
        rate = totals[2].item() * ctx.world / max(time.perf_counter() - t0, 1e-9)
        clips = max(totals[2].item(), 1)  # none yet where this process's clips so far did not decode
        bar.update(
            task,
            advance=1,
            stats=f"loss {totals[0] / clips:.4f} acc {totals[1] / clips:.1%} {rate:.1f} clips/s",
        )
    seconds = time.perf_counter() - t0
    sum_over_processes(totals, ctx)
    return totals[0].item() / max(totals[2].item(), 1), totals[1].item() / max(totals[2].item(), 1), seconds


def _kept_everywhere(keep: torch.Tensor | None, batch: int, ctx: Context) -> int:
    """How many clips of this step decoded, over all processes (each has its own batch, and its own undecodable
    videos): every process learns the same number, so that they all step, or all skip, together."""
    mine = batch if keep is None else int(keep.sum())
    if ctx.world == 1:
        return mine
    count = torch.tensor([mine], dtype=torch.int64)
    sum_over_processes(count, ctx)
    return int(count.item())


def _step(
    run: _Run, x: torch.Tensor, y: torch.Tensor, keep: torch.Tensor | None, kept: int, epoch: int, step: int
) -> tuple[float, int, int]:
    """One optimizer step on a batch's decoded clips (`keep`: their mask, None: all), `kept` of them over all
    processes; returns this process's loss sum, clips right and clips used. The gradient is the mean over the
    `kept` clips wherever they are. A process none of whose clips decoded still runs forward and backward, with
    zero weight, so that the gradient all-reduce it is part of goes ahead. A loss that is not finite stops the
    run."""
    empty = keep is not None and not keep.any()
    if keep is not None and not empty:
        x, y = x[keep], y[keep]
    x = x.to(run.ctx.device, non_blocking=True)  # (B, 3, T, crop, crop)
    x = x.contiguous(memory_format=torch.channels_last_3d)  # the model's layout
    y = y.to(run.ctx.device, non_blocking=True)
    if empty:  # one blank clip through the network in eval mode: BatchNorm's running statistics stay as they are
        run.model.eval()
        with run.ctx.autocast():
            logits = run.net(x[:1])
        run.model.train()
        losses = logits.float().sum(1) * 0.0
    else:
        with run.ctx.autocast():
            logits = run.net(x)  # (B, num_classes)
        losses = F.cross_entropy(logits.float(), y, reduction="none")
    # each process's share of the mean over all kept clips; DistributedDataParallel averages over the processes
    loss = losses.sum() * (run.ctx.world / kept) if run.ctx.world > 1 else losses.mean()
    if not torch.isfinite(loss):
        raise ActionrecError(f"the loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}: lower --lr")
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    run.scheduler.step()
    if empty:
        return 0.0, 0, 0
    return losses.sum().item(), int((logits.argmax(1) == y).sum().item()), len(y)
