"""Data-parallel training under `torchrun` or in a SLURM job of several tasks: one process per device,
rank 0 writes the run record.

torchrun sets RANK, WORLD_SIZE and the master's address itself. A SLURM job launched by submitit
(`hydra.launcher.tasks_per_node`, `nodes`) runs one process per task with SLURM's variables instead;
submitit's TorchDistributedEnvironment translates them (ranks, world size, the job's first node as master, a
port drawn from the job id) into torchrun's, so both paths join the same way.

Every rank draws the same global batch (the loaders are seeded by seed and epoch) and trains on its
slice of it; DDP averages the gradients and the metric sums are all-reduced at the end of each pass,
so a run on N processes follows the single-process run (up to BatchNorm statistics, which are per rank).
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Iterator, Tuple

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def adopt_slurm_tasks() -> None:
    """In a submitit SLURM job of several tasks, export torchrun's variables from SLURM's (once)."""
    if os.environ.get("SUBMITIT_EXECUTOR") != "slurm" or "RANK" in os.environ or \
            int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return
    from submitit.helpers import TorchDistributedEnvironment

    # every task keeps all of its node's GPUs visible: a task uses cuda:<local rank>
    TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)


def rank_from_env() -> int:
    """This process's rank as torchrun or SLURM's tasks set it (0 otherwise), readable before `setup`."""
    adopt_slurm_tasks()
    return int(os.environ.get("RANK", "0"))


def log_on_rank_zero() -> None:
    """Under torchrun (or SLURM's tasks) every line is logged once: rank 0 logs at INFO, the other ranks only
    warnings and errors (their progress bars are off too, engine/progress.py)."""
    if rank_from_env() != 0:
        logging.getLogger().setLevel(logging.WARNING)


def setup(device_type: str) -> Context:
    """Join the process group torchrun or SLURM describes (gloo on CPU, NCCL on CUDA); a no-op otherwise."""
    adopt_slurm_tasks()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    ctx = Context(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    if device_type == "cuda":
        torch.cuda.set_device(ctx.local_rank)
    return ctx


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


class ShardedLoader:
    """This rank's slice (every world-th sample) of each global batch of `loader`."""

    def __init__(self, loader, ctx: Context):
        self.loader, self.ctx = loader, ctx

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def limited(self, batches: int) -> "ShardedLoader":
        return ShardedLoader(self.loader.limited(batches), self.ctx)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.loader:
            yield x[self.ctx.rank::self.ctx.world], y[self.ctx.rank::self.ctx.world]
