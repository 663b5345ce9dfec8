"""The STS metrics: Spearman and Pearson correlation of three similarities with the gold scores.

The protocol is MTEB's (and SentEval's for the correlation): embed both sentences of each pair, score the
pair by cosine similarity, and report Spearman's rank correlation with the human scores over the whole
split (main score), with Pearson and the Euclidean and Manhattan variants alongside.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import pearsonr, spearmanr

from harness import EncodeFn, PerExample, TaskOutput, TextKind

from .readers import ScoredPair


def sts_metrics(pairs: list[ScoredPair], encode: EncodeFn) -> TaskOutput:
    """Encode a list of scored pairs and correlate three similarities with the gold scores.

    Both sides go to the encoder in one call: the encoding session deduplicates within a call, and a sentence
    that appears on the left of one pair and the right of another (41 of STS-B's, most of SICK's) is then
    embedded once, not twice.
    """
    vectors = encode([p.sentence1 for p in pairs] + [p.sentence2 for p in pairs], TextKind.TEXT)
    left, right = vectors[: len(pairs)], vectors[len(pairs) :]
    gold = np.array([p.score for p in pairs], dtype=np.float64)
    left64, right64 = left.astype(np.float64), right.astype(np.float64)
    norms = np.linalg.norm(left64, axis=1) * np.linalg.norm(right64, axis=1)
    cosine = np.einsum("ij,ij->i", left64, right64) / np.where(norms == 0, 1.0, norms)
    similarities = {
        "cosine": cosine,
        "euclidean": -np.linalg.norm(left64 - right64, axis=1),
        "manhattan": -np.abs(left64 - right64).sum(axis=1),
    }
    metrics: dict[str, float] = {}
    for name, values in similarities.items():
        metrics[f"{name}_spearman"] = float(spearmanr(gold, values).statistic)
        metrics[f"{name}_pearson"] = float(pearsonr(gold, values).statistic)
    return TaskOutput(
        metrics=metrics,
        main_score=metrics["cosine_spearman"],
        n_examples=len(pairs),
        per_example=PerExample.correlation(cosine, gold),
    )


def cached_encode(encode: EncodeFn, texts: Sequence[str]) -> EncodeFn:
    """Encode ``texts`` once, in one call; return an ``encode`` that looks rows up.

    A task that scores several groups of pairs from the same vectors (SemEval's pool and its subsets)
    encodes every text once, so the runner's timings and counts cover one pass.
    """
    unique = list(dict.fromkeys(texts))
    vectors = np.asarray(encode(unique, TextKind.TEXT))
    row = {text: i for i, text in enumerate(unique)}
    return lambda batch, _kind: vectors[[row[text] for text in batch]]
