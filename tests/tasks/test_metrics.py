"""The STS and retrieval evaluations against computations done by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from harness.plugins.tasks.retrieval.metrics import retrieval_metrics
from harness.plugins.tasks.retrieval.tasks import exact_search, normalized
from harness.plugins.tasks.sts.metrics import sts_metrics
from harness.plugins.tasks.sts.readers import ScoredPair


def test_sts_metrics_are_spearman_of_cosine() -> None:
    rng = np.random.default_rng(0)
    table = {f"s{i}": rng.normal(size=8) for i in range(40)}
    pairs = [ScoredPair(f"s{i}", f"s{i + 20}", float(rng.uniform(0, 5))) for i in range(20)]
    encode = lambda texts, kind: np.stack([table[t] for t in texts]).astype(np.float32)  # noqa: E731
    output = sts_metrics(pairs, encode)
    a = np.stack([table[p.sentence1] for p in pairs])
    b = np.stack([table[p.sentence2] for p in pairs])
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    expected = spearmanr([p.score for p in pairs], cosine).statistic
    assert output.main_score == pytest.approx(expected, abs=1e-6)
    assert output.n_examples == 20 and set(output.metrics) >= {
        "cosine_pearson",
        "manhattan_spearman",
        "euclidean_spearman",
    }


def test_exact_search_equals_brute_force() -> None:
    rng = np.random.default_rng(1)
    queries, docs = normalized(rng.normal(size=(7, 16))), normalized(rng.normal(size=(300, 16)))
    scores, rows = exact_search(queries, docs, 10)
    brute = queries @ docs.T
    np.testing.assert_array_equal(rows, np.argsort(-brute, axis=1)[:, :10])
    np.testing.assert_allclose(scores, np.sort(brute, axis=1)[:, ::-1][:, :10], atol=1e-5)


def test_retrieval_metrics_by_hand() -> None:
    qrels = {"q1": {"d1": 1, "d3": 1}, "q2": {"d9": 2}}
    run = {
        "q1": {"d1": 0.9, "d2": 0.8, "d3": 0.7},  # relevant at ranks 1 and 3
        "q2": {"d4": 0.9, "d9": 0.5},  # relevant at rank 2
    }
    m = retrieval_metrics(run, qrels)
    ndcg_q1 = (1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3))
    ndcg_q2 = (1 / np.log2(3)) / 1
    assert m["ndcg_at_10"] == pytest.approx((ndcg_q1 + ndcg_q2) / 2)
    assert m["mrr_at_10"] == pytest.approx((1 + 0.5) / 2)
    assert m["mrr_at_1"] == pytest.approx(0.5)
    assert m["recall_at_1"] == pytest.approx((0.5 + 0) / 2)
    assert m["precision_at_3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert m["map_at_10"] == pytest.approx(((1 + 2 / 3) / 2 + 0.5) / 2)
