"""What a probe's results become: SentEval's rounding, the main seed's scores, and the spread over seeds.

Metrics: ``accuracy`` (seed 1111, SentEval's rounding: percent to two decimals, divided by 100),
``accuracy_seed_<s>``, ``accuracy_mean`` and ``accuracy_std`` (sample standard deviation over the seeds),
``dev_accuracy`` (SentEval's ``devacc``), ``penalty_c`` (the chosen ``C``; for nested CV the most frequent
of the outer folds' choices), and any extra metric (MRPC's ``f1``) with its spread.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from harness import PerExample

from .linear_probe import SENTEVAL_SEED, ProbeResult

SEEDS: tuple[int, ...] = (SENTEVAL_SEED, 2222, 3333)
"""The first is SentEval's default and gives the main score; the others measure the spread."""


def fraction(percent: float) -> float:
    """A SentEval percentage as the fraction results record."""
    return round(percent / 100.0, 6)


def _most_frequent(values: tuple[float, ...]) -> float:
    """The most frequent choice; on a tie the smallest C, as SentEval's arg-max prefers it."""
    counts = Counter(values)
    return min(counts, key=lambda v: (-counts[v], v))


def seed_metrics(results: dict[int, ProbeResult], extra: dict[str, dict[int, float]] | None = None) -> dict[str, float]:
    """Main-seed metrics plus per-seed values, mean and sample std of accuracy (and of any ``extra`` metric)."""
    main = results[SENTEVAL_SEED]
    metrics = {
        "accuracy": fraction(main.accuracy),
        "dev_accuracy": fraction(main.dev_accuracy),
        "penalty_c": _most_frequent(main.penalties),
    }
    series = {"accuracy": {seed: r.accuracy for seed, r in results.items()}} | (extra or {})
    for name, by_seed in series.items():
        values = [fraction(by_seed[seed]) for seed in SEEDS]
        metrics[name] = fraction(by_seed[SENTEVAL_SEED])
        for seed, value in zip(SEEDS, values, strict=True):
            metrics[f"{name}_seed_{seed}"] = value
        metrics[f"{name}_mean"] = round(float(np.mean(values)), 6)
        metrics[f"{name}_std"] = round(float(np.std(values, ddof=1)), 6) if len(values) > 1 else 0.0
    return metrics


def per_example(results: dict[int, ProbeResult]) -> PerExample | None:
    """Correctness of each test example at SentEval's seed (the main score's seed)."""
    correct = results[SENTEVAL_SEED].correct
    return None if correct is None else PerExample.scores(correct.astype(np.float64))


def seed_details(results: dict[int, ProbeResult], seconds: float, **more: Any) -> dict[str, Any]:
    """What the metrics leave out: every chosen C per seed and the probe's own time."""
    return {
        "seeds": list(SEEDS),
        "penalty_c_by_seed": {str(seed): list(r.penalties) for seed, r in results.items()},
        "probe_seconds": round(seconds, 3),
        **more,
    }


def binary_f1(predictions: np.ndarray, labels: np.ndarray) -> float:
    """F1 of the positive class in percent, two decimals (``round(100 * f1_score(y, yhat), 2)``)."""
    true_positive = float(np.sum((predictions == 1) & (labels == 1)))
    predicted, actual = float(np.sum(predictions == 1)), float(np.sum(labels == 1))
    f1 = 0.0 if predicted + actual == 0 else 2 * true_positive / (predicted + actual)
    return float(np.round(100 * f1, 2))
