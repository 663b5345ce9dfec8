"""One optimisation step of the contrastive loss, with gradient caching for huge batches.

The paper trains with 12288 pairs per batch; the activations of a whole batch do
not fit any GPU.  Gradient caching (Gao et al., 2021, "Scaling Deep Contrastive
Learning Batch Size under Memory Limited Setup") splits the step in three:

1. embed the batch chunk by chunk without building a graph (memory of one chunk);
2. compute the loss on the full batch of embeddings, which are small, and get the
   loss's gradient with respect to each embedding;
3. embed each chunk again, this time with a graph, and backpropagate the cached
   embedding gradients through it.

The parameter gradients equal those of the full-batch computation (tests check it
in float64); the price is one extra forward pass.  The random state is replayed
per chunk so that dropout masks match between passes 1 and 3.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from harness.encoders.model import CptModel
from harness.encoders.training.distributed import World, gather_with_local_grad, sum_gradients
from harness.encoders.training.loss import contrastive_loss, in_batch_accuracy
from harness.encoders.training.sharding import gradient_sync

Tokens = dict[str, torch.Tensor]


@dataclass(frozen=True)
class StepBatch:
    """One rank's share of a global batch, tokenised: row i of queries pairs with row i of documents."""

    queries: Tokens
    documents: Tokens
    negatives: Tokens | None = None

    def sides(self) -> list[Tokens]:
        return [self.queries, self.documents] + ([self.negatives] if self.negatives is not None else [])

    @property
    def tokens(self) -> int:
        return int(sum(side["attention_mask"].sum() for side in self.sides()))


@dataclass(frozen=True)
class StepResult:
    loss: float
    accuracy: float
    tokens: int
    """Real (non-padding) tokens this rank encoded, counted once."""


def contrastive_step(
    model: CptModel,
    batch: StepBatch,
    *,
    world: World | None = None,
    chunk_size: int | None = None,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> StepResult:
    """Forward and backward for one batch; leaves the summed gradients in ``.grad``.

    ``chunk_size`` None (or at least the batch) is the plain computation; smaller
    enables gradient caching.  The caller zeroes gradients and steps the optimiser.
    """
    world = world or World()
    device = model.device
    sides = [{key: value.to(device) for key, value in side.items()} for side in batch.sides()]
    rows = max(len(side["input_ids"]) for side in sides)
    if chunk_size is None or chunk_size >= rows:
        with autocast():
            embeddings = [model(**side) for side in sides]
        loss, accuracy = _global_loss(model, embeddings, world)
        loss.backward()
    else:
        cached: list[torch.Tensor] = []
        states: list[list[Any]] = []
        with torch.no_grad():
            for side in sides:
                side_states: list[Any] = []
                parts = []
                for chunk in _chunks(side, chunk_size):
                    side_states.append(_rng_state(device))
                    with autocast():
                        parts.append(model(**chunk))
                cached.append(torch.cat(parts))
                states.append(side_states)
        leaves = [embedding.detach().requires_grad_() for embedding in cached]
        loss, accuracy = _global_loss(model, leaves, world)
        loss.backward()
        passes = [
            (side, leaf, start, chunk, state)
            for side, leaf, side_states in zip(sides, leaves, states, strict=True)
            for (start, chunk), state in zip(_indexed_chunks(side, chunk_size), side_states, strict=True)
        ]
        for number, (_side, leaf, start, chunk, state) in enumerate(passes, start=1):
            assert leaf.grad is not None
            _set_rng_state(device, state)
            # Sharded (FSDP): gradients are reduced across ranks once, after the last chunk's backward.
            with gradient_sync(model, enabled=number == len(passes)):
                with autocast():
                    embedding = model(**chunk)
                embedding.backward(leaf.grad[start : start + len(embedding)])
    sum_gradients(model.parameters(), world, replicated=[model.log_scale])
    return StepResult(loss=float(loss.detach()), accuracy=accuracy, tokens=batch.tokens)


def _global_loss(model: CptModel, embeddings: list[torch.Tensor], world: World) -> tuple[torch.Tensor, float]:
    gathered = [gather_with_local_grad(embedding, world) for embedding in embeddings]
    queries, documents = gathered[0], gathered[1]
    negatives = gathered[2] if len(gathered) > 2 else None
    loss = contrastive_loss(queries, documents, model.scale(), negatives)
    return loss, in_batch_accuracy(queries.detach(), documents.detach())


def _indexed_chunks(side: Tokens, size: int) -> Iterator[tuple[int, Tokens]]:
    total = len(side["input_ids"])
    for start in range(0, total, size):
        mask = side["attention_mask"][start : start + size]
        width = int(mask.sum(dim=1).max())  # right padding: columns past the longest row are all padding
        yield start, {key: value[start : start + size, :width] for key, value in side.items()}


def _chunks(side: Tokens, size: int) -> Iterator[Tokens]:
    for _, chunk in _indexed_chunks(side, size):
        yield chunk


def _rng_state(device: torch.device) -> Any:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(device: torch.device, state: Any) -> None:
    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, device)
