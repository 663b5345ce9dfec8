"""Retrieval metrics: MTEB's (and BEIR's) set, computed by pytrec_eval over the judged queries.

nDCG@10 is the main score; MAP, recall, precision and MRR at 1, 3, 5, 10, 20, 100 and 1000 come with it,
each averaged over the judged queries.  MRR@k is ``pytrec_eval``'s reciprocal rank on the run cut to its
top k.
"""

from __future__ import annotations

import numpy as np
import pytrec_eval

K_VALUES = (1, 3, 5, 10, 20, 100, 1000)
TOP_K = max(K_VALUES)
"""Documents ranked per query: the deepest cut-off."""


def retrieval_metrics(
    run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]], per_query: dict[str, float] | None = None
) -> dict[str, float]:
    """Mean over judged queries of every metric at every cut-off, computed by pytrec_eval.

    ``per_query``, when given, receives each query's nDCG@10 (the main metric), for paired comparisons.
    """
    ks = ",".join(str(k) for k in K_VALUES)
    measures = {f"ndcg_cut.{ks}", f"map_cut.{ks}", f"recall.{ks}", f"P.{ks}"}
    evaluated = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    if per_query is not None:
        per_query.update({query: scores["ndcg_cut_10"] for query, scores in evaluated.items()})
    names = {"ndcg_cut": "ndcg_at", "map_cut": "map_at", "recall": "recall_at", "P": "precision_at"}
    metrics: dict[str, float] = {}
    for measure, name in names.items():
        for k in K_VALUES:
            metrics[f"{name}_{k}"] = float(np.mean([scores[f"{measure}_{k}"] for scores in evaluated.values()]))
    rr_evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"})
    for k in K_VALUES:
        cut = {q: dict(_top(docs, k)) for q, docs in run.items()}
        metrics[f"mrr_at_{k}"] = float(np.mean([s["recip_rank"] for s in rr_evaluator.evaluate(cut).values()]))
    return metrics


def _top(docs: dict[str, float], k: int) -> list[tuple[str, float]]:
    # trec_eval's order: score descending, then document id descending.
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)[:k]
