"""Code search: rank code snippets for a natural-language query; mean reciprocal rank.

CodeSearchNet (``csn-ruby``, ``codesearch:/path/to/file.jsonl``)
------------------------------------------------------------------
The protocol of the CodeSearchNet challenge's test (github/CodeSearchNet,
``src/model_test.py``, ``MrrSearchTester.evaluate``, test batch size 1000 from
``src/test.py``), which CodeBERT's ``codesearch/process_data.py`` and ``mrr.py``
reproduce ("999 distractor codes") and the cpt paper's Tables 7 and 8 report:

* Order.  The pairs are permuted before batching by ``np.random.seed(0);
  np.random.shuffle(idxs)`` (model_test.py ``evaluate``; the same two lines in
  CodeBERT's ``preprocess_test_data``), so a batch is *not* a run of consecutive
  lines.  NumPy's legacy ``RandomState`` stream is frozen, so the permutation is
  ``RandomState(0).permutation(n)`` on any NumPy.  ``CodeSearchNetTask(...,
  shuffle_seed=None)`` gives file order instead.
* Batches.  ``chunked(data, 1000)``; a final batch shorter than the others is
  dropped ("the last batch is smaller than the others, exclude").  When the
  whole set is smaller than one batch, CodeSearchNet shrinks the batch to the
  set ("adjusting batch size to equal data size"), so it is one batch of
  everything: that is what ``test-10k`` means on Ruby's 1261 pairs (one batch,
  1260 distractors), and on any file under 1000 pairs for ``test``.
* Rank.  The number of candidates of the batch scoring at least as high as
  the correct one, the correct one included (CodeSearchNet: ``distances <=
  correct_elements``; CodeBERT: ``np.sum(scores >= correct_score)``), so ties
  count against the model.  Each docstring ranks the codes of its batch, as in
  CodeBERT's ``mrr.py`` and in CodeSearchNet's own training/validation MRR
  (``src/models/model.py``, ``_make_loss``: query-by-code logits, row-wise).
  (``model_test.compute_ranks`` is called with the code vectors first, so it
  ranks the queries for each code; with cosine the matrix is the transpose of
  ours and the two directions give slightly different numbers.)
* Score.  Cosine similarity (``--distance-metric cosine``, the default), in
  float64.  MRR is the mean of ``1 / rank`` over the ranked queries; with equal
  batches that is CodeSearchNet's mean of per-batch means.  A kept partial batch
  (``*-keep-partial`` splits) counts per query.
* Texts.  The query is ``" ".join(docstring_tokens)`` and the candidate
  ``" ".join(code_tokens)`` (newlines inside a token made spaces), CodeBERT's
  exact strings.  ``docstring_tokens`` is the tokenised *summary* of the
  docstring (function_parser ``process.py``: ``tokenize_docstring(
  docstring_summary)``, the text before the first blank line or ``@``), which
  CodeSearchNet queries with (``model.py``: ``[d.lower() for d in
  raw_sample['docstring_tokens']]``); the raw ``docstring`` carries ``@param``
  and ``@return`` blocks naming the code's identifiers, an answer leak.
  ``code_tokens`` is the function with its docstring removed, for every
  language (function_parser ``python_parser.py``: ``tokenize_code(function_node,
  blob, {docstring_node})``), while the ``code`` field of Python files still
  contains the docstring.  CodeSearchNet lower-cases query tokens only to look
  them up in its own lower-cased vocabulary; the encoders here bring their own
  tokenisers, so case is kept, as CodeBERT keeps it.

Splits: ``test`` (1000 candidates), ``test-keep-partial``, ``test-10k`` (10000,
the paper's Table 8) and ``test-10k-keep-partial``.

CoSQA (``cosqa``)
-----------------
CoCLR's ``code_search/run_siamese_test.py`` (``retrieval``, run with ``--code_type
code``): the 6267 snippets of ``code_idx_map.txt`` (``json.loads``: raw code text
-> id, embedded in file order) are ranked for each of the 500 queries (``doc``) of
``cosqa-retrieval-test-500.json``; the correct snippet is ``retrieval_idx``; the
reciprocal rank is ``1 / (rank.index(retrieval_idx) + 1)`` with ``rank =
torch.argsort(-scores[idx])``, averaged over all 500 queries, no cut-off.  CoCLR
indexes the ranking by the id, which works because the ids are the positions
0..6266; here ids are mapped to positions.  CoCLR scores pairs with its trained
MLP; an embedding model scores them by cosine.  Ties: torch's default sort is
not stable, so CoCLR leaves them unspecified; here a tie goes to the snippet
earlier in the code base (a stable sort), and ``details.tied_queries`` says
whether any tie arose.  Splits: ``test``, and ``dev`` (the 500 dev queries CoCLR
selects checkpoints on, same code base).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

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

from .code_search_files import read_code_base, read_codesearchnet, read_cosqa_queries

RECALL_KS = (1, 5, 10)

CSN_SPLITS: dict[str, tuple[int, bool]] = {
    "test": (1000, False),
    "test-keep-partial": (1000, True),
    "test-10k": (10000, False),
    "test-10k-keep-partial": (10000, True),
}
"""Split -> (candidates per batch, keep the final partial batch)."""

CSN_SHUFFLE_SEED = 0
"""``np.random.seed(0)`` in CodeSearchNet's ``model_test.py`` and CodeBERT's ``process_data.py``."""

CSN_RUBY_SHA256 = "fb0b4bfdf5bcecea6ddcb31f53daf3bfa38f4db73d3ab6e820a20335c5ebd3c2"
COSQA_SHA256 = {
    "code_idx_map.txt": "be8a910ca03cb9f1b38a0eba6dc8109eeb8040a40aaba1a467a7b8426d261f3f",
    "cosqa-retrieval-test-500.json": "27d3552b2e7dd86cf9f9a0b3c135e6777d4faafa9c29fb1b9b01ece945974ad6",
    "cosqa-retrieval-dev-500.json": "ccdfffee7ae1f1cf1a0406566a61c984f4fbce678c8ea108eedd03d11bff9518",
}


# -- ranking ---------------------------------------------------------------------------------


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


def csn_order(n: int, seed: int | None) -> np.ndarray:
    """The order pairs are batched in: CodeSearchNet's seeded permutation, or file order for ``None``."""
    if seed is None:
        return np.arange(n)
    return np.random.RandomState(seed).permutation(n)


def csn_batches(n: int, size: int, keep_partial: bool) -> list[slice]:
    """Consecutive batches of ``size`` over ``n`` ordered pairs, the CodeSearchNet way.

    A set smaller than one batch is one batch of everything; otherwise a short
    final batch is dropped unless ``keep_partial``.
    """
    size = min(size, n)
    full = n // size * size
    batches = [slice(start, start + size) for start in range(0, full, size)]
    if keep_partial and full < n:
        batches.append(slice(full, n))
    return batches


# -- tasks -----------------------------------------------------------------------------------


class CodeSearchNetTask(Task):
    """One CodeSearchNet/CodeXGLUE-layout ``.jsonl`` file, searched in batches of 1000 or 10000."""

    family = "code-search"
    main_metric = "mrr"
    uses = frozenset({Capability.VECTORS, Capability.RANKING})
    splits = tuple(CSN_SPLITS)
    default_split = "test"

    def __init__(
        self,
        path: str,
        *,
        sha256: str | None = None,
        description: str = "",
        shuffle_seed: int | None = CSN_SHUFFLE_SEED,
    ) -> None:
        self.path = path
        self._sha256 = sha256
        self.shuffle_seed = shuffle_seed
        self.description = description or f"CodeSearchNet-protocol code search on {path}"

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return [DatasetFile(self.path, self._sha256)]

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        size, keep_partial = CSN_SPLITS[split]
        pairs = read_codesearchnet(files, self.path)
        n = len(pairs.queries)
        batches = csn_batches(n, size, keep_partial)
        used = csn_order(n, self.shuffle_seed)[: batches[-1].stop]
        # Only the pairs that are ranked are encoded: the dropped tail costs nothing.
        queries = [pairs.queries[i] for i in used]
        codes = [pairs.codes[i] for i in used]
        if Capability.RANKING in capabilities_of(encode):
            ranked = [diagonal_ranks(score_matrix(encode, queries[b], codes[b])) for b in batches]
        else:  # one encoding pass over every batch
            query_vectors = unit_rows(encode(queries, TextKind.QUERY))
            code_vectors = unit_rows(encode(codes, TextKind.DOCUMENT))
            ranked = [batch_ranks(query_vectors[b], code_vectors[b]) for b in batches]
        ranks = np.concatenate([r for r, _ in ranked])
        metrics = rank_metrics(ranks)
        return TaskOutput(
            metrics=metrics,
            main_score=metrics[self.main_metric],
            n_examples=len(used),
            details={
                "pairs_in_file": n,
                "pairs_dropped": n - len(used),
                "batches": len(batches),
                "candidates_per_batch": sorted({b.stop - b.start for b in batches}, reverse=True),
                "order": "file" if self.shuffle_seed is None else f"numpy RandomState({self.shuffle_seed}).permutation",
                "tied_queries": sum(tied for _, tied in ranked),
            },
            per_example=PerExample.scores(1.0 / ranks, [str(int(i)) for i in used]),
        )


class CosqaTask(Task):
    """CoSQA: each query ranks the whole 6267-snippet code base (CoCLR's code search evaluation)."""

    family = "code-search"
    main_metric = "mrr"
    uses = frozenset({Capability.VECTORS, Capability.RANKING})
    splits = ("test", "dev")
    default_split = "test"
    description = "CoSQA code search (Huang et al., 2021): 500 web queries against 6267 Python snippets, MRR."

    def __init__(self, folder: str = "cosqa") -> None:
        self.folder = folder

    def _file(self, name: str) -> DatasetFile:
        return DatasetFile(f"{self.folder}/{name}", COSQA_SHA256.get(name))

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return [self._file("code_idx_map.txt"), self._file(f"cosqa-retrieval-{split}-500.json")]

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        base_file, queries_file = (f.path for f in self.dataset_files(split))
        base = read_code_base(files, base_file)
        queries = read_cosqa_queries(files, queries_file, base)
        scores = score_matrix(encode, list(queries.texts), list(base.texts))
        ranks, tied = answer_ranks(scores, np.asarray(queries.answers))
        metrics = rank_metrics(ranks)
        return TaskOutput(
            metrics=metrics,
            main_score=metrics[self.main_metric],
            n_examples=len(queries.texts),
            details={"code_base": len(base.texts), "tied_queries": tied},
            per_example=PerExample.scores(1.0 / np.asarray(ranks, dtype=np.float64)),
        )


# -- registration ----------------------------------------------------------------------------


def csn_ruby(_argument: str | None) -> CodeSearchNetTask:
    return CodeSearchNetTask(
        "codesearchnet_ruby_codexglue/test.jsonl",
        sha256=CSN_RUBY_SHA256,
        description=(
            "CodeSearchNet Ruby, CodeXGLUE-filtered test set (1261 pairs): docstring-to-code MRR "
            "over batches of 1000 (or 10000) candidates."
        ),
    )


def codesearch_file(argument: str | None) -> CodeSearchNetTask:
    assert argument is not None
    path = Path(argument).expanduser()
    if not path.is_file():
        raise DataError(path, "no such file (codesearch: takes a CodeSearchNet/CodeXGLUE .jsonl file)")
    return CodeSearchNetTask(task_path(path))


def cosqa(_argument: str | None) -> CosqaTask:
    return CosqaTask()


@hookimpl
def harness_register_tasks(register: Any) -> None:
    register("csn-ruby", csn_ruby, "CodeSearchNet Ruby code search, MRR (splits: test, test-10k, *-keep-partial)")
    register("codesearch:", codesearch_file, "any CodeSearchNet/CodeXGLUE .jsonl: codesearch:/path/to/file.jsonl")
    register("cosqa", cosqa, "CoSQA code search, 500 queries x 6267 snippets, MRR (splits: test, dev)")
