"""Retrieval on BEIR-layout folders: exact cosine search with faiss, metrics by pytrec_eval.

The protocol is MTEB's (and BEIR's): queries are the split's judged queries,
documents are ``title + " " + text``; every query is scored against the whole
corpus by cosine similarity (inner product of L2-normalised embeddings) and the
top 1000 go to ``pytrec_eval``.  An encoder that ranks a corpus itself (BM25)
hands over its own top 1000 instead.  nDCG@10 is the main score; MAP, recall,
precision and MRR at 1, 3, 5, 10, 20, 100 and 1000 come with it, each averaged
over the judged queries.  MRR@k is ``pytrec_eval``'s reciprocal rank on the run
cut to its top k.

Corpus embeddings go to a scratch file and are searched a block at a time
(:mod:`.dense_search`), so a corpus need not fit in memory.  Search is exact
unless ``$HARNESS_RETRIEVAL_INDEX`` asks for an approximate index (``ivf``,
``hnsw``); ``details["search"]`` of every result says which (``{"mode": "exact"}``,
or the index, its parameters and its recall against exact search), since
approximate scores are not the protocol's.

``beir:/path/to/folder`` turns any folder in that layout into a task; its splits
are the files in ``qrels/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytrec_eval

from harness import (
    Capability,
    DataError,
    DataFiles,
    DatasetFile,
    EncodeFn,
    PerExample,
    Task,
    TaskOutput,
    TextKind,
    capabilities_of,
    hookimpl,
)
from harness.task import task_path

from . import dense_search
from .beir_files import read_corpus, read_qrels, read_queries
from .dense_search import SearchMode, embed_corpus, normalized, scratch_folder, search

K_VALUES = (1, 3, 5, 10, 20, 100, 1000)
TOP_K = max(K_VALUES)


CORPUS_CHUNK = 100_000
"""Documents encoded at a time; each chunk's vectors go to disk, so memory holds one chunk, not the corpus."""


def exact_search(queries: np.ndarray, documents: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` documents per query by inner product, exactly (as faiss ``IndexFlatIP`` ranks them)."""
    return dense_search.exact_search(queries, np.ascontiguousarray(documents, dtype=np.float32), k)


def top_documents(
    encode: EncodeFn, queries: list[str], documents: list[str]
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Scores and corpus rows of each query's top :data:`TOP_K` documents (row -1: none), and how they were found.

    An encoder that ranks a corpus itself (BM25) does so; otherwise queries and
    documents are embedded, the corpus a chunk at a time into a scratch file, and
    searched by cosine as ``$HARNESS_RETRIEVAL_INDEX`` says (exact by default; see
    :mod:`.dense_search`).  The third value is what ``details["search"]`` records.
    """
    mode = SearchMode.from_env()  # a bad value fails before any encoding
    if Capability.RANKING in capabilities_of(encode):
        ranking = encode.rank(queries, documents, TOP_K)  # type: ignore[attr-defined]
        return ranking.scores, ranking.indices, {"mode": "encoder-ranking"}
    query_vectors = normalized(encode(queries, TextKind.QUERY))
    with scratch_folder() as folder:
        corpus = embed_corpus(documents, lambda texts: encode(texts, TextKind.DOCUMENT), folder, CORPUS_CHUNK)
        outcome = search(query_vectors, corpus, TOP_K, mode)
    return outcome.scores, outcome.rows, outcome.details


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


class RetrievalTask(Task):
    """A BEIR-layout folder: relative to the data directory (built-ins) or absolute (user folders)."""

    family = "retrieval"
    main_metric = "ndcg_at_10"
    uses = frozenset({Capability.VECTORS, Capability.RANKING})

    def __init__(
        self,
        folder: str,
        splits: tuple[str, ...],
        *,
        description: str = "",
        sha256: dict[str, str] | None = None,
        default_split: str | None = None,
    ) -> None:
        self.folder = folder
        self.splits = splits
        self.default_split = default_split or ("test" if "test" in splits else splits[0])
        self.description = description or f"BEIR-layout retrieval on {folder}"
        self._sha256 = sha256 or {}

    def _file(self, name: str) -> DatasetFile:
        path = f"{self.folder}/{name}"
        return DatasetFile(path, self._sha256.get(name))

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return [self._file("corpus.jsonl"), self._file("queries.jsonl"), self._file(f"qrels/{split}.tsv")]

    def dataset_identity(self, split: str) -> dict[str, str]:
        """An approximate search is another measurement: results made with another index are not reused.

        Exact search (the default, and every result made before the option
        existed) adds nothing, so those results keep matching.
        """
        mode = SearchMode.from_env()
        if mode.kind == "exact":
            return {}
        params = ",".join(f"{name}={value}" for name, value in sorted(mode.params.items()))
        return {"search": f"{mode.kind}:{params}" if params else mode.kind}

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        corpus_file, queries_file, qrels_file = (f.path for f in self.dataset_files(split))
        qrels = read_qrels(files, qrels_file)
        queries = read_queries(files, queries_file)
        corpus = read_corpus(files, corpus_file)
        missing = [q for q in qrels if q not in queries]
        if missing:
            raise DataError(
                files.label(qrels_file), f"query id {missing[0]!r} is not in queries.jsonl ({len(missing)} such)"
            )
        query_ids = list(qrels)
        scores, rows, search_details = top_documents(encode, [queries[q] for q in query_ids], corpus.texts)
        run = {
            q: {corpus.ids[r]: float(s) for s, r in zip(scores[i], rows[i], strict=True) if r >= 0}
            for i, q in enumerate(query_ids)
        }
        per_query: dict[str, float] = {}
        metrics = retrieval_metrics(run, qrels, per_query)
        judged = sorted(per_query)
        return TaskOutput(
            metrics=metrics,
            main_score=metrics[self.main_metric],
            n_examples=len(query_ids),
            details={
                "corpus_size": len(corpus.ids),
                "search": search_details,
                # Kept as MTEB and BEIR keep them (ArguAna's qrels name a missing document): said, not hidden.
                "qrels_unknown_documents": len({d for judged in qrels.values() for d in judged} - set(corpus.ids)),
                "queries_without_relevant": sum(not any(r > 0 for r in judged.values()) for judged in qrels.values()),
            },
            per_example=PerExample.scores([per_query[q] for q in judged], judged),
        )


SCIFACT_SHA256 = {
    "corpus.jsonl": "dec31c8182f3d744c7d2c09423756fd1d17cbef75808db13ba01cc0aab4d1ac6",
    "queries.jsonl": "8ff84a7c903f722981cd8d595c022660140c51867b27608a6d4910db86080313",
    "qrels/test.tsv": "0864bb985e0ca2367ba217977e72004d549054b2b06666ed9d4825ac7c21284c",
}


def scifact(_argument: str | None) -> RetrievalTask:
    return RetrievalTask(
        "scifact",
        ("test",),
        description="SciFact (Wadden et al., 2020) in BEIR layout: 300 test claims, 5183 abstracts.",
        sha256=SCIFACT_SHA256,
    )


BEIR_SETS: dict[str, tuple[str, tuple[str, ...], str]] = {
    # task name: (folder in the data root, splits (the default first), description)
    "beir-trec-covid": ("trec-covid", ("test",), "TREC-COVID: 50 queries, 171K CORD-19 abstracts"),
    "beir-nfcorpus": ("nfcorpus", ("test", "dev", "train"), "NFCorpus: 323 nutrition queries, 3.6K documents"),
    "beir-fiqa": ("fiqa", ("test", "dev", "train"), "FiQA-2018: 648 financial questions, 57K answers"),
    "beir-arguana": ("arguana", ("test",), "ArguAna: 1406 arguments, 8.7K counter-arguments"),
    "beir-touche2020": ("webis-touche2020", ("test",), "Touche-2020 (v2): 49 queries, 382K arguments"),
    "beir-dbpedia-entity": ("dbpedia-entity", ("test", "dev"), "DBPedia-Entity: 400 queries, 4.6M entities"),
    "beir-quora": ("quora", ("test", "dev"), "Quora duplicates: 10K questions, 523K questions"),
    "beir-climate-fever": ("climate-fever", ("test",), "Climate-FEVER: 1535 claims, 5.4M Wikipedia abstracts"),
    "beir-fever": ("fever", ("test", "dev", "train"), "FEVER: 6666 claims, 5.4M Wikipedia abstracts"),
    "beir-hotpotqa": ("hotpotqa", ("test", "dev", "train"), "HotpotQA: 7405 questions, 5.2M Wikipedia passages"),
    "beir-nq": ("nq", ("test",), "Natural Questions: 3452 questions, 2.7M Wikipedia passages"),
    "beir-msmarco": (
        "msmarco",
        ("dev", "test", "train"),
        "MS MARCO passage (dev, as BEIR and MTEB): 6980 queries, 8.8M",
    ),
}
"""The BEIR sets of the cpt paper's Table 6 (with ``scifact``) plus NQ and MS MARCO, in BEIR layout under the
data root; ``harness data fetch NAME`` (or ``--download``) installs each from its canonical zip."""


def beir_set(task_name: str) -> Any:
    folder, splits, description = BEIR_SETS[task_name]

    def factory(_argument: str | None) -> RetrievalTask:
        return RetrievalTask(folder, splits, description=f"{description} (BEIR).", default_split=splits[0])

    return factory


def beir_folder(argument: str | None) -> RetrievalTask:
    assert argument is not None
    folder = Path(argument).expanduser()
    if not folder.is_absolute() and not folder.exists():
        # A name relative to the data directory (--data-dir / $HARNESS_DATA_DIR), resolved at run time;
        # a missing file is then reported with every place it was looked for.
        return RetrievalTask(folder.as_posix(), ("test", "dev", "train"))
    if not folder.is_dir():
        raise DataError(folder, "no such folder (beir: takes a folder with corpus.jsonl, queries.jsonl, qrels/)")
    qrels_dir = folder / "qrels"
    splits = tuple(sorted(p.stem for p in qrels_dir.glob("*.tsv"))) if qrels_dir.is_dir() else ()
    if not splits:
        raise DataError(qrels_dir, "no qrels files (expected qrels/<split>.tsv, e.g. qrels/test.tsv)")
    return RetrievalTask(task_path(folder), splits)


@hookimpl
def harness_register_tasks(register: Any) -> None:
    register("scifact", scifact, "SciFact retrieval (BEIR), nDCG@10")
    for name, (_folder, _splits, description) in BEIR_SETS.items():
        register(name, beir_set(name), description.split(":")[0] + " retrieval (BEIR), nDCG@10")
    register("beir:", beir_folder, "any folder in BEIR layout: beir:/path/to/folder")
