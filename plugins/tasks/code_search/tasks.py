"""Code search: rank code snippets for a natural-language query; mean reciprocal rank.

The public base :class:`CodeSearchTask` takes queries, a code base and each query's
correct snippet, ranks the whole code base for every query (CoSQA's protocol
below) and scores MRR and recall at 1, 5 and 10 (:mod:`.metrics`): a new task is
its metadata, its files and a reader returning :class:`CodeSearchData`.
CodeSearchNet's batched protocol is the one built-in task that ranks otherwise.

CodeSearchNet (``csn-ruby``, ``csn-javascript``, ``csn-go``, ``csn-python``, ``csn-java``, ``csn-php``,
``codesearch:/path/to/file.jsonl``)
-----------------------------------------------------------------------------------------------------------
Each ``csn-<language>`` task reads CodeXGLUE's Code-Text filtered test split of that language
(``Code-Text/code-to-text/dataset/<language>/test.jsonl``, made by CodeXGLUE's ``preprocess.py`` from the
CodeSearchNet release; its README gives the counts in :data:`CSN_LANGUAGES`), one :class:`CodeXGlueTask`
parametrised by the language; the registry's ``codexglue-<language>`` entry says where the file comes
from and pins it by sha256 (all but Python's, for which no published digest could be found).  Records
without a docstring summary, duplicated code and very long functions are handled as CodeBERT's
preprocessing does (:mod:`.preprocessing` says how, and where each rule comes from).  The protocol is
that of the CodeSearchNet challenge's test (github/CodeSearchNet,
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

Splits: ``test`` (1000 candidates, the paper's Table 7), ``test-keep-partial``, ``test-10k`` (10000,
the paper's Table 8) and ``test-10k-keep-partial``.  Results name each pair by its record's 0-based
position in the file (``per_example.ids``).

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

from dataclasses import dataclass
from functools import partial
from pathlib import Path

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
    capabilities_of,
    hookimpl,
)
from harness.task import task_path

from .metrics import answer_ranks, batch_ranks, diagonal_ranks, rank_metrics, score_matrix, unit_rows
from .readers import read_code_base, read_codesearchnet, read_cosqa_queries

CSN_SPLITS: dict[str, tuple[int, bool]] = {
    "test": (1000, False),
    "test-keep-partial": (1000, True),
    "test-10k": (10000, False),
    "test-10k-keep-partial": (10000, True),
}
"""Split -> (candidates per batch, keep the final partial batch)."""

CSN_SHUFFLE_SEED = 0
"""``np.random.seed(0)`` in CodeSearchNet's ``model_test.py`` and CodeBERT's ``process_data.py``."""


@dataclass(frozen=True)
class CsnLanguage:
    """One CodeSearchNet language as CodeXGLUE's Code-Text README lists it."""

    name: str
    title: str
    test_pairs: int
    """The README's test count ("Data Statistic"): what the file's ``pairs_in_file`` should be."""


CSN_LANGUAGES: tuple[CsnLanguage, ...] = (
    CsnLanguage("ruby", "Ruby", 1261),
    CsnLanguage("javascript", "JavaScript", 3291),
    CsnLanguage("go", "Go", 8122),
    CsnLanguage("python", "Python", 14918),
    CsnLanguage("java", "Java", 10955),
    CsnLanguage("php", "PHP", 14014),
)
"""In the order of the paper's Tables 7 and 8."""

CSN_HELD_LOCALLY = frozenset({"ruby"})
"""Languages whose file the project's shared data holds; the others come from ``--download``."""


# -- CodeSearchNet's batches -----------------------------------------------------------------


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


@dataclass(frozen=True)
class CodeSearchData:
    """What a code-search task reads: queries, the code base they search, and each query's correct snippet.

    ``answers[i]`` is the row in ``codes`` of query ``i``'s one correct snippet.
    """

    queries: list[str]
    codes: list[str]
    answers: list[int]


class CodeSearchTask(Task):
    """Queries and a code base in; each query ranks the whole code base; MRR (main) and recall@1, 5, 10 out.

    A subclass sets ``description`` and ``splits``, and implements ``dataset_files(split)`` and
    :meth:`read`.  Queries are embedded as ``TextKind.QUERY``, code as ``DOCUMENT``, scored by cosine (or
    ranked by a ranking encoder such as BM25); a tie goes to the snippet earlier in the code base.
    """

    family = "code-search"
    main_metric = "mrr"
    uses = frozenset({Capability.VECTORS, Capability.RANKING})

    def read(self, files: DataFiles, split: str) -> CodeSearchData:
        """The queries, code base and answers of ``split``, read through ``files``."""
        raise NotImplementedError(f"{type(self).__name__} implements neither read() nor evaluate()")

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        data = self.read(files, split)
        answers = np.asarray(data.answers, dtype=np.int64)
        if (
            len(answers) != len(data.queries)
            or not len(answers)
            or answers.min() < 0
            or answers.max() >= len(data.codes)
        ):
            raise HarnessError(f"task {self.name!r}: every query needs one answer, a row of the code base")
        scores = score_matrix(encode, list(data.queries), list(data.codes))
        ranks, tied = answer_ranks(scores, answers)
        metrics = rank_metrics(ranks)
        return TaskOutput(
            metrics=metrics,
            main_score=metrics[self.main_metric],
            n_examples=len(data.queries),
            details={"code_base": len(data.codes), "tied_queries": tied},
            per_example=PerExample.scores(1.0 / np.asarray(ranks, dtype=np.float64)),
        )


class CodeSearchNetTask(CodeSearchTask):
    """One CodeSearchNet/CodeXGLUE-layout ``.jsonl`` file, searched in batches of 1000 or 10000.

    ``dataset`` names the registry dataset whose entry pins the file (``None`` for a user's file).
    """

    splits = tuple(CSN_SPLITS)
    default_split = "test"

    def __init__(
        self,
        path: str,
        *,
        dataset: str | None = None,
        description: str = "",
        shuffle_seed: int | None = CSN_SHUFFLE_SEED,
    ) -> None:
        self.path = path
        self.dataset = dataset
        self.shuffle_seed = shuffle_seed
        self.description = description or f"CodeSearchNet-protocol code search on {path}"

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return [DatasetFile(self.path, dataset=self.dataset)]

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        """CodeSearchNet's protocol: each query ranks the codes of its batch, ties counted against."""
        size, keep_partial = CSN_SPLITS[split]
        pairs = read_codesearchnet(files, self.path)  # CodeBERT's preprocessing (.preprocessing)
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
                "skipped_no_docstring_summary": pairs.skipped_no_summary,
                "duplicate_codes": pairs.duplicate_codes,
            },
            per_example=PerExample.scores(1.0 / ranks, [pairs.ids[i] for i in used]),
        )


class CodeXGlueTask(CodeSearchNetTask):
    """``csn-<language>``: CodeXGLUE's Code-Text filtered test split of one CodeSearchNet language."""

    def __init__(self, language: str) -> None:
        known = {lang.name: lang for lang in CSN_LANGUAGES}
        if language not in known:
            raise HarnessError(f"no CodeSearchNet language {language!r} (known: {', '.join(known)})")
        lang = known[language]
        self.language = lang
        super().__init__(
            f"codesearchnet_{lang.name}_codexglue/test.jsonl",
            dataset=f"codexglue-{lang.name}",
            description=(
                f"CodeSearchNet {lang.title}, CodeXGLUE-filtered test set ({lang.test_pairs} pairs): "
                "docstring-to-code MRR over batches of 1000 (or 10000) candidates."
            ),
        )


class CosqaTask(CodeSearchTask):
    """CoSQA: each query ranks the whole 6267-snippet code base (CoCLR's code search evaluation)."""

    splits = ("test", "dev")
    default_split = "test"
    description = "CoSQA code search (Huang et al., 2021): 500 web queries against 6267 Python snippets, MRR."

    def __init__(self, folder: str = "cosqa") -> None:
        self.folder = folder

    def dataset_files(self, split: str) -> list[DatasetFile]:
        # Pinned by the registry's cosqa entry (plugins/datasets/cosqa.toml).
        names = ("code_idx_map.txt", f"cosqa-retrieval-{split}-500.json")
        return [DatasetFile(f"{self.folder}/{name}", dataset="cosqa") for name in names]

    def read(self, files: DataFiles, split: str) -> CodeSearchData:
        base_file, queries_file = (f.path for f in self.dataset_files(split))
        base = read_code_base(files, base_file)
        queries = read_cosqa_queries(files, queries_file, base)
        return CodeSearchData(list(queries.texts), list(base.texts), list(queries.answers))


# -- registration ----------------------------------------------------------------------------


def csn_ruby() -> CodeXGlueTask:
    return CodeXGlueTask("ruby")


def codesearch_file(argument: str) -> CodeSearchNetTask:
    path = Path(argument).expanduser()
    if not path.is_file():
        raise DataError(path, "no such file (codesearch: takes a CodeSearchNet/CodeXGLUE .jsonl file)")
    return CodeSearchNetTask(task_path(path))


@hookimpl
def harness_register_tasks(register: TaskRegister) -> None:
    for lang in CSN_LANGUAGES:
        fetched = "" if lang.name in CSN_HELD_LOCALLY else "; --download"
        register(
            f"csn-{lang.name}",
            partial(CodeXGlueTask, lang.name),
            f"CodeSearchNet {lang.title} code search, MRR (splits: test, test-10k, *-keep-partial{fetched})",
        )
    register("codesearch:", codesearch_file, "any CodeSearchNet/CodeXGLUE .jsonl: codesearch:/path/to/file.jsonl")
    register("cosqa", CosqaTask, "CoSQA code search, 500 queries x 6267 snippets, MRR (splits: test, dev)")
