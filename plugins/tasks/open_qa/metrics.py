"""The scores of Table 5: DPR's top-k retrieval accuracy and MS MARCO's official MRR@10 (with recall@1000).

Top-k accuracy (DPR ``dpr/data/qa_validation.py`` ``calculate_matches`` lines 72-77, then
``dense_retriever.py`` ``validate`` line 313): the fraction of *all* questions whose first passage holding an
answer is among their top k.

MRR@10 (microsoft/MSMARCO-Passage-Ranking at 28b3693, ``ms_marco_eval.py`` ``compute_metrics`` lines
116-137, ``MaxMRRRank = 10`` line 15): for each ranked query that has judgements, ``1 / rank`` of the first of
its top 10 passages that is relevant, else 0; the sum is divided by the number of queries *in the qrels*
(line 134: ``MRR/len(qids_to_relevant_passageids)``), so a judged query left unranked counts 0.  The script
reports nothing else (``MRR @10`` and ``QueriesRanked``); recall@1000 is added as trec_eval's ``recall.1000``
(relevant passages in the top 1000 over relevant passages, averaged over the same queries), the second number
usually printed for MS MARCO runs (Anserini, Pyserini).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

ACCURACY_KS = (1, 5, 20, 100)
DEPTH = max(ACCURACY_KS)
"""Passages checked per question: DPR's ``n_docs`` (``conf/dense_retriever.yaml``) and Contriever's ``--n_docs``."""

MRR_DEPTH = 10
RECALL_DEPTH = 1000


def top_k_accuracy(first_hits: np.ndarray, ks: Sequence[int] = ACCURACY_KS) -> dict[str, float]:
    """``top_{k}_accuracy`` for each k, from each question's 0-based first-hit position (-1: none found)."""
    found = first_hits >= 0
    return {f"top_{k}_accuracy": float(np.mean(found & (first_hits < k))) for k in ks}


def reciprocal_rank_at_10(ranked: Sequence[str], relevant: Sequence[str]) -> float:
    """``1 / rank`` of the first relevant of the top 10 ``ranked`` pids, 0 when none is."""
    wanted = set(relevant)
    return next((1.0 / rank for rank, pid in enumerate(ranked[:MRR_DEPTH], start=1) if pid in wanted), 0.0)


def recall_at(ranked: Sequence[str], relevant: Sequence[str], depth: int = RECALL_DEPTH) -> float:
    wanted = set(relevant)
    return len(wanted.intersection(ranked[:depth])) / len(wanted)


def msmarco_metrics(
    run: Mapping[str, Sequence[str]], qrels: Mapping[str, Sequence[str]]
) -> tuple[dict[str, float], dict[str, float]]:
    """``mrr_at_10`` and ``recall_at_1000`` over the judged queries, and each judged query's reciprocal rank.

    ``run`` maps a query to its ranked pids, best first; a judged query missing from it scores 0.
    """
    per_query = {qid: reciprocal_rank_at_10(run.get(qid, ()), relevant) for qid, relevant in qrels.items()}
    recall = [recall_at(run.get(qid, ()), relevant) for qid, relevant in qrels.items()]
    metrics = {
        "mrr_at_10": sum(per_query.values()) / len(qrels),
        f"recall_at_{RECALL_DEPTH}": float(np.mean(recall)),
    }
    return metrics, per_query
