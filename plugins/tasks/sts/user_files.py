"""The reader for user STS files (``sts:/path/file``): TSV, CSV or JSONL.

User files carry one scored pair per row, under a header (TSV, CSV) or as JSON
objects (JSONL), always with the fields ``sentence1``, ``sentence2`` and ``score``.
Every malformed row is reported with file, line and field, before any encoding.

Every TSV or CSV row must have the header's number of fields: a row with more is
refused, not cut to the header's columns (which would score a sentence fragment).
TSV is split at every tab and quotes are not parsed, as STS-B's own files need
(their sentences hold unbalanced quotes): a quoted field holding a tab is two
fields, and the error for such a row says so; CSV is the format for quoted fields.
Lines end at ``\n`` only (``DataFiles.lines``), so a JSON string holding U+2028 or
another Unicode line separator stays one line.
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
    suffix = user_format(path)
    text = files.text(path)
    if not text.strip():
        raise DataError(label, "empty file (expected sentence1, sentence2, score rows)", line=1)
    if suffix == ".jsonl":
        rows = json_objects(files.lines(path), label)
    elif suffix == ".tsv":
        rows = _table_rows(enumerate((line.split("\t") for line in files.lines(path)), start=1), label, suffix)
    else:
        rows = _table_rows(_csv_rows(text, label), label, suffix)
    pairs = [_user_pair(record, label, number) for number, record in rows]
    if not pairs:
        raise DataError(label, "no sentence pairs after the header", line=1)
    if len({p.score for p in pairs}) < 2:
        raise DataError(label, "every pair has the same score; a correlation needs at least two distinct scores")
    return pairs


def _table_rows(
    records: Iterator[tuple[int, list[str]]], label: str, suffix: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a TSV or CSV file (its records with their line) as dicts keyed by the header's column names.

    TSV records are split at tabs only (sentences hold unbalanced quotes, as in STS-B's
    own files); CSV follows RFC 4180 quoting through the ``csv`` module.
    """
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
        if len(row) > len(header):
            raise DataError(label, _too_many_fields(row, len(header), suffix), line=number)
        record = dict(zip(header, row, strict=True))
        if suffix == ".tsv" and not _is_number(record["score"]) and (quoting := _quoted_tab(row)):
            raise DataError(label, f"field 'score' is not a number: {record['score'][:40]!r}: {quoting}", line=number)
        yield number, record


def _too_many_fields(row: list[str], expected: int, suffix: str) -> str:
    """The message for a row longer than the header, with the likely cause: an unquoted comma, a quoted tab."""
    separator = "tab" if suffix == ".tsv" else "comma"
    cause = _quoted_tab(row) if suffix == ".tsv" else "quote a field that holds a comma"
    found = f"expected {expected} {separator}-separated fields (the header's), found {len(row)}"
    return f"{found}: {cause}" if cause else found


def _quoted_tab(row: list[str]) -> str | None:
    """Why a TSV row was misread, when a field opens a double quote that a later field closes.

    Such a row held a quoted field with a tab in it, which TSV (split at every tab,
    quotes not parsed) reads as two fields.
    """
    cells = [cell.strip() for cell in row]
    for i, cell in enumerate(cells):
        opens = cell.startswith('"') and (len(cell) == 1 or not cell.endswith('"'))
        if opens and any(later.endswith('"') for later in cells[i + 1 :]):
            return (
                f"a quoted field holds a tab (field {i + 1} opens a quote); TSV is split at every tab "
                "and quotes are not parsed: use .csv for quoted fields"
            )
    return None


def _is_number(text: str) -> bool:
    """Whether ``float`` reads ``text`` (NaN and infinity are refused later, by ``finite_number``)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


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
