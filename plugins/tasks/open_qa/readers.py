"""Readers for DPR's question/answer and passage files and for MS MARCO's passage-ranking files.

Every malformed line is one :class:`DataError` naming the file and the line, raised before any encoding.
The fields are taken exactly as the reference code takes them (see ``tasks.py`` for the sources):

* DPR's ``*.qa.csv``: ``csv.reader(delimiter="\\t")``, the question in column 0 and a Python list literal of
  answer strings in column 1 (DPR ``eval``-s it; here :func:`ast.literal_eval`, which reads every list
  ``eval`` reads in these files and runs no code);
* DPR's ``psgs_w100.tsv``: ``csv.reader(delimiter="\\t")`` (its texts are quoted, ``""`` inside), columns
  ``id``, ``text``, ``title``, rows whose id is ``id`` (the header) skipped, as Contriever's ``load_passages``;
* MS MARCO: ``pid\\tpassage``, ``qid\\tquery`` split at the tab (no CSV quoting: passages hold bare ``"``),
  ``qid 0 pid rel`` qrels split at tabs with columns 1 and 3 ignored, ids compared as integers, as
  ``ms_marco_eval.py`` reads them.

The two corpora (13 GB, 3 GB) are read line by line from the file's bytes, never as one decoded string (which
Python would hold at up to 4 bytes a character) or a list of every line.
"""

from __future__ import annotations

import ast
import codecs
import csv
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from harness import DataError, DataFiles
from harness.plugins.tasks.retrieval.readers import Corpus


@dataclass(frozen=True)
class QaPairs:
    """Questions in file order, each with its answer strings."""

    questions: list[str]
    answers: list[list[str]]


@dataclass(frozen=True)
class Passages:
    """DPR's passages as Contriever embeds them, ``title + " " + text``, and where each text starts in it.

    The answer check reads the text alone (DPR's and Contriever's ``check_answer``), so it is sliced back out
    of the document instead of being held twice.
    """

    documents: list[str]
    text_start: array[int]

    def text(self, row: int) -> str:
        return self.documents[row][self.text_start[row] :]


def byte_lines(data: bytes, label: str) -> Iterator[str]:
    """The lines of UTF-8 ``data`` as :meth:`DataFiles.lines` cuts them (at ``\\n``, a ``\\r`` before it dropped,
    a leading byte-order mark dropped), decoded one at a time; a bad byte names its line."""
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    number = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        number += 1
        raw = data[start : end - 1] if end > start and data[end - 1] == 0x0D else data[start:end]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(label, f"not valid UTF-8 (byte {start + exc.start})", line=number) from None
        start = end + 1


def _tsv_rows(lines: Iterable[str], label: str) -> Iterator[tuple[int, list[str]]]:
    """``csv.reader(..., delimiter="\\t")`` rows with the number of their (last) line; blank lines skipped.

    Each line gets its newline back, so a quoted field that spans lines keeps it, as when DPR reads the file.
    """
    reader = csv.reader((line + "\n" for line in lines), delimiter="\t")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(label, f"not a readable tab-separated line ({exc})", line=reader.line_num) from None
        if row:
            yield reader.line_num, row


# -- DPR ---------------------------------------------------------------------------------------


def read_qa_pairs(files: DataFiles, path: str) -> QaPairs:
    """``question \\t ['answer', "answer's"]`` lines (DPR's ``nq-test.qa.csv``, ``trivia-test.qa.csv``)."""
    label = files.label(path)
    questions: list[str] = []
    answers: list[list[str]] = []
    for number, row in _tsv_rows(files.lines(path), label):
        if len(row) != 2:
            raise DataError(
                label, f"expected 2 tab-separated fields (question, answer list), found {len(row)}", line=number
            )
        questions.append(row[0])
        answers.append(_answer_list(row[1], label, number))
    if not questions:
        raise DataError(label, "no questions")
    return QaPairs(questions, answers)


def _answer_list(field: str, label: str, line: int) -> list[str]:
    """A Python list literal of strings, e.g. ``['Wilhelm Conrad Röntgen']``; anything else names the line."""
    shown = field if len(field) <= 40 else field[:37] + "..."
    try:
        value = ast.literal_eval(field)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise DataError(label, f"answer field is not a Python list literal: {shown!r}", line=line) from None
    if not isinstance(value, list):
        raise DataError(label, f"answer field must be a list of strings, found {type(value).__name__}", line=line)
    for position, answer in enumerate(value):
        if not isinstance(answer, str):
            raise DataError(
                label, f"answer field must be a list of strings, item {position} is {type(answer).__name__}", line=line
            )
    return value  # an empty list is kept: DPR counts such a question as never answered


def read_passages(files: DataFiles, path: str) -> Passages:
    """DPR's ``id \\t text \\t title`` passages (``psgs_w100.tsv``), each as ``title + " " + text``."""
    label = files.label(path)
    documents: list[str] = []
    text_start = array("l")
    for number, row in _tsv_rows(byte_lines(files.data(path), label), label):
        if row[0] == "id":  # the header, skipped wherever it is, as Contriever's load_passages does
            continue
        if len(row) != 3:
            raise DataError(label, f"expected 3 tab-separated fields (id, text, title), found {len(row)}", line=number)
        _id, text, title = row
        documents.append(f"{title} {text}")
        text_start.append(len(title) + 1)
    if not documents:
        raise DataError(label, "no passages")
    return Passages(documents, text_start)


# -- MS MARCO ----------------------------------------------------------------------------------


def _int_id(value: str, name: str, label: str, line: int) -> str:
    """An id as ``ms_marco_eval.py`` compares it (``int(...)``), written canonically."""
    try:
        return str(int(value))
    except ValueError:
        raise DataError(label, f"{name} is not an integer: {value[:20]!r}", line=line) from None


def _two_fields(line: str, names: str, label: str, number: int) -> list[str]:
    fields = line.split("\t")
    if len(fields) != 2:
        raise DataError(label, f"expected 2 tab-separated fields ({names}), found {len(fields)}", line=number)
    return fields


def read_collection(files: DataFiles, path: str) -> Corpus:
    """MS MARCO's ``collection.tsv``: ``pid \\t passage``; the passage is the document, as it is."""
    label = files.label(path)
    ids: list[str] = []
    texts: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(byte_lines(files.data(path), label), start=1):
        if not line.strip():
            continue
        pid, text = _two_fields(line, "pid, passage", label, number)
        pid = _int_id(pid, "pid", label, number)
        if pid in seen:
            raise DataError(label, f"duplicate pid {pid}", line=number)
        seen.add(pid)
        ids.append(pid)
        texts.append(text)
    if not ids:
        raise DataError(label, "empty collection: no passages")
    return Corpus(ids, texts)


def read_msmarco_queries(files: DataFiles, path: str) -> dict[str, str]:
    """``qid \\t query`` lines (``queries.dev.small.tsv``)."""
    label = files.label(path)
    queries: dict[str, str] = {}
    for number, line in enumerate(files.lines(path), start=1):
        if not line.strip():
            continue
        qid, text = _two_fields(line, "qid, query", label, number)
        qid = _int_id(qid, "qid", label, number)
        if qid in queries:
            raise DataError(label, f"duplicate qid {qid}", line=number)
        queries[qid] = text
    if not queries:
        raise DataError(label, "no queries")
    return queries


def read_msmarco_qrels(files: DataFiles, path: str) -> dict[str, list[str]]:
    """``qid \\t 0 \\t pid \\t 1`` lines (``qrels.dev.small.tsv``): each query's relevant pids, in file order.

    As ``ms_marco_eval.py`` (``load_reference_from_stream``) reads them: the line stripped, split at tabs,
    column 0 the query and column 2 a relevant passage; columns 1 and 3 are there for TREC and ignored
    (the MS MARCO README: "Please ignore columns 1 and 3").
    """
    label = files.label(path)
    qrels: dict[str, list[str]] = {}
    for number, line in enumerate(files.lines(path), start=1):
        line = line.strip()
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            spaced = " (they are separated by spaces)" if len(line.split()) == 4 else ""
            raise DataError(
                label,
                f"expected 4 tab-separated fields (qid, 0, pid, relevance: TREC qrels), found {len(fields)}{spaced}",
                line=number,
            )
        qid = _int_id(fields[0], "qid", label, number)
        pid = _int_id(fields[2], "pid", label, number)
        relevant = qrels.setdefault(qid, [])
        if pid not in relevant:
            relevant.append(pid)
    if not qrels:
        raise DataError(label, "no relevance judgements")
    return qrels
