"""Streaming sha256 of files: weights, vectors and packaged parts are hashed in blocks, never read whole."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

BLOCK = 1 << 22


def read_blocks(path: Path) -> Iterator[bytes]:
    with Path(path).open("rb") as handle:
        yield from iter(lambda: handle.read(BLOCK), b"")


def files_sha256(paths: Iterable[Path]) -> str:
    """One sha256 over the files' bytes in the given order (for one file, that file's own sha256)."""
    digest = hashlib.sha256()
    for path in paths:
        for block in read_blocks(path):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    return files_sha256([path])
