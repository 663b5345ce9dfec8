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

from collections.abc import Iterable

import torch
import torch.distributed as dist

from harness.running.world import World, current_world


def shutdown_world(world: World) -> None:
    """Leave the process group :func:`harness.running.world.current_world` joined (the one place it is joined)."""
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
        current_world.cache_clear()


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
    """Sum gradients over ranks; average those of ``replicated`` parameters, whose gradient every rank has whole.

    Parameters FSDP shards (DTensors) are skipped: their reduce-scatter has summed them already.
    """
    if not world.distributed:
        return
    from torch.distributed.tensor import DTensor

    replicated_ids = {id(p) for p in replicated}
    for parameter in parameters:
        if isinstance(parameter, DTensor):
            continue
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
