"""Readers for code-search data: CodeSearchNet/CodeXGLUE ``.jsonl`` and CoSQA's retrieval files.

Every problem is reported as one :class:`DataError` naming the file, the line and
the field at fault, before any encoding starts: a malformed record found after
an hour of encoding would waste the hour.

The texts are built here, once, exactly as the reference evaluations build them
(see ``tasks.py`` for why these fields):

* CodeSearchNet: the query is ``" ".join(docstring_tokens)``, the candidate is
  ``" ".join(code_tokens)`` with line breaks inside a token (multi-line strings,
  comments) turned into spaces, as CodeBERT's ``process_data.format_str`` does;
  records without a docstring summary, duplicated code and very long functions
  are handled as CodeBERT's preprocessing does (:mod:`.preprocessing`).
* CoSQA: the query is the record's ``doc``; the candidates are the keys of
  ``code_idx_map.txt`` (raw code), identified by their integer values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness import DataError, DataFiles
from harness.data.jsonlines import json_objects

from .preprocessing import CodeSearchPairs, CsnRecord, codebert_pairs

_WHITESPACE = re.compile(r"[ \t\n\r]*")


@dataclass(frozen=True)
class CodeBase:
    """The candidates every query is ranked against, in the file's order, with their ids."""

    texts: list[str]
    position: dict[int, int]
    """Code id -> row in ``texts``."""


@dataclass(frozen=True)
class CodeQueries:
    texts: list[str]
    answers: list[int]
    """Row in the code base of each query's correct snippet."""


# -- CodeSearchNet / CodeXGLUE jsonl ---------------------------------------------------------


def _token_list(record: dict[str, Any], name: str, label: str, line: int, *, may_be_empty: bool = False) -> list[str]:
    """A required list of strings; non-empty unless ``may_be_empty`` (an empty candidate cannot be ranked)."""
    if name not in record or record[name] is None:
        raise DataError(label, f"missing field {name!r}", line=line)
    value = record[name]
    if not isinstance(value, list):
        raise DataError(label, f"field {name!r} must be a list of strings, found {_type_name(value)}", line=line)
    for position, token in enumerate(value):
        if not isinstance(token, str):
            raise DataError(
                label, f"field {name!r} must be a list of strings, item {position} is {_type_name(token)}", line=line
            )
    if not may_be_empty and not any(token.strip() for token in value):
        raise DataError(label, f"field {name!r} is empty", line=line)
    return value


def read_codesearchnet(files: DataFiles, path: str) -> CodeSearchPairs:
    """A CodeSearchNet/CodeXGLUE ``.jsonl`` file (any of the six languages): one pair per record with a summary.

    Every record is validated first (a malformed one anywhere is an error naming its line); an empty
    ``docstring_tokens`` is valid (a function without a docstring summary, skipped by
    :func:`.preprocessing.codebert_pairs`), an empty ``code_tokens`` is not (the format never has one).
    """
    label = files.label(path)
    records = [
        CsnRecord(
            index,
            _token_list(record, "docstring_tokens", label, number, may_be_empty=True),
            _token_list(record, "code_tokens", label, number),
        )
        for index, (number, record) in enumerate(json_objects(files.lines(path), label))
    ]
    return codebert_pairs(records, label)


# -- CoSQA -----------------------------------------------------------------------------------


class _LineCounter:
    """Line numbers of offsets met in increasing order, without rescanning the text each time."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._offset = 0
        self._line = 1

    def at(self, offset: int) -> int:
        if offset < self._offset:  # only on error paths that look back
            return self._text.count("\n", 0, offset) + 1
        self._line += self._text.count("\n", self._offset, offset)
        self._offset = offset
        return self._line


def _skip_space(text: str, offset: int) -> int:
    match = _WHITESPACE.match(text, offset)
    return match.end() if match else offset


def _decode_at(decoder: json.JSONDecoder, text: str, offset: int, label: str) -> tuple[Any, int]:
    try:
        return decoder.raw_decode(text, offset)
    except json.JSONDecodeError as exc:
        raise DataError(label, f"invalid JSON ({exc.msg} at column {exc.colno})", line=exc.lineno) from None


def _json_container(files: DataFiles, path: str, opener: str) -> Iterator[tuple[int, str | None, Any]]:
    """The top-level items of a JSON array (``[``) or object (``{``), each with the line it starts on.

    ``json.load`` would lose the positions, and a message saying "record 312" is
    much less use than one giving the line to open the file at.  Object keys
    come back as the middle element (``None`` for arrays).
    """
    label = files.label(path)
    text = files.text(path)
    lines = _LineCounter(text)
    decoder = json.JSONDecoder()
    closer = "]" if opener == "[" else "}"
    kind = "array" if opener == "[" else "object"
    offset = _skip_space(text, 0)
    if offset == len(text):
        raise DataError(label, "empty file")
    if text[offset] != opener:
        raise DataError(label, f"expected a JSON {kind} (starting with {opener!r})", line=lines.at(offset))
    offset = _skip_space(text, offset + 1)
    if text.startswith(closer, offset):
        offset += 1
    else:
        while True:
            start, key = offset, None
            if opener == "{":
                if not text.startswith('"', offset):
                    raise DataError(label, "invalid JSON (expected a string key)", line=lines.at(offset))
                key, offset = _decode_at(decoder, text, offset, label)
                offset = _skip_space(text, offset)
                if not text.startswith(":", offset):
                    raise DataError(label, "invalid JSON (expected ':' after a key)", line=lines.at(offset))
                offset = _skip_space(text, offset + 1)
            value, offset = _decode_at(decoder, text, offset, label)
            yield lines.at(start), key, value
            offset = _skip_space(text, offset)
            if text.startswith(",", offset):
                offset = _skip_space(text, offset + 1)
                continue
            if text.startswith(closer, offset):
                offset += 1
                break
            raise DataError(label, f"invalid JSON (expected ',' or {closer!r})", line=lines.at(offset))
    offset = _skip_space(text, offset)
    if offset != len(text):
        raise DataError(label, f"invalid JSON (extra data after the closing {closer!r})", line=lines.at(offset))


def read_code_base(files: DataFiles, path: str) -> CodeBase:
    """CoSQA's ``code_idx_map.txt``: a JSON object ``{code text: integer id}``, read in file order.

    CoCLR reads it with ``json.loads`` into a dict and embeds the keys in
    iteration order; a repeated key would silently vanish there, so it is an
    error here, as is a repeated id (two snippets both counted correct).
    """
    label = files.label(path)
    texts: list[str] = []
    position: dict[int, int] = {}
    seen: dict[str, int] = {}
    for line, code, code_id in _json_container(files, path, "{"):
        assert code is not None
        if not _is_int(code_id):
            raise DataError(
                label, f"the id of a code snippet must be an integer, found {_type_name(code_id)}", line=line
            )
        if not code.strip():
            raise DataError(label, "empty code snippet (key '')", line=line)
        if code in seen:
            raise DataError(label, f"duplicate code snippet (first at line {seen[code]})", line=line)
        if code_id in position:
            raise DataError(label, f"duplicate code id {code_id}", line=line)
        seen[code] = line
        position[code_id] = len(texts)
        texts.append(code)
    if not texts:
        raise DataError(label, "empty code base: no code snippets")
    return CodeBase(texts, position)


def read_cosqa_queries(files: DataFiles, path: str, base: CodeBase) -> CodeQueries:
    """``cosqa-retrieval-{test,dev}-500.json``: a JSON array of records with ``doc`` and ``retrieval_idx``.

    Every record is a query, whatever its ``label``: CoCLR's ``retrieval`` ranks
    all of them (all 500 carry label 1).
    """
    label = files.label(path)
    texts: list[str] = []
    answers: list[int] = []
    for line, _, record in _json_container(files, path, "["):
        if not isinstance(record, dict):
            raise DataError(label, f"expected a JSON object, found {_type_name(record)}", line=line)
        doc = _required(record, "doc", str, "a string", label, line)
        if not doc.strip():
            raise DataError(label, "field 'doc' is empty", line=line)
        answer = _required(record, "retrieval_idx", int, "an integer", label, line)
        if answer not in base.position:
            raise DataError(
                label, f"field 'retrieval_idx' is {answer}, which is not a code id of the code base", line=line
            )
        texts.append(doc)
        answers.append(base.position[answer])
    if not texts:
        raise DataError(label, "no queries")
    return CodeQueries(texts, answers)


def _required(record: dict[str, Any], name: str, kind: type, what: str, label: str, line: int) -> Any:
    if name not in record or record[name] is None:
        raise DataError(label, f"missing field {name!r}", line=line)
    value = record[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DataError(label, f"field {name!r} must be {what}, found {_type_name(value)}", line=line)
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    # Python's names, as the BEIR readers give them ("found int"), so messages read alike.
    return type(value).__name__
