"""Retrieval tasks: the public base :class:`RetrievalTask`, and BEIR-layout folders built on it.

The protocol is MTEB's (and BEIR's): queries are the split's judged queries,
documents are ``title + " " + text``; every query is scored against the whole
corpus by cosine similarity (inner product of L2-normalised embeddings) and the
top 1000 go to ``pytrec_eval`` (:mod:`.metrics`).  An encoder that ranks a
corpus itself (BM25) hands over its own top 1000 instead.  nDCG@10 is the main
score, with the full BEIR metric set alongside.  A new retrieval task is its
metadata, its files and a reader returning :class:`RetrievalData`;
:class:`RetrievalTask` does the search and the scoring.

Corpus embeddings go to a scratch file and are searched a block at a time
(:mod:`.dense_search`), so a corpus need not fit in memory.  Search is exact
unless ``$HARNESS_RETRIEVAL_INDEX`` asks for an approximate index (``ivf``,
``hnsw``); ``details["search"]`` of every result says which (``{"mode": "exact"}``,
or the index, its parameters and its recall against exact search), since
approximate scores are not the protocol's.

``beir:/path/to/folder`` turns any folder in that layout into a task; its splits
are the files in ``qrels/``.

A query's own id among the retrieved documents.  BEIR's ``EvaluateRetrieval.evaluate``
drops a retrieved document whose id equals the query's (``ignore_identical_ids``, on by
default there); MTEB keeps it unless the task sets ``ignore_identical_ids = True``
(``AbsTaskRetrieval``; the evaluator pops those documents from the top 1000 before
scoring, so a dropped one leaves 999).  The scores here are MTEB's, so each task does
what MTEB's task of that dataset does: ArguAna, FiQA-2018, Quora, FEVER and MS MARCO drop
them (``argu_ana_retrieval.py``, ``fi_qa2018_retrieval.py``, ``quora_retrieval.py``,
``fever_retrieval.py``, ``msmarco_retrieval.py`` in mteb 2.x); SciFact and the other sets,
and a ``beir:`` folder (MTEB's default), keep them.  Each task's description says which,
and ``details`` records the setting and how many retrieved documents had their query's id.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from harness import (
    Capability,
    DataError,
    DataFiles,
    DatasetFile,
    EncodeFn,
    HarnessError,
    PerExample,
    Task,
    TaskOutput,
    TaskRegister,
    TextKind,
    World,
    capabilities_of,
    hookimpl,
    local_encode,
    world_of,
)
from harness.task import task_path

from . import dense_search
from .dense_search import (
    SearchMode,
    VectorFile,
    corpus_dtype_from_env,
    embed_corpus,
    normalized,
    scratch_folder,
    search,
)
from .metrics import TOP_K, retrieval_metrics
from .readers import Corpus, read_corpus, read_qrels, read_queries

CORPUS_CHUNK_ENV = "HARNESS_CORPUS_CHUNK"
CORPUS_CHUNK = 102_400
"""Documents encoded per call (``$HARNESS_CORPUS_CHUNK`` overrides it), each chunk's vectors then written to disk:
memory holds one chunk, not the corpus.  Under torchrun a rank's corpus shard is a run of whole chunks, so each
chunk is encoded (same length-sorted batches) and searched (a multiple of faiss's 1024-row tile) exactly as in
one process."""


def corpus_chunk(world: World) -> int:
    """:data:`CORPUS_CHUNK`, or ``$HARNESS_CORPUS_CHUNK``; a bad value is a one-line error.

    Under torchrun it must be a multiple of faiss's 1024-row tile, where a shard starts.
    """
    text = os.environ.get(CORPUS_CHUNK_ENV) or str(CORPUS_CHUNK)
    tile = faiss.cvar.distance_compute_blas_database_bs
    if not text.strip().isdigit() or int(text) < 1 or (world.distributed and int(text) % tile):
        needed = f"a positive multiple of {tile}" if world.distributed else "a positive number"
        raise HarnessError(f"{CORPUS_CHUNK_ENV}={text!r}: expected {needed} (documents encoded per call)")
    return int(text)


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

    Under torchrun every rank embeds every query (the work shared, the vectors
    gathered) but only its own shard of the corpus, about equal in characters and
    made of whole :data:`CORPUS_CHUNK` runs; it searches that shard, and the ranks' lists are
    merged into the lists one process would find.
    """
    mode = SearchMode.from_env()  # a bad value fails before any encoding
    dtype = corpus_dtype_from_env()
    world = world_of(encode)
    chunk = corpus_chunk(world)
    if Capability.RANKING in capabilities_of(encode):
        ranking = encode.rank(queries, documents, TOP_K)  # type: ignore[attr-defined]
        return ranking.scores, ranking.indices, {"mode": "encoder-ranking"}
    query_vectors = normalized(encode(queries, TextKind.QUERY))
    start, stop = world.shard([len(d) for d in documents], align=chunk)
    embed = local_encode(encode)
    with scratch_folder() as folder:
        corpus: VectorFile | None = None
        error: Exception | None = None
        try:
            if stop > start:
                shard = documents[start:stop]
                corpus = embed_corpus(shard, lambda texts: embed(texts, TextKind.DOCUMENT), folder, chunk, dtype)
        except Exception as exc:  # every rank hears of it before the search's merge
            error = exc
        world.agree(error)
        outcome = search(query_vectors, corpus, TOP_K, mode, world=world, offset=start, n_documents=len(documents))
    details = outcome.details if dtype == "float32" else {**outcome.details, "corpus_dtype": dtype}
    return outcome.scores, outcome.rows, details


@dataclass(frozen=True)
class RetrievalData:
    """What a retrieval task reads: its corpus, its queries by id, and the judgements ``{query: {doc: grade}}``.

    The judged queries (the keys of ``qrels``) are the ones searched and scored; each needs a text in
    ``queries``.
    """

    corpus: Corpus
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


class RetrievalTask(Task):
    """Corpus, queries and judgements in; the search, nDCG@10 and the full metric set of :mod:`.metrics` out.

    A subclass sets ``description`` and ``splits``, and implements ``dataset_files(split)`` and
    :meth:`read`.  This class embeds queries (``TextKind.QUERY``) and documents (``DOCUMENT``), searches
    as ``$HARNESS_RETRIEVAL_INDEX`` says (or lets a ranking encoder such as BM25 rank), and scores.
    """

    family = "retrieval"
    main_metric = "ndcg_at_10"
    uses = frozenset({Capability.VECTORS, Capability.RANKING})
    ignore_identical_ids = False
    """Drop a retrieved document whose id is the query's before scoring (BEIR's and MTEB's option of that name)."""

    @abstractmethod
    def read(self, files: DataFiles, split: str) -> RetrievalData:
        """The corpus, queries and judgements of ``split``, read through ``files``."""

    def dataset_identity(self, split: str) -> dict[str, str]:
        """An approximate search, or float16 corpus vectors, is another measurement: such results are not reused.

        Exact float32 search (the default, and every result made before the options
        existed) adds nothing, so those results keep matching.
        """
        mode = SearchMode.from_env()
        dtype = corpus_dtype_from_env()
        identity = {} if dtype == "float32" else {"corpus_dtype": dtype}
        if os.environ.get(dense_search.GPU_ENV, "") in ("1", "true", "yes"):
            identity["search_device"] = "gpu"
        if mode.kind == "exact":
            return identity
        params = ",".join(f"{name}={value}" for name, value in sorted(mode.params.items()))
        return {**identity, "search": f"{mode.kind}:{params}" if params else mode.kind}

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        data = self.read(files, split)
        corpus, queries, qrels = data.corpus, data.queries, data.qrels
        missing = [q for q in qrels if q not in queries]
        if missing:
            raise HarnessError(f"task {self.name!r}: judged query {missing[0]!r} has no text ({len(missing)} such)")
        query_ids = list(qrels)
        scores, rows, search_details = top_documents(encode, [queries[q] for q in query_ids], corpus.texts)
        run = {
            q: {corpus.ids[r]: float(s) for s, r in zip(scores[i], rows[i], strict=True) if r >= 0}
            for i, q in enumerate(query_ids)
        }
        identical = sum(q in documents for q, documents in run.items())
        if self.ignore_identical_ids:
            for q, documents in run.items():
                documents.pop(q, None)
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
                "ignore_identical_ids": self.ignore_identical_ids,
                "retrieved_own_id": identical,  # queries whose top 1000 held a document with the query's id
            },
            per_example=PerExample.scores([per_query[q] for q in judged], judged),
        )


class BeirTask(RetrievalTask):
    """A BEIR-layout folder: relative to the data directory (built-ins) or absolute (user folders).

    ``dataset`` names the registry dataset whose entry pins the files (``None`` for a user's folder).
    """

    def __init__(
        self,
        folder: str,
        splits: tuple[str, ...],
        *,
        dataset: str | None = None,
        description: str = "",
        default_split: str | None = None,
        ignore_identical_ids: bool = False,
    ) -> None:
        self.folder = folder
        self.ignore_identical_ids = ignore_identical_ids
        self.splits = splits
        self.dataset = dataset
        self.default_split = default_split or ("test" if "test" in splits else splits[0])
        self.description = description or f"BEIR-layout retrieval on {folder}"

    def dataset_files(self, split: str) -> list[DatasetFile]:
        names = ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv")
        return [DatasetFile(f"{self.folder}/{name}", dataset=self.dataset) for name in names]

    def read(self, files: DataFiles, split: str) -> RetrievalData:
        corpus_file, queries_file, qrels_file = (f.path for f in self.dataset_files(split))
        qrels = read_qrels(files, qrels_file)
        queries = read_queries(files, queries_file)
        corpus = read_corpus(files, corpus_file)
        missing = [q for q in qrels if q not in queries]
        if missing:
            raise DataError(
                files.label(qrels_file), f"query id {missing[0]!r} is not in queries.jsonl ({len(missing)} such)"
            )
        return RetrievalData(corpus, queries, qrels)


def scifact() -> BeirTask:
    return BeirTask(
        "scifact",
        ("test",),
        dataset="scifact",
        description="SciFact (Wadden et al., 2020) in BEIR layout: 300 test claims, 5183 abstracts (a document "
        "with the query's id is kept, as MTEB's task does).",
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


IGNORE_IDENTICAL_IDS = frozenset({"beir-arguana", "beir-fiqa", "beir-quora", "beir-fever", "beir-msmarco"})
"""The sets whose MTEB task sets ``ignore_identical_ids = True`` (see the module docstring)."""


def beir_set(task_name: str) -> Any:
    folder, splits, description = BEIR_SETS[task_name]
    dataset = task_name.removeprefix("beir-")  # the registry's name (plugins/datasets/beir.toml)
    ignore = task_name in IGNORE_IDENTICAL_IDS
    said = "a document with the query's id is dropped" if ignore else "a document with the query's id is kept"

    def factory() -> BeirTask:
        return BeirTask(
            folder,
            splits,
            dataset=dataset,
            description=f"{description} (BEIR; {said}, as MTEB's task does).",
            default_split=splits[0],
            ignore_identical_ids=ignore,
        )

    return factory


def beir_folder(argument: str) -> BeirTask:
    folder = Path(argument).expanduser()
    if not folder.is_absolute() and not folder.exists():
        # A name relative to the data directory (--data-dir / $HARNESS_DATA_DIR), resolved at run time;
        # a missing file is then reported with every place it was looked for.
        return BeirTask(folder.as_posix(), ("test", "dev", "train"))
    if not folder.is_dir():
        raise DataError(folder, "no such folder (beir: takes a folder with corpus.jsonl, queries.jsonl, qrels/)")
    qrels_dir = folder / "qrels"
    splits = tuple(sorted(p.stem for p in qrels_dir.glob("*.tsv"))) if qrels_dir.is_dir() else ()
    if not splits:
        raise DataError(qrels_dir, "no qrels files (expected qrels/<split>.tsv, e.g. qrels/test.tsv)")
    return BeirTask(task_path(folder), splits)


@hookimpl
def harness_register_tasks(register: TaskRegister) -> None:
    register("scifact", scifact, "SciFact retrieval (BEIR), nDCG@10")
    for name, (_folder, _splits, description) in BEIR_SETS.items():
        register(name, beir_set(name), description.split(":")[0] + " retrieval (BEIR), nDCG@10")
    register("beir:", beir_folder, "any folder in BEIR layout: beir:/path/to/folder")
