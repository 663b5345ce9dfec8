"""Unsupervised pair mining: neighbouring text spans and (docstring, function) pairs.

The paper pre-trains cpt-text on "neighboring pieces of text on the Internet"
and cpt-code on (text, code) pairs from open-source code.  This module builds
both kinds of :class:`~harness.encoders.training.pairs.Pair` from local files,
with no network, so a training run can start from whatever text and Python
source is on disk.  Both miners are deterministic: files are visited in sorted
order of their path relative to the root, so the same tree always gives the
same pairs in the same order, whatever the file system's listing order.

Directories that are never mined: hidden ones (``.git``, ``.venv``, ``.tox``),
``__pycache__``, ``node_modules`` and ``site-packages``, because they hold
tooling or third-party copies rather than the tree's own content (mining a
repository must not mine its virtual environment).  Symbolic links to
directories are not followed, so a link loop cannot hang a run.
"""

from __future__ import annotations

import ast
import fnmatch
import gzip
import hashlib
import inspect
import math
import os
import random
import re
import shutil
import sysconfig
import tokenize
import warnings
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from harness.encoders.training.pairs import Pair
from harness.errors import UsageError

DEFAULT_TEXT_PATTERNS = ("*.txt", "*.md", "*.rst")
DEFAULT_MIN_WORDS = 8
DEFAULT_MAX_WORDS = 128
EXCLUDED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
TEST_DIRS = frozenset({"test", "tests"})


@dataclass
class MiningReport:
    """What a mining run looked at and what it left out, filled in as the miner is consumed.

    ``files_seen`` counts every file that matched (skipped ones included);
    ``skipped`` counts the skipped files by reason, and ``skipped_files`` lists
    them as ``(relative path, reason)`` so a user can see which file failed.
    ``pairs`` counts the pairs yielded, ``duplicates`` the identical pairs that
    were dropped and ``candidates`` the distinct pairs found before
    ``max_pairs`` cut them down.
    """

    files_seen: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    candidates: int = 0
    duplicates: int = 0
    pairs: int = 0

    @property
    def files_skipped(self) -> int:
        return sum(self.skipped.values())

    def skip(self, relative: str, reason: str) -> None:
        self.skipped[reason] += 1
        self.skipped_files.append((relative, reason))

    def summary(self, out: str | os.PathLike[str] | None = None) -> str:
        """One line: ``mined N pairs from M files (K skipped: reasons) -> out``."""
        skipped = f"{self.files_skipped} skipped"
        if self.skipped:
            skipped += ": " + ", ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))
        line = f"mined {self.pairs} pairs from {self.files_seen} files ({skipped})"
        return f"{line} -> {out}" if out is not None else line


# --------------------------------------------------------------------------- files


def _files(root: Path, patterns: Sequence[str], excluded: Collection[str] = EXCLUDED_DIRS) -> list[tuple[Path, str]]:
    """``(path, relative posix path)`` of every matching file under ``root``, sorted by the relative path."""
    found: list[tuple[Path, str]] = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in excluded]
        for name in filenames:
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
                path = Path(folder, name)
                found.append((path, path.relative_to(root).as_posix()))
    found.sort(key=lambda item: item[1])
    return found


def _check_folder(folder: str | os.PathLike[str], what: str) -> Path:
    path = Path(folder)
    if not path.is_dir():
        raise UsageError(f"{what} {path}: {'not a folder' if path.exists() else 'no such folder'}")
    return path


def _positive(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise UsageError(f"{name} must be a positive integer, got {value!r}")


class _Dedup:
    """Drops pairs seen before; keeps a 16-byte digest per pair, not the texts."""

    def __init__(self, report: MiningReport) -> None:
        self.seen: set[bytes] = set()
        self.report = report

    def new(self, x: str, y: str) -> bool:
        digest = hashlib.blake2b(f"{x}\0{y}".encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if digest in self.seen:
            self.report.duplicates += 1
            return False
        self.seen.add(digest)
        self.report.candidates += 1
        return True


def _counted(pairs: Iterable[Pair], report: MiningReport) -> Iterator[Pair]:
    for pair in pairs:
        report.pairs += 1
        yield pair


# --------------------------------------------------------------------------- text

# Only the line ends that ast counts: str.splitlines() also splits at form feeds, which Python source uses.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FENCE = re.compile(r"^(`{3,}|~{3,})")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)]|#{1,6}|>+)\s+")
_RST_ROLE = re.compile(r":[A-Za-z][\w.+-]*(?::[A-Za-z][\w.+-]*)*:`([^`]+)`")
_RST_LINK = re.compile(r"`([^`<]+?)\s*<[^>`]+>`_{0,2}")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
_MD_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_LITERAL = re.compile(r"`{1,2}([^`]+)`{1,2}_{0,2}")
_MIN_LETTER_SHARE = 0.6


def mine_text_pairs(
    folder: str | os.PathLike[str],
    *,
    patterns: Sequence[str] = DEFAULT_TEXT_PATTERNS,
    min_words: int = DEFAULT_MIN_WORDS,
    max_words: int = DEFAULT_MAX_WORDS,
    seed: int = 0,
    max_pairs: int | None = None,
    report: MiningReport | None = None,
) -> Iterator[Pair]:
    """Neighbouring text spans as positive pairs (cpt-text's pre-training signal).

    Every file under ``folder`` whose name matches one of ``patterns`` is one
    document.  The choices, and why:

    * **Paragraphs** are blocks separated by blank lines: the unit a writer
      uses for one idea, so a span never starts mid-thought.  Fenced code
      blocks (```` ``` ```` / ``~~~``) and HTML comments are removed, since
      they are not the prose this miner is after (``mine_code_pairs`` is for
      code).
    * **Markup** is dropped: lines without a letter or digit (rst underlines,
      rules, table borders), paragraphs that open with an rst directive or
      comment (``.. name::``), tables (most lines start with ``|`` or ``+``),
      and paragraphs where letters are under 60 % of the non-space characters
      (code, listings, URLs).  List bullets and heading marks are stripped and
      inline markup is reduced to its text (``:func:`x``` -> ``x``,
      ``[text](url)`` and ``[text][ref]`` -> ``text``).  Whitespace is collapsed to single spaces.
    * **Too short**: paragraphs under ``min_words`` words are dropped; these
      are mostly headings and captions, which pair badly with anything.
    * **Too long**: a paragraph over ``max_words`` words is cut into the fewest
      spans of at most ``max_words`` words, all of nearly equal length, so no
      span is a stub left at the end.  The default 128 words (roughly 170
      tokens) fits a 256-token encoder without silent truncation.
    * **Pairs**: the spans of a document in order; span *i* is ``x`` and span
      *i + 1* is ``y``.  Dropped paragraphs are skipped over, so a heading
      between two paragraphs does not break their neighbourhood; documents
      never pair across files.  Pairs with ``x == y`` (repeated boilerplate)
      and pairs identical to an earlier one are dropped.
    * **Unreadable** files and files that are not UTF-8 are skipped and
      counted in ``report``, never fatal: a corpus scraped from a disk always
      has a few.
    * **max_pairs**: a uniform random sample of that many pairs (reservoir
      sampling with ``random.Random(seed)``), yielded in corpus order.  Taking
      the first N instead would mine only the alphabetically first files.
      This reads the whole corpus before yielding; without ``max_pairs``
      pairs stream as they are found and ``seed`` plays no part.

    ``source`` of each pair is ``relative/path:line`` of the paragraph ``x``
    starts in.  Raises ``UsageError`` for a missing folder or bad limits, at
    the call, not at the first ``next()``.
    """
    root = _check_folder(folder, "text folder")
    _positive("min_words", min_words)
    _positive("max_words", max_words)
    _positive("max_pairs", max_pairs)
    if min_words > max_words:
        raise UsageError(f"min_words ({min_words}) must not exceed max_words ({max_words})")
    if not patterns:
        raise UsageError("no file patterns given")
    report = report if report is not None else MiningReport()
    pairs = _text_pairs(root, tuple(patterns), min_words, max_words, report)
    if max_pairs is not None:
        pairs = _reservoir(pairs, max_pairs, seed)
    return _counted(pairs, report)


def _text_pairs(
    root: Path, patterns: tuple[str, ...], min_words: int, max_words: int, report: MiningReport
) -> Iterator[Pair]:
    dedup = _Dedup(report)
    for path, relative in _files(root, patterns):
        report.files_seen += 1
        text = _read_text(path, relative, report)
        if text is None:
            continue
        spans = [
            (line, span)
            for line, paragraph in _paragraphs(text)
            if (cleaned := _clean_paragraph(paragraph)) is not None
            for span in _spans(cleaned, min_words, max_words)
        ]
        for (line, x), (_, y) in zip(spans, spans[1:], strict=False):
            if x != y and dedup.new(x, y):
                yield Pair(x, y, source=f"{relative}:{line}")


def _read_text(path: Path, relative: str, report: MiningReport) -> str | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        report.skip(relative, f"unreadable ({exc.strerror or type(exc).__name__})")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.skip(relative, "not UTF-8")
        return None


def _paragraphs(text: str) -> Iterator[tuple[int, list[str]]]:
    """Blank-line separated blocks with their first line number; fenced code becomes blank lines."""
    block: list[str] = []
    start = 0
    fence: str | None = None
    text = _HTML_COMMENT.sub(lambda m: "\n" * m.group().count("\n"), _LINE_BREAK.sub("\n", text))
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith(fence):
                fence = None
            line = ""
        elif match := _FENCE.match(stripped):
            fence = match.group(1)
            line = ""
        if not line.strip():
            if block:
                yield start, block
                block = []
            continue
        if not block:
            start = number
        block.append(line)
    if block:
        yield start, block


def _clean_paragraph(lines: list[str]) -> str | None:
    """The paragraph as one line of prose, or ``None`` when it is markup rather than text."""
    if lines[0].lstrip().startswith(".. "):
        return None
    lines = [line for line in lines if any(c.isalnum() for c in line)]
    if not lines:
        return None
    if 2 * sum(line.lstrip().startswith(("|", "+")) for line in lines) > len(lines):
        return None
    text = " ".join(_BULLET.sub("", line).strip() for line in lines)
    text = _RST_ROLE.sub(r"\1", text)
    text = _RST_LINK.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_REF_LINK.sub(r"\1", text)
    text = _LITERAL.sub(r"\1", text)
    text = " ".join(text.split())
    visible = sum(not c.isspace() for c in text)
    if not visible or sum(c.isalpha() for c in text) < _MIN_LETTER_SHARE * visible:
        return None
    return text


def _spans(text: str, min_words: int, max_words: int) -> list[str]:
    words = text.split()
    if len(words) < min_words:
        return []
    count = math.ceil(len(words) / max_words)
    bounds = [round(i * len(words) / count) for i in range(count + 1)]
    return [" ".join(words[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]


def _reservoir(pairs: Iterable[Pair], size: int, seed: int) -> Iterator[Pair]:
    """A uniform sample of ``size`` pairs (Algorithm R), in the order they came."""
    rng = random.Random(seed)
    kept: list[tuple[int, Pair]] = []
    for index, pair in enumerate(pairs):
        if index < size:
            kept.append((index, pair))
        else:
            slot = rng.randrange(index + 1)
            if slot < size:
                kept[slot] = (index, pair)
    kept.sort(key=lambda item: item[0])
    for _, pair in kept:
        yield pair


# --------------------------------------------------------------------------- code


def mine_code_pairs(
    tree: str | os.PathLike[str],
    *,
    min_doc_words: int = 3,
    min_body_lines: int = 2,
    max_pairs: int | None = None,
    skip_tests: bool = True,
    first_paragraph: bool = True,
    report: MiningReport | None = None,
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
    root = _check_folder(tree, "code tree")
    _positive("min_doc_words", min_doc_words)
    _positive("max_pairs", max_pairs)
    if isinstance(min_body_lines, bool) or not isinstance(min_body_lines, int) or min_body_lines < 0:
        raise UsageError(f"min_body_lines must be a non-negative integer, got {min_body_lines!r}")
    report = report if report is not None else MiningReport()
    pairs = _code_pairs(root, min_doc_words, min_body_lines, skip_tests, first_paragraph, report)
    if max_pairs is not None:
        pairs = _first(pairs, max_pairs)
    return _counted(pairs, report)


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
    root: Path, min_doc_words: int, min_body_lines: int, skip_tests: bool, first_paragraph: bool, report: MiningReport
) -> Iterator[Pair]:
    dedup = _Dedup(report)
    for path, relative in _files(root, ("*.py",)):
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
    return source, _LINE_BREAK.split(source), tree


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


# --------------------------------------------------------------------------- demo corpus

_DOC_EXCLUDE = re.compile(
    r"change|news|licen[cs]e|copying|copyright|authors|thanks|history|release|relnotes|cmakelists|requirements",
    re.IGNORECASE,
)


def demo_code_tree() -> Path:
    """Python's own standard library sources: a sizeable, local, documented code tree.

    Its ``site-packages`` (third-party packages installed into this Python) is
    never mined, see the module docstring.
    """
    return Path(sysconfig.get_paths()["stdlib"])


def demo_text_corpus(
    dest: str | os.PathLike[str], *, doc_roots: Sequence[str | os.PathLike[str]] | None = None
) -> Path:
    """Materialise a folder of plain text from documentation already on this machine; returns ``dest``.

    None of it is evaluation data.  Sources, each used when present:

    * ``pydoc_data.topics`` of the running Python: the language reference and
      library topics as plain text (about 80 topics, 0.45 MB); part of every
      CPython, so the demo never comes out empty.  Written as
      ``dest/pydoc-topics/<topic>.txt``.
    * Documentation folders (``doc_roots``; by default ``/usr/share/doc`` and
      CMake's ``Help`` folders): their ``.txt``, ``.md`` and ``.rst`` files,
      plus gzipped ``README*`` files unpacked, copied under
      ``dest/<root name>/``.  Change logs, news, licences and author lists are
      left out: they are lists of items, not neighbouring prose; so are build
      files that happen to end in ``.txt`` (``CMakeLists.txt``,
      ``requirements.txt``).
    * Man pages are not used: they are roff source, which would need ``groff``
      to become text.

    Existing files in ``dest`` are overwritten; nothing outside ``dest`` changes.
    """
    out = Path(dest)
    topics_dir = out / "pydoc-topics"
    topics_dir.mkdir(parents=True, exist_ok=True)
    from pydoc_data.topics import topics

    for name, text in sorted(topics.items()):
        (topics_dir / f"{_safe_name(name)}.txt").write_text(text, encoding="utf-8")
    roots = [Path(p) for p in doc_roots] if doc_roots is not None else _default_doc_roots()
    for root in roots:
        if root.is_dir():
            _copy_docs(root, out / _safe_name("-".join(root.parts[-2:])))
    return out


def _default_doc_roots() -> list[Path]:
    roots = [Path("/usr/share/doc")]
    roots += sorted(p for p in Path("/usr/share").glob("cmake*/Help") if p.is_dir())
    return roots


def _copy_docs(root: Path, target: Path) -> None:
    for path, relative in _files(root, (*DEFAULT_TEXT_PATTERNS, "README*.gz")):
        if _DOC_EXCLUDE.search(relative):
            continue
        destination = target / relative
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".gz":
                with gzip.open(path, "rb") as packed, open(destination.with_suffix(".txt"), "wb") as plain:
                    shutil.copyfileobj(packed, plain)
            else:
                shutil.copyfile(path, destination)
        except (OSError, EOFError, gzip.BadGzipFile):
            continue  # a broken system file is not the demo's problem


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "unnamed"
