"""What the text and code miners share: the run report, the file walk, argument checks and duplicate dropping.

Kept in one place so that both miners skip the same directories, visit files in the same
deterministic order, reject bad limits with the same message and count what they did the same way
(see :mod:`harness.encoders.training.mining` for why these directories are never mined).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.encoders.training.pairs import Pair
from harness.errors import UsageError

EXCLUDED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})

LINE_BREAK = re.compile(r"\r\n|\r|\n")
"""Only the line ends that ast counts: ``str.splitlines()`` also splits at form feeds, which Python source uses."""


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


@dataclass(frozen=True)
class FileShard:
    """Shard ``index`` of ``count``: the files whose position in the sorted walk is ``index`` modulo ``count``.

    ``count`` processes, one per index, mine disjoint sets of files of one tree in parallel (``harness
    mine-pairs --shard I/N``), and together every file once; dropping duplicate pairs happens within a shard.
    """

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> FileShard:
        """``I/N`` with ``0 <= I < N``; anything else is a ``UsageError``."""
        index, slash, count = text.partition("/")
        if not (slash and index.strip().isdigit() and count.strip().isdigit()) or not 0 <= int(index) < int(count):
            raise UsageError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4")
        return cls(int(index), int(count))


def matching_files(
    root: Path, patterns: Sequence[str], excluded: Collection[str] = EXCLUDED_DIRS, shard: FileShard | None = None
) -> list[tuple[Path, str]]:
    """``(path, relative posix path)`` of every matching file under ``root`` (in ``shard``), sorted by the path."""
    found: list[tuple[Path, str]] = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in excluded]
        for name in filenames:
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
                path = Path(folder, name)
                found.append((path, path.relative_to(root).as_posix()))
    found.sort(key=lambda item: item[1])
    if shard is not None and shard.count > 1:
        found = found[shard.index :: shard.count]
    return found


def check_folder(folder: str | os.PathLike[str], what: str) -> Path:
    """``folder`` as a path, or a ``UsageError`` saying it is missing or not a folder."""
    path = Path(folder)
    if not path.is_dir():
        raise UsageError(f"{what} {path}: {'not a folder' if path.exists() else 'no such folder'}")
    return path


def check_positive(name: str, value: int | None) -> None:
    """A ``UsageError`` unless ``value`` is ``None`` or a positive integer (``bool`` is not one)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise UsageError(f"{name} must be a positive integer, got {value!r}")


class Dedup:
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


def counted(pairs: Iterable[Pair], report: MiningReport) -> Iterator[Pair]:
    """``pairs``, counting each one into ``report.pairs`` as it is yielded."""
    for pair in pairs:
        report.pairs += 1
        yield pair
