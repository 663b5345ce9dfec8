"""Batches by token budget: as many texts per forward pass as a padded batch of that length can hold.

A fixed batch size wastes work both ways: a batch of 32 long abstracts may not fit the accelerator, and a batch
of 32 three-word sentences leaves it idle.  Sorting texts by token count (longest first, so an out-of-memory
shows up in the first batch, not the last) and filling each batch up to ``max_tokens`` *padded* tokens
(``rows x longest row``) keeps every forward pass about the same cost.  ``max_batch`` still caps the rows, so
short texts do not make one enormous batch.  Encoders that tokenize themselves (``hf:``, ``sbert:``, the cpt
models) use this when the user passes ``--batch-tokens``.
"""

from __future__ import annotations

from collections.abc import Sequence


def token_budget_batches(token_counts: Sequence[int], max_tokens: int, max_batch: int) -> list[list[int]]:
    """Indices of ``token_counts`` grouped into batches, longest texts first.

    Each batch's padded size (``len(batch) * max(counts in batch)``) stays within ``max_tokens`` and its length
    within ``max_batch``; a single text longer than ``max_tokens`` still gets a batch of its own.  Every index
    appears exactly once; ties keep their input order, so the batching is deterministic.
    """
    if max_tokens < 1 or max_batch < 1:
        raise ValueError(f"max_tokens and max_batch must be positive, got {max_tokens} and {max_batch}")
    order = sorted(range(len(token_counts)), key=lambda i: -token_counts[i])
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        count = max(1, int(token_counts[index]))
        widest = max(longest, count)
        if current and (len(current) >= max_batch or (len(current) + 1) * widest > max_tokens):
            batches.append(current)
            current, widest = [], count
        current.append(index)
        longest = widest
    if current:
        batches.append(current)
    return batches


def fixed_batches(n: int, batch_size: int) -> list[list[int]]:
    """``range(n)`` cut into consecutive batches of ``batch_size`` (the behaviour without a token budget)."""
    size = max(1, int(batch_size))
    return [list(range(start, min(start + size, n))) for start in range(0, n, size)]


def plan_batches(token_counts: Sequence[int], batch_size: int, max_tokens: int | None) -> list[list[int]]:
    """Token-budget batches when ``max_tokens`` is set, else fixed ``batch_size`` batches in input order."""
    if max_tokens:
        return token_budget_batches(token_counts, max_tokens, batch_size)
    return fixed_batches(len(token_counts), batch_size)
