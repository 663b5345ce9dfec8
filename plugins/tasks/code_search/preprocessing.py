"""How CodeSearchNet records become (docstring, code) pairs: CodeBERT's preprocessing, rule by rule.

The records are what :func:`.readers.read_codesearchnet` validated, in file order.  Each rule below is the
reference's, with the file and function it comes from:

* **The texts.**  The query is ``" ".join(docstring_tokens)``, the candidate ``" ".join(code_tokens)`` with
  ``\\r\\n``, ``\\r`` and ``\\n`` inside a token made one space each: CodeBERT's ``codesearch/process_data.py``,
  ``preprocess_test_data`` (``doc_token``, ``code_token``) and ``format_str``.
* **A record with no docstring summary is not a pair, and is skipped.**  ``docstring_tokens`` is the tokenised
  docstring *summary* (github/CodeSearchNet ``function_parser/process.py``, ``extract_function_data``:
  ``tokenize_docstring(docstring_summary)``); the CodeSearchNet corpus holds only functions that have one
  (CodeSearchNet paper, section 2.2: pairs whose documentation is shorter than three tokens are removed;
  CodeBERT paper, appendix A; CodeXGLUE's Code-Text README: "#tokens of documents is < 3 or >256" removed), so
  ``preprocess_test_data`` never meets one.  A file that also holds functions without one (the raw release's
  ``*_dedupe_definitions`` are such functions) is read as the corpus builder would have left it: those records
  are dropped *before* the seeded shuffle, so the batches are those of the file without them, and
  ``details.skipped_no_docstring_summary`` counts them.  (CodeSearchNet's own ``model_test.py`` instead gives
  an unrepresentable sample a random vector, which would make the score depend on chance.)  Only the empty
  summary is skipped: one of one or two tokens is still a pair, and ranked, as ``preprocess_test_data`` ranks
  every line it is given; the three-token rule belongs to building the corpus, not to evaluating it.
* **Duplicated code is kept.**  Near-duplicate functions are removed when the corpus is built, before it is
  split (github/CodeSearchNet ``src/dataextraction/dedup_split.py``, ``remove_duplicate_code_df``);
  ``preprocess_test_data`` does no deduplication of its own: every line is one pair, identified by its
  position, and the correct code of query ``i`` is candidate ``i`` of its batch (CodeBERT ``mrr.py``:
  ``batch_data[batch_idx]``).  Two equal candidates in one batch get equal scores, and the tie counts against
  the model (``np.sum(scores >= correct_score)``), for both queries.  ``details.duplicate_codes`` counts the
  pairs whose candidate text equals an earlier pair's.
* **Very long functions are not truncated here.**  ``preprocess_test_data`` writes the whole function; the
  cut is the model's, at its own input length (CodeBERT ``run_classifier.py --max_seq_length 200``, through
  ``utils.convert_examples_to_features`` and ``_truncate_seq_pair``; CodeSearchNet's ``code_max_num_tokens``
  of 200 and ``query_max_num_tokens`` of 30, ``src/models/model.py``; GraphCodeBERT ``--code_length 256``).
  Every encoder here truncates (or not) at its own maximum, so each model sees what it would see in its own
  paper's evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness import DataError


@dataclass(frozen=True)
class CsnRecord:
    """One validated line of a CodeSearchNet/CodeXGLUE file: its place among the file's records and its tokens."""

    index: int
    docstring_tokens: list[str]
    code_tokens: list[str]


@dataclass(frozen=True)
class CodeSearchPairs:
    """(docstring, code) pairs in file order; pair ``i`` is query ``i`` and its one correct code."""

    queries: list[str]
    codes: list[str]
    ids: list[str]
    """Each pair's record: its 0-based position among the file's records (skipped ones included)."""
    skipped_no_summary: int = 0
    duplicate_codes: int = 0


def one_line(token: str) -> str:
    """CodeBERT's ``process_data.format_str``: ``\\r\\n``, ``\\r`` and ``\\n`` each become one space."""
    for newline in ("\r\n", "\r", "\n"):
        token = token.replace(newline, " ")
    return token


def has_summary(docstring_tokens: list[str]) -> bool:
    """Whether the tokenised docstring summary has any text (the corpus holds no pair without one)."""
    return any(token.strip() for token in docstring_tokens)


def codebert_pairs(records: Iterable[CsnRecord], label: str) -> CodeSearchPairs:
    """The pairs CodeBERT's ``preprocess_test_data`` would rank, by the rules of the module docstring."""
    queries: list[str] = []
    codes: list[str] = []
    ids: list[str] = []
    skipped = 0
    seen: set[str] = set()
    duplicates = 0
    for record in records:
        if not has_summary(record.docstring_tokens):
            skipped += 1
            continue
        code = " ".join(one_line(token) for token in record.code_tokens)
        duplicates += code in seen
        seen.add(code)
        queries.append(" ".join(record.docstring_tokens))
        codes.append(code)
        ids.append(str(record.index))
    if skipped and not queries:
        raise DataError(
            label, f"no (docstring, code) pairs: all {skipped} record(s) have an empty docstring_tokens (no summary)"
        )
    if not queries:
        raise DataError(label, "empty file: no (docstring, code) pairs")
    return CodeSearchPairs(queries, codes, ids, skipped, duplicates)
