"""Readers for SentEval's classification files, and for user ``train.jsonl``/``test.jsonl`` folders.

Each SentEval reader reads its files the way SentEval's loader does (file and
function named in each docstring): the same text encoding, the same line
splitting, whitespace tokenisation with ``str.split()`` and no lowercasing (the
files come lowercased or not as released).  A text is its tokens joined by single
spaces, which is what a SentEval ``batcher`` hands a sentence encoder
(``' '.join(tokens)`` in SentEval's and SimCSE's examples).  Where SentEval would
crash on a malformed line (an ``assert``, an ``IndexError``), these readers raise
a one-line :class:`DataError` naming the file, line and field instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness import DataError, DataFiles
from harness.data.jsonlines import json_objects


@dataclass(frozen=True)
class Example:
    """One sentence: its text (tokens joined by spaces), label, and token count (SentEval sorts by it)."""

    text: str
    label: int
    n_tokens: int


@dataclass(frozen=True)
class PairExample:
    """One MRPC sentence pair."""

    text_a: str
    text_b: str
    label: int
    n_tokens_a: int
    n_tokens_b: int


def _example(tokens: list[str], label: int) -> Example:
    return Example(" ".join(tokens), label, len(tokens))


def _raw_bytes(files: DataFiles, path: str) -> bytes:
    """The file's bytes: SentEval reads some files as latin-1, which ``DataFiles.text`` (UTF-8) cannot do.

    TREC's ``train_5500.label`` holds one byte that is not UTF-8 (``sister\\xf0city``).
    ``DataFiles`` has no public accessor for bytes yet, hence the private attribute.
    """
    return files.data(path)


def _universal_lines(text: str) -> list[str]:
    """Lines as ``for line in io.open(...)`` yields them: split at \\n, \\r\\n and \\r only, no trailing empty line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_sentence_lines(files: DataFiles, path: str, label: int) -> list[Example]:
    """MR, CR, SUBJ, MPQA: one sentence per line, all of one label (``senteval/binary.py``, ``loadFile``).

    SentEval decodes latin-1 and splits with ``str.splitlines()``; a blank line is kept
    as an empty sentence (CR has four, MPQA three), so the counts are SentEval's.
    """
    lines = _raw_bytes(files, path).decode("latin-1").splitlines()
    if not lines:
        raise DataError(files.label(path), "empty file: no sentences")
    return [_example(line.split(), label) for line in lines]


def _int_field(text: str, source: str, line: int, field: str, allowed: tuple[int, ...]) -> int:
    try:
        value = int(text)
    except ValueError:
        raise DataError(source, f"field {field!r} is not an integer: {text[:40]!r}", line=line) from None
    if value not in allowed:
        raise DataError(
            source, f"field {field!r} must be one of {', '.join(map(str, allowed))}, found {value}", line=line
        )
    return value


def read_sst(files: DataFiles, path: str) -> list[Example]:
    """SST-2 ``sentiment-{train,dev,test}``: ``sentence <tab> 0|1`` (``senteval/sst.py``, ``loadFile``, nclasses=2).

    UTF-8; each line is stripped and split at tabs; the sentence is field 0, the label field 1.
    """
    source = files.label(path)
    examples = []
    for number, line in enumerate(_universal_lines(files.text(path)), start=1):
        fields = line.strip().split("\t")
        if len(fields) < 2:
            raise DataError(source, "expected 'sentence<TAB>label', found no tab", line=number)
        label = _int_field(fields[1], source, number, "label", (0, 1))
        examples.append(_example(fields[0].split(), label))
    if not examples:
        raise DataError(source, "empty file: no sentences")
    return examples


TREC_CLASSES = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
"""SentEval's ``tgt2idx`` order (``senteval/trec.py``)."""


def read_trec(files: DataFiles, path: str) -> list[Example]:
    """TREC ``train_5500.label``/``TREC_10.label``: ``COARSE:fine question`` (``senteval/trec.py``, ``loadFile``).

    latin-1; the coarse class (before the first colon) is the label; the fine class
    (the first word after it) is dropped; the rest is the question.
    """
    source = files.label(path)
    examples = []
    for number, line in enumerate(_universal_lines(_raw_bytes(files, path).decode("latin-1")), start=1):
        target, colon, rest = line.strip().partition(":")
        if not colon:
            raise DataError(source, "expected 'COARSE:fine question', found no colon", line=number)
        if target not in TREC_CLASSES:
            raise DataError(
                source,
                f"field 'label': unknown coarse class {target[:20]!r} (one of {', '.join(TREC_CLASSES)})",
                line=number,
            )
        fine_and_question = rest.split(" ", 1)
        if len(fine_and_question) < 2:
            raise DataError(source, "expected a question after the fine class, found none", line=number)
        examples.append(_example(fine_and_question[1].split(), TREC_CLASSES.index(target)))
    if not examples:
        raise DataError(source, "empty file: no questions")
    return examples


def read_mrpc(files: DataFiles, path: str) -> list[PairExample]:
    """MRPC ``msr_paraphrase_{train,test}.txt`` (``senteval/mrpc.py``, ``loadFile``).

    UTF-8, a header line (skipped), then ``Quality <tab> #1 ID <tab> #2 ID <tab> #1 String <tab> #2 String``.
    """
    source = files.label(path)
    pairs = []
    for number, line in enumerate(_universal_lines(files.text(path)), start=1):
        fields = line.strip().split("\t")
        if len(fields) < 5:
            raise DataError(source, f"expected 5 tab-separated fields, found {len(fields)}", line=number)
        if number == 1:
            continue
        label = _int_field(fields[0], source, number, "Quality", (0, 1))
        a, b = fields[3].split(), fields[4].split()
        pairs.append(PairExample(" ".join(a), " ".join(b), label, len(a), len(b)))
    if not pairs:
        raise DataError(source, "no sentence pairs after the header")
    return pairs


def senteval_order(examples: list[Example]) -> list[Example]:
    """SentEval's order before the probe: a stable sort by (token count, label).

    SentEval sorts "to reduce padding", but the order also decides which examples
    the shuffled stratified folds put together, so it is kept for identical folds.
    """
    return sorted(examples, key=lambda e: (e.n_tokens, e.label))


def senteval_pair_order(pairs: list[PairExample]) -> list[PairExample]:
    """MRPC's order: a stable sort by (tokens of A, tokens of B, label)."""
    return sorted(pairs, key=lambda p: (p.n_tokens_a, p.n_tokens_b, p.label))


# ---------------------------------------------------------------------------------------------
# User folders: train.jsonl and test.jsonl
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledText:
    """One line of a user file: the text as given, the label as given (a string or an integer)."""

    text: str
    label: str | int
    line: int


def _text_field(record: dict[str, Any], source: str, number: int) -> str:
    if "text" not in record:
        raise DataError(source, "missing field 'text'", line=number)
    value = record["text"]
    if not isinstance(value, str):
        raise DataError(source, f"field 'text' must be a string, found {type(value).__name__}", line=number)
    return value


def _label_field(record: dict[str, Any], source: str, number: int) -> str | int:
    if "label" not in record:
        raise DataError(source, "missing field 'label'", line=number)
    value = record["label"]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataError(
            source, f"field 'label' must be a string or an integer, found {type(value).__name__}", line=number
        )
    return value


def read_labelled_jsonl(files: DataFiles, path: str) -> list[LabelledText]:
    """``{"text": ..., "label": ...}`` per line; blank lines are skipped; labels of one type per file."""
    source = files.label(path)
    examples: list[LabelledText] = []
    for number, record in json_objects(files.lines(path), source):
        text, label = _text_field(record, source, number), _label_field(record, source, number)
        if examples and type(label) is not type(examples[0].label):
            first = "a string" if isinstance(examples[0].label, str) else "an integer"
            raise DataError(
                source, f"field 'label' is {type(label).__name__} but line {examples[0].line}'s is {first}", line=number
            )
        examples.append(LabelledText(text, label, number))
    if not examples:
        raise DataError(source, "empty file: no examples")
    return examples
