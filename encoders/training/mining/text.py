"""Neighbouring text spans as positive pairs, from a folder of text files (cpt-text's signal).

Paragraphs are found, markup is stripped, long paragraphs are cut into even spans, and each span is
paired with the next one in the same document; :func:`mine_text_pairs` explains each choice.
"""

from __future__ import annotations

import math
import os
import random
import re
from collections.abc import Iterable, Iterator, Sequence
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

DEFAULT_TEXT_PATTERNS = ("*.txt", "*.md", "*.rst")
DEFAULT_MIN_WORDS = 8
DEFAULT_MAX_WORDS = 128

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
    shard: FileShard | None = None,
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
    root = check_folder(folder, "text folder")
    check_positive("min_words", min_words)
    check_positive("max_words", max_words)
    check_positive("max_pairs", max_pairs)
    if min_words > max_words:
        raise UsageError(f"min_words ({min_words}) must not exceed max_words ({max_words})")
    if not patterns:
        raise UsageError("no file patterns given")
    report = report if report is not None else MiningReport()
    pairs = _text_pairs(root, tuple(patterns), min_words, max_words, report, shard)
    if max_pairs is not None:
        pairs = _reservoir(pairs, max_pairs, seed)
    return counted(pairs, report)


def _text_pairs(
    root: Path,
    patterns: tuple[str, ...],
    min_words: int,
    max_words: int,
    report: MiningReport,
    shard: FileShard | None,
) -> Iterator[Pair]:
    dedup = Dedup(report)
    for path, relative in matching_files(root, patterns, shard=shard):
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
    text = _HTML_COMMENT.sub(lambda m: "\n" * m.group().count("\n"), LINE_BREAK.sub("\n", text))
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
