"""The sha256 of a data file's content, remembered by path, size and modification time.

A result is reused only when every file its task read has the same bytes as
when it was made (a user's ``sts:`` TSV edited since, a ``beir:`` folder's qrels
replaced).  Hashing a 3 GB corpus on every resume would make resuming slow, so a
file's hash is kept in ``$HARNESS_HOME/cache/file-hashes.sqlite`` under its
absolute path, size and ``st_mtime_ns``, the rule ``make`` and git use: a file
written since has another mtime and is hashed again.  Paths live only in this
local cache, never in a result's identity.

Like git's "racy" index entries, a hash is not remembered for a file modified in
the last :data:`RACY_SECONDS`: an edit in the same clock tick as the hash would
keep size and mtime, so such a file is hashed again next time.  The cache only
saves time: when it cannot be opened or written (corrupt, read-only home), files
are hashed every time, never trusted unhashed.  SQLite (not a JSON file) because
concurrent runs, and the ranks of one ``torchrun`` job, share the home.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import lzma
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from harness.digests import read_blocks
from harness.home import harness_home

RACY_SECONDS = 2.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT NOT NULL, packing TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL, PRIMARY KEY (path, packing)
);
"""


def hashes_db() -> Path:
    return harness_home() / "cache" / "file-hashes.sqlite"


def content_sha256(path: Path, packing: str | None = None) -> str:
    """The sha256 of ``path``'s content (after ``xz``/``gz`` decompression when ``packing`` says so).

    Served from the cache when ``path`` has the size and mtime it had when hashed.
    """
    path = Path(path).absolute()
    stat = path.stat()
    key = (str(path), packing or "", stat.st_size, stat.st_mtime_ns)
    with _database() as db:
        if db is not None:
            row = db.execute(
                "SELECT sha256 FROM file_hashes WHERE path = ? AND packing = ? AND size = ? AND mtime_ns = ?", key
            ).fetchone()
            if row is not None:
                return str(row[0])
        digest = _hash_content(path, packing)
        if db is not None and time.time() - stat.st_mtime_ns / 1e9 > RACY_SECONDS:
            with contextlib.suppress(sqlite3.Error):
                with db:
                    db.execute("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?, ?)", (*key, digest))
        return digest


def _hash_content(path: Path, packing: str | None) -> str:
    digest = hashlib.sha256()
    for block in _content_blocks(path, packing):
        digest.update(block)
    return digest.hexdigest()


def _content_blocks(path: Path, packing: str | None) -> Iterator[bytes]:
    if packing is None:
        yield from read_blocks(path)
        return
    with lzma.open(path) if packing == "xz" else gzip.open(path) as handle:
        yield from iter(lambda: handle.read(1 << 22), b"")


@contextlib.contextmanager
def _database() -> Iterator[sqlite3.Connection | None]:
    """The cache's connection, or ``None`` when it cannot be used (then every file is hashed)."""
    path = hashes_db()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30)
    except (OSError, sqlite3.Error):
        yield None
        return
    try:
        try:
            db.executescript(SCHEMA)
        except sqlite3.DatabaseError:  # a corrupt file: start it again, it only ever saves time
            db.close()
            with contextlib.suppress(OSError):
                os.unlink(path)
            try:
                db = sqlite3.connect(path, timeout=30)
                db.executescript(SCHEMA)
            except (OSError, sqlite3.Error):
                yield None
                return
        yield db
    finally:
        db.close()
