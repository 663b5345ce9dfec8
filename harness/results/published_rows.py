"""The published rows a paper-layout report prints beside the user's: read and checked from their data file.

Published numbers are data, never code: ``harness/results/published/cpt_paper.toml`` holds every cell the
report may show for the cpt paper, each with the table that prints it (``source``) and what it was verified
against (``checked_against``).  A cell without both is refused, so an unverified number cannot slip into a
report; so are an unknown table or column and a cell given twice, each as one line naming the file, the entry
and the field.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import DataError

PUBLISHED_DIR = Path(__file__).parent / "published"
CPT_PAPER_ROWS = PUBLISHED_DIR / "cpt_paper.toml"
"""The cpt paper's (Neelakantan et al. 2022, arXiv 2201.10005) verified published rows."""

AVERAGE_KEY = "avg"
"""The key of a table's average column in a data file's ``values``."""

ROW_FIELDS: dict[str, type] = {"table": int, "row": str, "source": str, "checked_against": str, "values": dict}


@dataclass(frozen=True)
class PublishedCell:
    """One number as the paper prints it (x 100), where it is printed, and what it was checked against."""

    table: int
    row: str
    column: str
    value: float
    source: str
    checked_against: str

    @property
    def citation(self) -> str:
        return f"{self.source}; verified against {self.checked_against}"


def load_published(path: Path, columns: Mapping[int, frozenset[str]]) -> list[PublishedCell]:
    """Every cell of the data file ``path``, in file order; ``columns`` maps each table to its column keys.

    A key in ``columns`` may be :data:`AVERAGE_KEY` for a table that prints an average.  Any fault is a
    :class:`~harness.errors.DataError` naming ``path`` and the entry.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(path, f"cannot read the published rows: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not valid UTF-8 (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(path, f"invalid TOML: {exc}") from None
    unknown = sorted(set(data) - {"paper", "row"})
    if unknown:
        raise DataError(path, f"unknown top-level key {unknown[0]!r}; expected 'paper' and [[row]] entries")
    rows = data.get("row", [])
    if not isinstance(rows, list):
        raise DataError(path, "'row' must be an array of tables ([[row]] entries)")
    cells: list[PublishedCell] = []
    seen: dict[tuple[int, str, str], int] = {}
    for number, entry in enumerate(rows, start=1):
        for cell in _entry_cells(path, number, entry, columns):
            key = (cell.table, cell.row, cell.column)
            if key in seen:
                raise DataError(
                    path,
                    f"[[row]] {number} (Table {cell.table}, {cell.row!r}): column {cell.column!r} is already given "
                    f"by [[row]] {seen[key]}",
                )
            seen[key] = number
            cells.append(cell)
    return cells


def _entry_cells(path: Path, number: int, entry: Any, columns: Mapping[int, frozenset[str]]) -> list[PublishedCell]:
    where = f"[[row]] {number}"
    if not isinstance(entry, dict):
        raise DataError(path, f"{where}: expected a table")
    for name, kind in ROW_FIELDS.items():
        if name not in entry:
            raise DataError(path, f"{where}: missing field {name!r}")
        value = entry[name]
        if not isinstance(value, kind) or isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
            wanted = {int: "an integer", str: "a non-empty string", dict: "a table"}[kind]
            raise DataError(path, f"{where}: field {name!r} must be {wanted}")
    extra = sorted(set(entry) - set(ROW_FIELDS))
    if extra:
        raise DataError(path, f"{where}: unknown field {extra[0]!r}")
    table, row = entry["table"], entry["row"]
    if table not in columns:
        known = ", ".join(str(t) for t in sorted(columns))
        raise DataError(path, f"{where}: field 'table' is {table}, not one of the report's tables ({known})")
    where = f"{where} (Table {table}, {row!r})"
    if not entry["values"]:
        raise DataError(path, f"{where}: field 'values' is empty")
    cells = []
    for column, value in entry["values"].items():
        if column not in columns[table]:
            known = ", ".join(sorted(columns[table]))
            raise DataError(path, f"{where}: 'values.{column}' is not a column of Table {table} ({known})")
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise DataError(path, f"{where}: 'values.{column}' must be a number")
        if not 0 <= value <= 100:
            raise DataError(path, f"{where}: 'values.{column}' is {value}; published scores are x 100, 0 to 100")
        cells.append(PublishedCell(table, row, column, float(value), entry["source"], entry["checked_against"]))
    return cells
