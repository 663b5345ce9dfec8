"""Reading JSON-lines files the one way every reader does: UTF-8 checked per line, objects only, errors naming file
and line.

Task files arrive as text (:func:`json_objects`); the training readers (pairs, NLI) read bytes so that a bad byte is
reported with its line and column, which :func:`utf8_lines` does for all of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from harness.errors import DataError


def utf8_lines(raw_lines: Iterable[bytes], label: str) -> Iterator[tuple[int, str]]:
    """Each line of a binary file decoded as UTF-8, with its 1-based number; a leading BOM is dropped.

    A line that is not UTF-8 is a :class:`DataError` naming ``label``, the line and the byte's column.
    """
    for number, raw in enumerate(raw_lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
            raise DataError(label, f"not UTF-8 ({where})", number) from None
        yield number, line.removeprefix("\ufeff") if number == 1 else line


def json_objects(lines: Iterable[str], label: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each non-blank line parsed as a JSON object, with its 1-based line number.

    A line that is not JSON, or is JSON but not an object, is a :class:`DataError` naming ``label`` and the line.
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(label, f"invalid JSON ({exc.msg} at column {exc.colno})", line=number) from None
        if not isinstance(record, dict):
            raise DataError(label, f"expected a JSON object, found {type(record).__name__}", line=number)
        yield number, record
