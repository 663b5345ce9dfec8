"""The training-pair format: JSON lines of ``{"x": str, "y": str}`` positives.

cpt-text is pre-trained on neighbouring pieces of text and cpt-code on
(docstring, implementation) pairs; both reduce to one positive pair per line,
where ``y`` is the text the contrastive loss must pick for ``x`` among the
in-batch ``y`` of other pairs.  Optional fields:

``negatives``
    hard negatives for ``y`` (e.g. NLI contradictions, as in the paper's
    fine-tuning).  Either no line has them or every line has the same number,
    because a batch of pairs is encoded as one rectangular ``[batch, 1 + k]``
    block of candidates; a ragged file would fail deep inside training.
``source``
    free text saying where the pair came from (``file:line``), for tracing a
    bad pair back to its origin; training ignores it.

Any other field is an error, so a typo such as ``"negative"`` cannot silently
train without the hard negatives it was meant to carry.  Every error names the
file, the line and the field, and the whole file is checked before training
starts.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.data.jsonlines import utf8_lines
from harness.errors import DataError
from harness.file_modes import file_mode
from harness.results.files import fsync_dir

FIELDS = ("x", "y", "negatives", "source")


@dataclass(frozen=True)
class Pair:
    """One positive pair, with optional hard negatives for ``y``.

    ``source`` says where the pair came from; it takes no part in equality, so
    the same pair mined from two places is still one pair.
    """

    x: str
    y: str
    negatives: tuple[str, ...] = ()
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # A list passed by a caller would make the frozen pair unhashable.
        if not isinstance(self.negatives, tuple):
            object.__setattr__(self, "negatives", tuple(self.negatives))

    def to_record(self) -> dict[str, Any]:
        """The JSON object of one line; empty optional fields are left out."""
        record: dict[str, Any] = {"x": self.x, "y": self.y}
        if self.negatives:
            record["negatives"] = list(self.negatives)
        if self.source is not None:
            record["source"] = self.source
        return record


class _RecordError(ValueError):
    """A malformed record; the caller adds the file and line."""


def _text(record: Mapping[str, Any], name: str) -> str:
    if name not in record or record[name] is None:
        raise _RecordError(f"missing field {name!r}")
    return _non_blank(record[name], name)


def _non_blank(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _RecordError(f"field {name!r} must be a string, found {_json_type(value)}")
    if not value.strip():
        raise _RecordError(f"field {name!r} is empty" if not value else f"field {name!r} is only whitespace")
    return value


def pair_from_record(record: Any) -> Pair:
    """Check one JSON object against the format; raises ``ValueError`` naming the field at fault."""
    if not isinstance(record, Mapping):
        raise _RecordError(f"expected a JSON object, found {_json_type(record)}")
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        raise _RecordError(f"unknown field {unknown[0]!r} (expected {', '.join(FIELDS)})")
    x = _text(record, "x")
    y = _text(record, "y")
    negatives: tuple[str, ...] = ()
    raw = record.get("negatives")
    if raw is not None:
        if not isinstance(raw, list):
            raise _RecordError(f"field 'negatives' must be a list of strings, found {_json_type(raw)}")
        negatives = tuple(_non_blank(item, f"negatives[{i}]") for i, item in enumerate(raw))
    source = record.get("source")
    if source is not None and not isinstance(source, str):
        raise _RecordError(f"field 'source' must be a string, found {_json_type(source)}")
    return Pair(x, y, negatives, source)


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def read_pairs(path: str | os.PathLike[str]) -> list[Pair]:
    """Read and check a whole pairs file; blank lines are allowed, anything malformed is a ``DataError``."""
    label = str(path)
    try:
        handle = open(path, "rb")  # bytes, so a bad byte is reported with its line
    except FileNotFoundError:
        raise DataError(label, "no such file") from None
    except OSError as exc:
        raise DataError(label, f"cannot read: {exc.strerror or exc}") from None
    pairs: list[Pair] = []
    first_line = 0
    with handle:
        for number, line in utf8_lines(handle, label):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(label, f"invalid JSON ({exc.msg} at column {exc.colno})", number) from None
            try:
                pair = pair_from_record(record)
            except _RecordError as exc:
                raise DataError(label, str(exc), number) from None
            if not pairs:
                first_line = number
            elif len(pair.negatives) != len(pairs[0].negatives):
                raise DataError(
                    label, _ragged(len(pair.negatives), len(pairs[0].negatives), f"line {first_line}"), number
                )
            pairs.append(pair)
    if not pairs:
        raise DataError(label, "no pairs: the file is empty")
    return pairs


def _ragged(found: int, expected: int, where: str) -> str:
    return (
        f"field 'negatives': {found} hard negative(s), but {where} has {expected}; "
        "either no pair or every pair must have the same number"
    )


def write_pairs(pairs: Iterable[Pair | Mapping[str, Any]], path: str | os.PathLike[str]) -> int:
    """Write pairs as JSON lines, atomically; returns how many were written.

    Dicts are checked like lines of a file being read, so this never writes a
    file that :func:`read_pairs` refuses: no malformed pair, no ragged
    negatives and no empty file.  The pairs may be a generator (mining streams
    into this); until it is exhausted only a temporary file in the same folder
    exists, and ``os.replace`` then swaps the finished file in, so readers see
    the old file or the whole new one, and an error or interruption midway
    leaves the old file untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
    )
    count = 0
    try:
        with handle:
            expected: int | None = None
            for count, item in enumerate(pairs, start=1):
                try:
                    # A Pair is rechecked too: nothing stops a caller from building Pair("", 3).
                    pair = pair_from_record(item.to_record() if isinstance(item, Pair) else item)
                    line = json.dumps(pair.to_record(), ensure_ascii=False)
                    line.encode("utf-8")  # lone surrogates would fail at write time, far from their pair
                except (_RecordError, UnicodeEncodeError) as exc:
                    raise DataError(target, f"pair #{count}: {exc}; nothing was written") from None
                if expected is None:
                    expected = len(pair.negatives)
                elif len(pair.negatives) != expected:
                    raise DataError(target, f"pair #{count}: {_ragged(len(pair.negatives), expected, 'pair #1')}")
                handle.write(line + "\n")
            if count == 0:
                raise DataError(target, "no pairs to write; a pairs file may not be empty")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, file_mode())  # the mode open() would give, not tempfile's private 0600
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    return count
