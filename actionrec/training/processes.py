"""The processes of a run: where this one trains (device, precision, rank under torchrun), the process group's
lifetime and collectives, and the DataLoader's decoding workers, started so that none outlives the run."""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.context
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..choices import Precision, TrainDevice
from ..cpu import auto_bf16, cpu_bf16_verdict
from ..errors import ActionrecError
from .recipe import TrainConfig

FORKSERVER_PRELOAD = "actionrec.training._forkserver_child"  # imported by the workers' forkserver: dies with us


@dataclass(frozen=True)
class Context:
    """Where this process runs: device, precision, and its place among the distributed processes."""

    device: torch.device
    bf16: bool
    rank: int = 0
    world: int = 1
    owns_group: bool = False  # this run initialised the process group (and tears it down)
    cuda_before: int | None = None  # the current CUDA device before the run chose its own (restored after)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)


def setup(config: TrainConfig) -> Context:
    """Pick the device and precision, and join torchrun's process group (WORLD_SIZE > 1). `teardown` undoes it."""
    if config.device == TrainDevice.cuda and not torch.cuda.is_available():
        raise ActionrecError("--device cuda: no CUDA device is available to torch here")
    cuda = config.device == TrainDevice.cuda or (config.device == TrainDevice.auto and torch.cuda.is_available())
    ctx = Context(device=torch.device("cpu"), bf16=False)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        owns_group = not dist.is_initialized()
        if owns_group:
            dist.init_process_group("nccl" if cuda else "gloo")
        ctx = dataclasses.replace(ctx, rank=dist.get_rank(), world=dist.get_world_size(), owns_group=owns_group)
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        before = torch.cuda.current_device()
        torch.cuda.set_device(local)
        ctx = dataclasses.replace(ctx, device=torch.device("cuda", local), cuda_before=before)
    try:
        return dataclasses.replace(ctx, bf16=_bf16(config.precision, ctx.device))
    except BaseException:
        teardown(ctx)
        raise


def _bf16(precision: Precision, device: torch.device) -> bool:
    if precision == Precision.bf16:
        if device.type == "cpu" and not cpu_bf16_verdict().trainable:
            raise ActionrecError(
                f"--precision bf16: this CPU's bf16 convolution gradients are wrong with torch {torch.__version__} "
                "(see actionrec.cpu.bf16_gradient_error); train with --precision fp32 or auto"
            )
        return True
    if precision == Precision.auto:
        return auto_bf16(device.type, training=True)
    return False


def teardown(ctx: Context) -> None:
    """Leave the process group this run joined, and give the CUDA device back as the caller had it."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()
    if ctx.cuda_before is not None:
        torch.cuda.set_device(ctx.cuda_before)


def barrier(ctx: Context) -> None:
    """Every process waits here for the others (one leaving early for the teardown could abort in gloo)."""
    if ctx.world > 1:
        dist.barrier()


def sum_over_processes(totals: torch.Tensor, ctx: Context) -> None:
    """`totals`, in place, summed over all processes."""
    if ctx.world > 1:
        dist.all_reduce(totals)


def gather(obj: Any, ctx: Context) -> list[Any]:
    """Every process's `obj`, in rank order (just this one's when it runs alone)."""
    if ctx.world == 1:
        return [obj]
    parts: list[Any] = [None] * ctx.world
    dist.all_gather_object(parts, obj)
    return parts


def parallel(model: nn.Module, ctx: Context) -> nn.Module:
    """What trains: `model`, or DistributedDataParallel around it under torchrun."""
    if ctx.world == 1:
        return model
    return nn.parallel.DistributedDataParallel(model, device_ids=[ctx.device] if ctx.device.type == "cuda" else None)


def is_main_process() -> bool:
    """Whether this process is rank 0 under torchrun, or runs alone: the one that writes and reports."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op threads set to `threads` for the block, then back as they were (None or 0: unchanged)."""
    if not threads:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def worker_init(trainer: int, _worker_id: int) -> None:
    """Decoding workers: one thread each, so that N workers use N cores and not N x cores; each ends when the
    training process `trainer` is gone (even after SIGKILL), and with its forkserver parent."""
    import cv2

    from .children import die_with_parent, exit_when_gone

    die_with_parent()
    exit_when_gone(trainer)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def worker_context() -> multiprocessing.context.BaseContext:
    """Workers start from a clean server process: forking a process whose OpenCV/OpenMP thread pools are running
    can deadlock the child (seen when training runs inside a process that decoded video before). The server dies
    with this process (`_forkserver_child`)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([FORKSERVER_PRELOAD])
    return context
