"""The processes one evaluation (or training run) spans: torchrun's world, and the few collectives it needs.

``torchrun --nproc-per-node N ... harness run ...`` starts N copies of the
command; each learns its rank from the environment torchrun sets (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``) and joins one ``torch.distributed`` process group:
gloo for CPU tensors, and NCCL beside it when CUDA is there (a ``cpu:gloo,cuda:nccl``
group, so the small control messages and CPU arrays here never need a GPU).  A
plain ``harness run`` is the world of size 1: every collective below is then the
identity, so single- and multi-process runs take the same code path.

Every collective has a timeout (``$HARNESS_DIST_TIMEOUT`` seconds, default 3600):
a rank that dies makes the others fail with an error, never wait forever, and
torchrun stops the rest of the job.  A rank whose own work fails (an encoder's
NaN in its shard) says so at the next :meth:`World.agree`, and every rank then
raises the same one-line error naming it, so the task fails everywhere at once
and the run goes on, as it does in one process.

Why not ``torch.distributed`` alone: its object collectives are enough for
control messages, but gathering rows of differing counts per rank (a corpus that
does not split evenly, a rank with nothing to do) needs sizes exchanged first and
padding removed; :meth:`World.all_gather_rows` does that, on CPU tensors.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from harness.errors import HarnessError, one_line

TIMEOUT_ENV = "HARNESS_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 3600


class RankFailed(HarnessError):
    """Another rank's work failed; this rank stops the same task with the same message."""


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of one job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that prints, computes nothing extra, and writes every file."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def shard(self, weights: Sequence[int] | np.ndarray, align: int = 1) -> tuple[int, int]:
        """This rank's contiguous ``[start, stop)`` of items weighted ``weights``; see :func:`shard_bounds`."""
        bounds = shard_bounds(np.asarray(weights, dtype=np.int64), self.size, align)
        return int(bounds[self.rank]), int(bounds[self.rank + 1])

    def agree(self, error: BaseException | None) -> None:
        """Raise on every rank if any rank's step failed: its own exception there, :class:`RankFailed` elsewhere.

        Every rank must call this at the same point (before a collective that needs every rank's result).
        """
        if not self.distributed:
            if error is not None:
                raise error
            return
        import torch.distributed as dist

        mine = None if error is None else _describe(error)
        reports: list[Any] = [None] * self.size
        dist.all_gather_object(reports, mine)
        failed = [(rank, message) for rank, message in enumerate(reports) if message is not None]
        if not failed:
            return
        if error is not None:
            raise error
        rank, message = failed[0]
        raise RankFailed(f"rank {rank} of {self.size}: {message}")

    def all_gather_rows(self, local: np.ndarray) -> np.ndarray:
        """Every rank's rows, concatenated in rank order (ranks may hold different counts, or none)."""
        if not self.distributed:
            return local
        import torch
        import torch.distributed as dist

        local = np.ascontiguousarray(local)
        counts = torch.zeros(self.size, dtype=torch.int64)
        counts[self.rank] = len(local)
        dist.all_reduce(counts)
        most = int(counts.max())
        padded = torch.zeros((most, *local.shape[1:]), dtype=_torch_dtype(local.dtype))
        padded[: len(local)] = torch.from_numpy(local)
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        dist.all_gather(parts, padded)
        return np.concatenate([part[: int(n)].numpy() for part, n in zip(parts, counts, strict=True)])

    def union(self, flags: np.ndarray) -> np.ndarray:
        """Element-wise OR of a boolean array over ranks (what any rank lacks, every rank treats as lacking)."""
        if not self.distributed:
            return flags
        import torch
        import torch.distributed as dist

        values = torch.from_numpy(np.ascontiguousarray(flags, dtype=np.uint8)).to(torch.int32)
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
        return values.numpy().astype(bool)

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (a decision one rank makes for all: skip a finished task)."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def shard_bounds(weights: np.ndarray, parts: int, align: int = 1) -> np.ndarray:
    """``parts + 1`` boundaries splitting items into contiguous runs of about equal total weight.

    Boundaries fall on multiples of ``align`` (except the last, the item count), so a
    corpus shard starts where one process's search block would (faiss's 1024-row tile:
    the same arithmetic, the same scores to the last bit).  A run may be empty when
    there are fewer aligned steps than parts.
    """
    n = len(weights)
    if parts <= 1 or n == 0:
        return np.array([0] + [n] * max(parts, 1), dtype=np.int64)
    total = np.cumsum(np.maximum(weights, 1))
    targets = total[-1] * np.arange(1, parts) / parts
    cuts = np.searchsorted(total, targets, side="left") + 1
    cuts = np.round(cuts / align).astype(np.int64) * align
    cuts = np.clip(cuts, 0, n)
    return np.concatenate([[0], np.maximum.accumulate(cuts), [n]]).astype(np.int64)


def _describe(error: BaseException) -> str:
    return str(error) if isinstance(error, HarnessError) else f"{type(error).__name__}: {one_line(error)}"


def _torch_dtype(dtype: np.dtype) -> Any:
    import torch

    return torch.from_numpy(np.zeros(0, dtype=dtype)).dtype


@cache
def current_world() -> World:
    """This process's world: joins torchrun's process group once, on first use; size 1 without torchrun."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    import torch
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        gpu = torch.cuda.is_available()
        if gpu:
            torch.cuda.set_device(local_rank % torch.cuda.device_count())  # "cuda" is then this rank's GPU
        try:
            seconds = int(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)
        except ValueError:
            raise HarnessError(f"{TIMEOUT_ENV} must be a number of seconds") from None
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if gpu else "gloo", timeout=dt.timedelta(seconds=seconds))
    return World(rank=rank, size=size, local_rank=local_rank)


def leave_world(finished: bool) -> None:
    """Leave the process group, if this process joined one: after a barrier when the command ``finished``.

    Exiting with the group still open lets gloo's threads meet a half torn-down interpreter (an occasional
    SIGABRT at exit); the barrier keeps rank 0 from leaving while another rank still sends.  After a failure
    there is no barrier: the other ranks may be gone.
    """
    import sys

    if "torch.distributed" not in sys.modules:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        return
    try:
        if finished:
            dist.barrier()
    finally:
        dist.destroy_process_group()
        current_world.cache_clear()
