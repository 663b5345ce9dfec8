"""The contrastive loss, gradient caching and the all-gather across processes.

Gradient caching and data parallelism are only worth having if they compute the
same thing as the plain full-batch step; these tests check that in float64.
"""

from __future__ import annotations

import math
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from harness.encoders.backbones import micro_backbone
from harness.encoders.model import CptConfig, CptModel
from harness.encoders.training.distributed import World
from harness.encoders.training.gradcache import StepBatch, contrastive_step
from harness.encoders.training.loss import contrastive_loss
from harness.encoders.training.pairs import Pair
from harness.encoders.training.trainer import tokenize_pairs

PAIRS = [
    Pair(
        f"question {i} about {'topic ' * (i % 5)}", f"answer {i}: {'detail ' * (i % 7)}", (f"wrong {i} " * (1 + i % 3),)
    )
    for i in range(12)
]


def test_loss_matches_a_hand_computation() -> None:
    generator = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(4, 8, generator=generator, dtype=torch.float64), dim=1)
    d = torch.nn.functional.normalize(torch.randn(4, 8, generator=generator, dtype=torch.float64), dim=1)
    h = torch.nn.functional.normalize(torch.randn(4, 8, generator=generator, dtype=torch.float64), dim=1)
    scale = torch.tensor(7.0, dtype=torch.float64)
    expected_rows, expected_cols = 0.0, 0.0
    for i in range(4):
        row = [scale * (q[i] @ c) for c in torch.cat([d, h])]
        expected_rows += -(row[i] - math.log(sum(math.exp(v) for v in row)))
        column = [scale * (q[j] @ d[i]) for j in range(4)]
        expected_cols += -(column[i] - math.log(sum(math.exp(v) for v in column)))
    expected = float(expected_rows + expected_cols) / 8
    assert float(contrastive_loss(q, d, scale, h)) == pytest.approx(expected, rel=1e-12)
    # without hard negatives the loss is symmetric in its two sides
    assert float(contrastive_loss(q, d, scale)) == pytest.approx(float(contrastive_loss(d, q, scale)), rel=1e-12)


def test_loss_is_low_when_pairs_match_and_high_when_shuffled() -> None:
    q = torch.nn.functional.normalize(torch.randn(16, 32, dtype=torch.float64), dim=1)
    scale = torch.tensor(20.0, dtype=torch.float64)
    assert float(contrastive_loss(q, q, scale)) < 0.1
    assert float(contrastive_loss(q, q.roll(1, dims=0), scale)) > 5


def _model() -> CptModel:
    backbone = micro_backbone(seed=1, dtype=torch.float64)
    return CptModel(backbone.model, backbone.tokenizer, CptConfig(backbone="micro", max_length=32))


def _gradients(model: CptModel) -> dict[str, torch.Tensor]:
    return {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("with_negatives", [False, True])
def test_gradient_caching_equals_the_full_batch_step(with_negatives: bool) -> None:
    model = _model()
    pairs = PAIRS if with_negatives else [Pair(p.x, p.y) for p in PAIRS]
    batch = tokenize_pairs(model, pairs)
    full = contrastive_step(model, batch)
    full_grads = _gradients(model)
    model.zero_grad(set_to_none=True)
    cached = contrastive_step(model, batch, chunk_size=5)  # 12 rows: chunks of 5, 5, 2
    cached_grads = _gradients(model)
    assert cached.loss == pytest.approx(full.loss, abs=1e-6, rel=1e-9)
    assert full_grads.keys() == cached_grads.keys() and "log_scale" in full_grads
    for name, grad in full_grads.items():
        torch.testing.assert_close(cached_grads[name], grad, rtol=1e-6, atol=1e-9, msg=name)
    assert any(float(g.abs().max()) > 0 for g in full_grads.values())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_worker(rank: int, world_size: int, port: int, chunk_size: int | None, queue) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        model = _model()
        share = len(PAIRS) // world_size
        batch = tokenize_pairs(model, PAIRS[rank * share : (rank + 1) * share])
        result = contrastive_step(model, batch, world=World(rank, world_size), chunk_size=chunk_size)
        queue.put((rank, result.loss, {k: v.numpy() for k, v in _gradients(model).items()}))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("chunk_size", [None, 4])
def test_two_processes_match_one_process_over_the_global_batch(chunk_size: int | None) -> None:
    torch.set_num_threads(1)
    model = _model()
    reference = contrastive_step(model, tokenize_pairs(model, PAIRS))
    expected = _gradients(model)

    context = mp.get_context("spawn")
    queue = context.Queue()
    port = _free_port()
    processes = [context.Process(target=_rank_worker, args=(r, 2, port, chunk_size, queue)) for r in range(2)]
    for process in processes:
        process.start()
    results = [queue.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    for rank, loss, grads in results:
        assert loss == pytest.approx(reference.loss, rel=1e-9), f"rank {rank}"
        for name, grad in expected.items():
            torch.testing.assert_close(torch.from_numpy(grads[name]), grad, rtol=1e-6, atol=1e-9, msg=name)


def test_step_batch_counts_real_tokens_only() -> None:
    model = _model()
    batch = tokenize_pairs(model, PAIRS[:3])
    assert isinstance(batch, StepBatch)
    assert batch.tokens == sum(int(side["attention_mask"].sum()) for side in batch.sides())
    assert batch.negatives is not None and len(batch.negatives["input_ids"]) == 3
