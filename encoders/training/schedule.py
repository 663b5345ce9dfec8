"""Learning rate and data order as pure functions of the step number.

Both depend on nothing but the step (and the run's settings), which is what makes
resuming exact: a resumed run recomputes the same learning rate and draws the same
batch for step s as an uninterrupted one.
"""

from __future__ import annotations

import math

import torch


def learning_rate(step: int, *, peak: float, warmup_steps: int, total_steps: int, final_ratio: float = 0.1) -> float:
    """Linear warm-up to ``peak``, then cosine decay to ``final_ratio * peak`` at ``total_steps``."""
    if warmup_steps > 0 and step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / decay_steps, 1.0)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return peak * (final_ratio + (1 - final_ratio) * cosine)


class PairOrder:
    """Which pairs make up the global batch of each step: a fresh seeded permutation per epoch.

    An epoch is ``n_pairs // batch_size`` steps; the remainder of a permutation is
    left out, so every batch is full (in-batch negatives need a constant batch).
    """

    def __init__(self, n_pairs: int, batch_size: int, seed: int) -> None:
        if batch_size > n_pairs:
            raise ValueError(f"batch size {batch_size} exceeds the {n_pairs} training pairs")
        self.n_pairs = n_pairs
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_epoch = n_pairs // batch_size
        self._epoch = -1
        self._permutation = torch.empty(0, dtype=torch.long)

    def position(self, step: int) -> dict[str, int]:
        return {"epoch": step // self.steps_per_epoch, "batch_in_epoch": step % self.steps_per_epoch}

    def batch(self, step: int) -> list[int]:
        epoch, index = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._permutation = torch.randperm(self.n_pairs, generator=generator)
            self._epoch = epoch
        start = index * self.batch_size
        return self._permutation[start : start + self.batch_size].tolist()
