"""Reading JSON-lines files the one way every task reader does: objects only, errors naming file and line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from harness.errors import DataError


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
