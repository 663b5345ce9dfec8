"""(docstring, implementation) pairs from a Python source tree, as cpt-code's (text, code) pairs.

Files are parsed with :mod:`ast` (never imported or run); the docstring's summary is paired with the
function's source minus its docstring; :func:`mine_code_pairs` explains each choice.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import tokenize
import warnings
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

from harness.encoders.training.mining.shared import (
    LINE_BREAK,
    Dedup,
    FileShard,
    MiningReport,
    check_folder,
    check_positive,
    counted,
    matching_files,
)
from harness.encoders.training.pairs import Pair
from harness.errors import UsageError

TEST_DIRS = frozenset({"test", "tests"})


def mine_code_pairs(
    tree: str | os.PathLike[str],
    *,
    min_doc_words: int = 3,
    min_body_lines: int = 2,
    max_pairs: int | None = None,
    skip_tests: bool = True,
    first_paragraph: bool = True,
    report: MiningReport | None = None,
    shard: FileShard | None = None,
) -> Iterator[Pair]:
    """(docstring, implementation) pairs from Python files, as cpt-code's (text, code) pairs.

    Every ``*.py`` file under ``tree`` is parsed with :mod:`ast`; every
    function and method with a docstring gives one pair, whatever its nesting:
    top-level, in a class, in a nested class, ``async``, or local to another
    function.  The choices, and why:

    * ``x`` is the docstring, cleaned with :func:`inspect.cleandoc`, and by
      default only its **first paragraph** with whitespace collapsed, as in
      CodeSearchNet's ``docstring_summary``.  That summary is what a user
      would type as a query; the rest (``Args:``, ``Returns:``, doctests)
      mostly restates names from the signature, which would let the model
      match identifiers instead of meaning.  ``first_paragraph=False`` keeps
      the whole cleaned docstring.
    * ``y`` is the function's source exactly as written, decorators and
      signature included, with the **docstring lines removed** (and the blank
      lines around them), dedented to the ``def``'s column.  Keeping the
      docstring would make the pair trivial: ``x`` would be a substring of
      ``y``.  A function whose docstring shares a line with other code
      (``def f(): "doc"; return 1``) cannot lose it by whole lines and is left
      out.
    * Functions with a docstring of fewer than ``min_doc_words`` words or a
      body (after the docstring) of fewer than ``min_body_lines`` non-blank
      lines are left out: "Return x." over ``return self._x`` and abstract
      stubs teach little.
    * Files that cannot be decoded (per their PEP 263 coding line) or do not
      parse with this Python are skipped and counted in ``report``.  With
      ``skip_tests``, ``test_*.py``, ``*_test.py``, ``conftest.py`` and files
      under ``test/`` or ``tests/`` folders (relative to ``tree``) are skipped
      and counted too: test docstrings describe scenarios, not the code.
    * Identical pairs are dropped.  ``max_pairs`` keeps the first pairs in
      file order and stops reading there.

    ``source`` of each pair is ``relative/path.py:line qualified.name``.
    Raises ``UsageError`` for a missing folder or bad limits, at the call.
    """
    root = check_folder(tree, "code tree")
    check_positive("min_doc_words", min_doc_words)
    check_positive("max_pairs", max_pairs)
    if isinstance(min_body_lines, bool) or not isinstance(min_body_lines, int) or min_body_lines < 0:
        raise UsageError(f"min_body_lines must be a non-negative integer, got {min_body_lines!r}")
    report = report if report is not None else MiningReport()
    pairs = _code_pairs(root, min_doc_words, min_body_lines, skip_tests, first_paragraph, report, shard)
    if max_pairs is not None:
        pairs = _first(pairs, max_pairs)
    return counted(pairs, report)


def _first(pairs: Iterator[Pair], count: int) -> Iterator[Pair]:
    for index, pair in enumerate(pairs):
        yield pair
        if index + 1 >= count:
            return


def is_test_file(relative: str) -> bool:
    """Whether a path (relative to the mined tree) is test code by the usual pytest/unittest layout."""
    parts = relative.split("/")
    name = parts[-1]
    return (
        name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
        or any(part in TEST_DIRS for part in parts[:-1])
    )


def _code_pairs(
    root: Path,
    min_doc_words: int,
    min_body_lines: int,
    skip_tests: bool,
    first_paragraph: bool,
    report: MiningReport,
    shard: FileShard | None,
) -> Iterator[Pair]:
    dedup = Dedup(report)
    for path, relative in matching_files(root, ("*.py",), shard=shard):
        report.files_seen += 1
        if skip_tests and is_test_file(relative):
            report.skip(relative, "test file")
            continue
        module = _parse(path, relative, report)
        if module is None:
            continue
        source, lines, tree = module
        for qualname, node in _functions(tree):
            pair = _function_pair(node, lines, min_doc_words, min_body_lines, first_paragraph)
            if pair is not None and dedup.new(*pair):
                yield Pair(pair[0], pair[1], source=f"{relative}:{node.lineno} {qualname}")


def _parse(path: Path, relative: str, report: MiningReport) -> tuple[str, list[str], ast.Module] | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        report.skip(relative, f"unreadable ({exc.strerror or type(exc).__name__})")
        return None
    try:
        encoding, _ = tokenize.detect_encoding(BytesIO(data).readline)
        source = data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        report.skip(relative, "not decodable")
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes and the like in old code
            tree = ast.parse(source, filename=relative)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        report.skip(relative, "syntax error")
        return None
    return source, LINE_BREAK.split(source), tree


_Function = ast.FunctionDef | ast.AsyncFunctionDef
_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def _functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, _Function]]:
    """Every function in source order, with its qualified name.

    Only statement blocks are walked: a ``def`` cannot sit inside an
    expression, and deeply nested expressions would exhaust the recursion limit.
    """
    for name in _BLOCKS:
        for child in getattr(node, name, ()):
            if isinstance(child, _Function):
                qualname = f"{prefix}{child.name}"
                yield qualname, child
                yield from _functions(child, f"{qualname}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                yield from _functions(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.AST):
                yield from _functions(child, prefix)


def _function_pair(
    node: _Function, lines: list[str], min_doc_words: int, min_body_lines: int, first_paragraph: bool
) -> tuple[str, str] | None:
    doc = ast.get_docstring(node, clean=False)
    if doc is None:
        return None
    doc = inspect.cleandoc(doc)
    if first_paragraph:
        doc = re.split(r"\n\s*\n", doc, maxsplit=1)[0]
        doc = " ".join(doc.split())
    else:
        doc = doc.strip()
    if len(doc.split()) < min_doc_words:
        return None
    expr = node.body[0]
    first, last = expr.lineno, expr.end_lineno or expr.lineno
    before = lines[first - 1].encode("utf-8")[: expr.col_offset]
    after = lines[last - 1].encode("utf-8")[expr.end_col_offset or 0 :].strip()
    if before.strip() or (after and not after.startswith(b"#")) or first == node.lineno:
        return None  # the docstring shares its lines with other code
    rest = node.body[1:]
    body_lines = 0
    if rest:
        body_start = rest[0].lineno
        body_lines = sum(1 for line in lines[body_start - 1 : node.end_lineno] if line.strip())
    if body_lines < min_body_lines:
        return None
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    end = node.end_lineno or node.lineno
    skip_to = last + 1
    if skip_to <= end and not lines[skip_to - 1].strip():
        skip_to += 1  # the blank line that usually follows a docstring
    head = lines[start - 1 : first - 1]
    while head and not head[-1].strip():
        head.pop()  # blank lines between the signature and the docstring
    kept = head + lines[skip_to - 1 : end]
    indent = node.col_offset
    code = "\n".join(_dedent(line, indent).rstrip() for line in kept).strip("\n")
    return doc, code


def _dedent(line: str, indent: int) -> str:
    width = len(line) - len(line.lstrip())
    return line[min(indent, width) :]
