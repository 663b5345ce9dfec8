"""Data parallelism across processes (torchrun) for the contrastive loss.

Negatives must span the global batch, not one rank's shard, or the effective
batch (the paper's main lever) shrinks by the number of GPUs.  Each rank
all-gathers every rank's embeddings, puts its own shard back in place with its
autograd link, and computes the same global loss; the gradient reaching its
local embeddings is then exactly the global loss's gradient for them.  Summing
parameter gradients over ranks gives the full-batch gradient; the temperature,
which every rank sees whole, is averaged instead.  No DistributedDataParallel:
gradient caching runs several forward passes per step, and a plain all-reduce
after the step is both simpler and exact.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def init_world(device: str) -> World:
    """Join the process group torchrun describes in the environment; a single process otherwise."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
    return World(rank=rank, size=size, local_rank=local_rank)


def shutdown_world(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def gather_with_local_grad(local: torch.Tensor, world: World) -> torch.Tensor:
    """Every rank's rows concatenated in rank order; only this rank's rows carry gradient.

    Shards must have equal sizes (the trainer splits the global batch evenly).
    """
    if not world.distributed:
        return local
    parts = [torch.empty_like(local) for _ in range(world.size)]
    dist.all_gather(parts, local.detach().contiguous())
    parts[world.rank] = local
    return torch.cat(parts)


def sum_gradients(
    parameters: Iterable[torch.nn.Parameter], world: World, replicated: Iterable[torch.nn.Parameter]
) -> None:
    """Sum gradients over ranks; average those of ``replicated`` parameters, whose gradient every rank has whole."""
    if not world.distributed:
        return
    replicated_ids = {id(p) for p in replicated}
    for parameter in parameters:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
        if id(parameter) in replicated_ids:
            parameter.grad.div_(world.size)
        dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)


def broadcast_parameters(parameters: Iterable[torch.nn.Parameter], world: World) -> None:
    """Start every rank from rank 0's weights (a safeguard: same seed already gives the same init)."""
    if not world.distributed:
        return
    with torch.no_grad():
        for parameter in parameters:
            dist.broadcast(parameter.data, src=0)


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()
