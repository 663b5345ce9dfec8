"""Readers for the STS datasets' own file formats, with errors that name file, line and field.

STS Benchmark and SICK keep a pair per line.  SemEval (STS 2012-2016) keeps sentences and gold scores in
two parallel files per subset: ``STS.input.<subset>.txt`` (tab-separated sentence1, sentence2, and in the
2016 release two source fields after them) and ``STS.gs.<subset>.txt`` (one score per line, empty where a
pair was not scored).  The two must have the same number of lines, since pairs are matched by line number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

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


def finite_number(value: Any, label: str, line: int, field: str) -> float:
    """A finite float from a file's text or a JSON number; anything else is one error line."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DataError(label, f"field {field!r} must be a number, found {type(value).__name__}", line=line)
    try:
        number = float(value)
    except ValueError:
        raise DataError(label, f"field {field!r} is not a number: {str(value)[:40]!r}", line=line) from None
    if not math.isfinite(number):
        raise DataError(label, f"field {field!r} is not a finite number: {str(value)[:40]!r}", line=line)
    return number


def read_semeval(files: DataFiles, input_path: str, gold_path: str) -> list[ScoredPair]:
    """One SemEval subset: the pairs of ``input_path`` whose line in ``gold_path`` holds a score.

    Pairs with an empty gold line are skipped, as the SemEval scorer and SentEval
    do (STS 2015 and 2016 inputs include the unscored pairs of the shared task).
    """
    label, gold_label = files.label(input_path), files.label(gold_path)
    inputs, golds = files.lines(input_path), files.lines(gold_path)
    if len(inputs) != len(golds):
        raise DataError(
            gold_label,
            f"has {len(golds)} lines but {PurePath(label).name} has {len(inputs)}; pairs are matched by line",
        )
    pairs = []
    for number, (line, gold) in enumerate(zip(inputs, golds, strict=True), start=1):
        if not gold.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(label, f"expected sentence1<TAB>sentence2, found {len(fields)} field(s)", line=number)
        pairs.append(ScoredPair(fields[0], fields[1], finite_number(gold.strip(), gold_label, number, "score")))
    if not pairs:
        raise DataError(gold_label, "no scored pairs")
    return pairs
