"""Readers for the BEIR folder layout: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

Every malformed line is reported with its file and line number and the field at
fault, before any encoding starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness import DataError, DataFiles
from harness.data.jsonlines import json_objects


@dataclass(frozen=True)
class Corpus:
    ids: list[str]
    texts: list[str]
    """Each document as MTEB embeds it: ``title + " " + text``, stripped, or the text alone."""


def _field(record: dict[str, Any], name: str, label: str, line: int, *, required: bool = True) -> str:
    if name not in record or record[name] is None:
        if required:
            raise DataError(label, f"missing field {name!r}", line=line)
        return ""
    value = record[name]
    if name == "_id" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise DataError(label, f"field {name!r} must be a string, found {type(value).__name__}", line=line)
    return value


def read_corpus(files: DataFiles, path: str) -> Corpus:
    label = files.label(path)
    ids: list[str] = []
    texts: list[str] = []
    seen: set[str] = set()
    for number, record in json_objects(files.lines(path), files.label(path)):
        doc_id = _field(record, "_id", label, number)
        if doc_id in seen:
            raise DataError(label, f"duplicate document id {doc_id!r}", line=number)
        seen.add(doc_id)
        title = _field(record, "title", label, number, required=False)
        text = _field(record, "text", label, number)
        ids.append(doc_id)
        texts.append(f"{title} {text}".strip() if title else text.strip())
    if not ids:
        raise DataError(label, "empty corpus: no documents")
    return Corpus(ids, texts)


def read_queries(files: DataFiles, path: str) -> dict[str, str]:
    label = files.label(path)
    queries: dict[str, str] = {}
    for number, record in json_objects(files.lines(path), files.label(path)):
        query_id = _field(record, "_id", label, number)
        if query_id in queries:
            raise DataError(label, f"duplicate query id {query_id!r}", line=number)
        queries[query_id] = _field(record, "text", label, number)
    if not queries:
        raise DataError(label, "no queries")
    return queries


def read_qrels(files: DataFiles, path: str) -> dict[str, dict[str, int]]:
    """``query-id <tab> corpus-id <tab> score`` lines, with an optional header line.

    The score is an integer relevance grade, as pytrec_eval, BEIR and MTEB take it;
    a fraction is refused rather than truncated (0.5 would silently count as not
    relevant), while an integer written as a float ("1.0") is that integer.
    """
    label = files.label(path)
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(files.lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if number == 1 and fields[0].strip().lower() in {"query-id", "query_id", "qid"}:
            continue
        if len(fields) != 3:
            raise DataError(label, _qrels_shape_fault(line, len(fields)), line=number)
        query_id, doc_id, score = (f.strip() for f in fields)
        qrels.setdefault(query_id, {})[doc_id] = _relevance(score, label, number)
    if not qrels:
        raise DataError(label, "no relevance judgements")
    return qrels


def _qrels_shape_fault(line: str, n_fields: int) -> str:
    """The message for a qrels line without 3 tab-separated fields, naming the likely other format."""
    found = f"expected 3 tab-separated fields (query-id, corpus-id, score), found {n_fields}"
    words = len(line.split())
    if 4 in (n_fields, words):
        return f"{found}: TREC qrels have 4 columns (query, iteration, doc, relevance), BEIR's have 3"
    if n_fields < 3 and words == 3:
        return f"{found}: the fields are separated by spaces, BEIR's by tabs"
    return found


def _relevance(score: str, label: str, line: int) -> int:
    """An integer relevance grade from a qrels score ("1", also "1.0"); a fraction or NaN is an error."""
    try:
        return int(score)
    except ValueError:
        pass
    try:
        value = float(score)
    except ValueError:
        raise DataError(label, f"field 'score' is not a number: {score[:20]!r}", line=line) from None
    if not value.is_integer():
        raise DataError(
            label,
            f"field 'score' is {score[:20]}, not an integer grade (pytrec_eval, BEIR and MTEB take integer relevance)",
            line=line,
        )
    return int(value)
