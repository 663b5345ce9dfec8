"""Readers for the STS datasets' own file formats, with errors that name file, line and field."""

from __future__ import annotations

from dataclasses import dataclass

from harness import DataError, DataFiles


@dataclass(frozen=True)
class ScoredPair:
    sentence1: str
    sentence2: str
    score: float


def _score(text: str, label: str, line: int, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(label, f"field {field!r} is not a number: {text[:40]!r}", line=line) from None
    if value != value:  # NaN
        raise DataError(label, f"field {field!r} is NaN", line=line)
    return value


def read_stsbenchmark(files: DataFiles, path: str) -> list[ScoredPair]:
    """STS Benchmark ``sts-*.csv``: tab-separated genre, file, year, id, score, sentence1, sentence2.

    Some lines carry extra source fields after sentence2; they are ignored.  The
    file is not real CSV (sentences contain unbalanced quotes), so it is split on
    tabs only, as the dataset's own ``correlation.pl`` reads it.
    """
    label = files.label(path)
    pairs = []
    for number, line in enumerate(files.lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 7:
            raise DataError(label, f"expected at least 7 tab-separated fields, found {len(fields)}", line=number)
        pairs.append(ScoredPair(fields[5], fields[6], _score(fields[4], label, number, "score")))
    if not pairs:
        raise DataError(label, "no sentence pairs")
    return pairs


SICK_COLUMNS = ("pair_ID", "sentence_A", "sentence_B", "relatedness_score")


def read_sick(files: DataFiles, path: str) -> list[ScoredPair]:
    """SICK's release files: a header line naming the columns, then tab-separated rows."""
    label = files.label(path)
    lines = files.lines(path)
    if not lines:
        raise DataError(label, "empty file")
    header = lines[0].split("\t")
    missing = [c for c in SICK_COLUMNS if c not in header]
    if missing:
        raise DataError(label, f"header lacks column(s) {', '.join(missing)}", line=1)
    a, b, s = (header.index(c) for c in SICK_COLUMNS[1:])
    pairs = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < len(header):
            raise DataError(label, f"expected {len(header)} tab-separated fields, found {len(fields)}", line=number)
        pairs.append(ScoredPair(fields[a], fields[b], _score(fields[s], label, number, "relatedness_score")))
    if not pairs:
        raise DataError(label, "no sentence pairs")
    return pairs
