"""Data-parallel training under ``torchrun``: set-up from its environment, and small helpers.

``torchrun --nproc_per_node=K -m graycodec.training.train ...`` (or ``graycodec train`` under
torchrun) starts K processes with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set. Each rank
draws its own ``batch_size / K`` samples (generator seeded by (seed, step, rank)), the
gradients are averaged by DistributedDataParallel, and only rank 0 validates, logs and
saves. Without those variables everything here is a no-op for a single process.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import GraycodecError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the process group torchrun describes (nccl on CUDA, gloo on CPU); pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device
    ctx = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        visible = torch.cuda.device_count()
        if ctx.local_rank >= visible:  # one GPU per process: torch would fail with 'invalid device ordinal'
            raise GraycodecError(f"process {ctx.local_rank} of this node has no GPU of its own: torchrun started "
                                 f"more processes per node than the {visible} visible CUDA device(s); use "
                                 f"--nproc_per_node={visible} or less, or --device cpu")
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # Rank 0 validates while the others wait in the next all-reduce: allow it time.
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=ctx.rank, world_size=world,
                                timeout=datetime.timedelta(minutes=60))
    return ctx, device


def wrap(model: torch.nn.Module, ctx: Dist, device: torch.device) -> torch.nn.Module:
    """DDP around the model. BatchNorm stays per rank (statistics over the rank's
    ``batch_size / K`` samples, running statistics broadcast from rank 0 at each step):
    SyncBatchNorm would add a collective per layer and was never run on GPUs here."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)


def barrier(ctx: Dist) -> None:
    if not ctx.enabled:
        return
    if dist.get_backend() == "nccl":  # name the device, or NCCL guesses it
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


def mean(value: float, ctx: Dist, device: torch.device) -> float:
    """The mean of a per-rank number over all ranks (the loss of the whole batch)."""
    if not ctx.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / ctx.world


def cleanup(ctx: Dist) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
