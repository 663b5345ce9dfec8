"""The reader for user STS files (``sts:/path/file``): TSV, CSV or JSONL.

User files carry one scored pair per row, under a header (TSV, CSV) or as JSON
objects (JSONL), always with the fields ``sentence1``, ``sentence2`` and ``score``.
Every malformed row is reported with file, line and field, before any encoding.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import PurePath
from typing import Any

from harness import DataError, DataFiles
from harness.data.jsonlines import json_objects

from .readers import ScoredPair, finite_number

USER_FIELDS = ("sentence1", "sentence2", "score")
USER_FORMATS = (".tsv", ".csv", ".jsonl")


def user_format(path: str) -> str:
    """The format of a user file, from its suffix; ``DataError`` for any other suffix."""
    suffix = PurePath(path).suffix.lower()
    if suffix not in USER_FORMATS:
        raise DataError(path, f"unknown STS file format {suffix or '(no suffix)'!r}; expected .tsv, .csv or .jsonl")
    return suffix


def read_user_sts(files: DataFiles, path: str) -> list[ScoredPair]:
    """A user's STS file, by suffix: TSV or CSV under a header row, or JSONL objects."""
    label = files.label(path)
    text = files.text(path)
    if not text.strip():
        raise DataError(label, "empty file (expected sentence1, sentence2, score rows)", line=1)
    rows = (
        json_objects(text.splitlines(), label)
        if user_format(path) == ".jsonl"
        else _table_rows(text, label, user_format(path))
    )
    pairs = [_user_pair(record, label, number) for number, record in rows]
    if not pairs:
        raise DataError(label, "no sentence pairs after the header", line=1)
    if len({p.score for p in pairs}) < 2:
        raise DataError(label, "every pair has the same score; a correlation needs at least two distinct scores")
    return pairs


def _table_rows(text: str, label: str, suffix: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a TSV or CSV file as dicts keyed by the header's column names.

    TSV is split on tabs only (sentences hold unbalanced quotes, as in STS-B's own
    files); CSV follows RFC 4180 quoting through the ``csv`` module.
    """
    if suffix == ".tsv":
        records: Iterator[tuple[int, list[str]]] = (
            (number, line.split("\t")) for number, line in enumerate(text.splitlines(), start=1)
        )
    else:
        records = _csv_rows(text, label)
    number, header = next(records)
    header = [name.strip().lstrip("\ufeff") for name in header]
    missing = [name for name in USER_FIELDS if name not in header]
    if missing:
        found = ", ".join(repr(h) for h in header[:6])
        raise DataError(label, f"header lacks column(s) {', '.join(missing)} (found {found})", line=number)
    for number, row in records:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            lacking = header[len(row)]
            raise DataError(
                label, f"missing field {lacking!r} (row has {len(row)} fields, header {len(header)})", line=number
            )
        yield number, dict(zip(header, row, strict=False))


def _csv_rows(text: str, label: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on (a quoted field may span lines).

    ``strict`` makes an unclosed quote an error instead of a field that swallows
    the rest of the file.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(label, f"malformed CSV ({exc})", line=start) from None


def _user_pair(record: dict[str, Any], label: str, line: int) -> ScoredPair:
    for field in USER_FIELDS:
        if record.get(field) is None:
            raise DataError(label, f"missing field {field!r}", line=line)
    sentences = [record["sentence1"], record["sentence2"]]
    for field, value in zip(USER_FIELDS, sentences, strict=False):
        if not isinstance(value, str):
            raise DataError(label, f"field {field!r} must be a string, found {type(value).__name__}", line=line)
    return ScoredPair(sentences[0], sentences[1], finite_number(record["score"], label, line, "score"))
