"""Ranking the correct snippet among candidates, and the code-search metrics: MRR and recall at k.

Two tie rules, each its reference's: CodeSearchNet counts a tie against the model
(:func:`diagonal_ranks`), CoCLR's CoSQA evaluation sorts stably, so a tie goes to
the snippet earlier in the code base (:func:`answer_ranks`).
"""

from __future__ import annotations

import numpy as np

from harness import Capability, EncodeFn, TextKind, capabilities_of

RECALL_KS = (1, 5, 10)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in float64, so inner products are cosines (a zero row stays zero)."""
    rows = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


def batch_ranks(queries: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Rank of code ``i`` for query ``i`` among all codes of the batch (ties count against), and the queries with ties.

    ``queries`` and ``codes`` are unit rows of one batch, aligned (pair ``i`` is
    the correct one).
    """
    return diagonal_ranks(queries @ codes.T)


def diagonal_ranks(scores: np.ndarray) -> tuple[np.ndarray, int]:
    """:func:`batch_ranks` from a query-by-code score matrix whose diagonal holds the correct pairs.

    The correct score is read off the same matrix it is compared with, so
    rounding can never put it above or below itself.
    """
    correct = np.diagonal(scores)[:, None]
    at_least = np.count_nonzero(scores >= correct, axis=1)
    equal = at_least - np.count_nonzero(scores > correct, axis=1)
    return at_least, int(np.count_nonzero(equal > 1))


def codebase_ranks(queries: np.ndarray, codes: np.ndarray, answers: np.ndarray) -> tuple[np.ndarray, int]:
    """1-based rank of each query's answer in a stable descending sort of its scores, and the queries with ties."""
    return answer_ranks(queries @ codes.T, answers)


def answer_ranks(scores: np.ndarray, answers: np.ndarray) -> tuple[np.ndarray, int]:
    """:func:`codebase_ranks` from a query-by-code score matrix.

    That is 1 + the codes scoring higher + the codes scoring the same that come
    earlier in the code base: the position ``argsort(-scores, stable=True)``
    gives it, without sorting.
    """
    correct = scores[np.arange(len(answers)), answers][:, None]
    earlier = np.arange(scores.shape[1])[None, :] < answers[:, None]
    equal = scores == correct
    ranks = 1 + np.count_nonzero(scores > correct, axis=1) + np.count_nonzero(equal & earlier, axis=1)
    tied = int(np.count_nonzero(np.count_nonzero(equal, axis=1) > 1))
    return ranks, tied


def score_matrix(encode: EncodeFn, queries: list[str], codes: list[str]) -> np.ndarray:
    """Every query's score for every code, float64: cosines of the encoder's vectors, or the scores of its ranking.

    An encoder that ranks a corpus (BM25) is asked for the full ranking of the
    codes, so both kinds of encoder are ranked by the same rules (ties against,
    or a stable sort); a code it leaves unranked scores ``-inf``.
    """
    if Capability.RANKING in capabilities_of(encode):
        ranking = encode.rank(queries, codes, len(codes))  # type: ignore[attr-defined]
        scores = np.full((len(queries), len(codes)), -np.inf)
        np.put_along_axis(scores, ranking.indices, ranking.scores.astype(np.float64), axis=1)
        return scores
    return unit_rows(encode(queries, TextKind.QUERY)) @ unit_rows(encode(codes, TextKind.DOCUMENT)).T


def rank_metrics(ranks: np.ndarray) -> dict[str, float]:
    """MRR (mean of 1/rank over queries) and the share of queries answered within the top k."""
    ranks = np.asarray(ranks, dtype=np.float64)
    metrics = {"mrr": float(np.mean(1.0 / ranks))}
    for k in RECALL_KS:
        metrics[f"recall_at_{k}"] = float(np.mean(ranks <= k))
    return metrics
