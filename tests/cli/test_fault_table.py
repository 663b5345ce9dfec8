"""The README's fault table names, for every row, tests that exist: a row cannot point at nothing."""

from __future__ import annotations

import re

from helpers import REPO, TESTS

SHORT_FOR_FAULTS = "F "
"""The table's abbreviation for ``tests/cli/test_faults.py::``."""


def fault_rows() -> list[tuple[str, str]]:
    """(fault, test cell) of every row of the table under "## Faults and bad input"."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Faults and bad input", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| fault |")]
    cells = [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]
    return [(row[0], row[-1]) for row in cells if len(row) >= 3]


def referenced_tests(cell: str) -> list[tuple[str, str]]:
    """(module under tests/, function) for each test a cell names; ``::name`` continues the module before it."""
    found, module = [], ""
    for token in re.findall(r"`([^`]+)`", cell):
        token = token.strip()
        if "::" not in token and not token.startswith(SHORT_FOR_FAULTS):
            continue  # another parameter of the test just named (`[raises]`), or a case's file (`u.csv`)
        if token.startswith(SHORT_FOR_FAULTS):
            token = "tests/cli/test_faults.py::" + token.removeprefix(SHORT_FOR_FAULTS)
        path, _, name = token.partition("::")
        module = path or module
        found.append((module, re.split(r"[\[ (]", name, maxsplit=1)[0]))
    return found


def test_every_fault_row_names_tests_that_exist() -> None:
    rows = fault_rows()
    assert len(rows) > 90
    for fault, cell in rows:
        tests = referenced_tests(cell)
        assert tests, f"row {fault!r} names no test"
        for module, name in tests:
            source_file = TESTS.parent / module
            assert module.startswith("tests/") and source_file.is_file(), (fault, module)
            assert re.search(rf"^def {re.escape(name)}\(", source_file.read_text(), re.M), (fault, module, name)
