"""The embedding cache: vectors shared across tasks and runs, content-addressed, checked before use.

A vector is looked up by ``sha256(encoder fingerprint, text kind, text)``, so two
tasks that embed the same sentence, a rerun with ``--force``, or another results
folder all reuse it, and a changed model (another fingerprint) never does.  A text
embedded with a prompt (:mod:`harness.prompts`) adds the prompt's text to the key: one
encoder gives a text other prompts on other tasks (``scifact-query`` and ``query``), and
those vectors differ; texts without a prompt keep the key they always had.

Layout, under ``$HARNESS_HOME/cache/embeddings`` (or ``--cache DIR``):

* ``shards/<id>.npy``: float32 ``[rows, dim]`` arrays, one per batch of newly
  encoded texts, written to a temporary name, synced and renamed, read with
  ``allow_pickle=False``;
* ``index.sqlite``: which shard and row holds each key, and each shard's size,
  sha256 and last use.  SQLite (WAL mode, immediate write transactions, a busy
  timeout) makes two runs sharing one cache safe: a shard is written completely
  before the index names it, and a reader that finds a shard gone or changed
  recomputes those texts.

A shard is hashed before its rows are used.  One that is missing, truncated or
altered is dropped from the index and deleted, and its texts are encoded again:
the cache may lose work, never give wrong vectors.  When the cache outgrows its
size limit (``HARNESS_CACHE_MAX_BYTES``, default 10 GiB), the least recently
used shards go first.  An index that is no database any more (torn by a crash,
overwritten) is one error naming it and its remedy, ``harness cache clear``, which
can empty the cache without reading it (:func:`discard`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.encoder import TextKind
from harness.errors import HarnessError
from harness.home import harness_home
from harness.results.files import fsync_dir

DEFAULT_MAX_BYTES = 10 * 1024**3
MAX_BYTES_ENV = "HARNESS_CACHE_MAX_BYTES"
CACHE_DIR_ENV = "HARNESS_CACHE_DIR"
LOOKUP_BATCH = 500
"""Keys per ``IN (...)`` query: well under SQLite's bound-parameter limit."""
INDEX_FILE = "index.sqlite"
INDEX_FILES = (INDEX_FILE, f"{INDEX_FILE}-wal", f"{INDEX_FILE}-shm", f"{INDEX_FILE}-journal")
"""The index and the files SQLite keeps beside it."""
CORRUPTION = ("SQLITE_NOTADB", "SQLITE_CORRUPT")
"""SQLite's names for a file that is no database, or a damaged one."""
BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")
"""SQLite's names (and the prefixes of their extended codes) for "another connection holds the lock"."""
OPEN_SECONDS = 60.0
"""How long a connection waits for another's lock before the cache gives up on it."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS shards (
    id TEXT PRIMARY KEY, encoder TEXT NOT NULL, fingerprint TEXT NOT NULL, dim INTEGER NOT NULL,
    rows INTEGER NOT NULL, bytes INTEGER NOT NULL, sha256 TEXT NOT NULL, created REAL NOT NULL, used REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
    key TEXT PRIMARY KEY, shard TEXT NOT NULL REFERENCES shards(id), row INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS vectors_by_shard ON vectors(shard);
"""


def default_cache_dir() -> Path:
    explicit = os.environ.get(CACHE_DIR_ENV)
    return Path(explicit).expanduser() if explicit else harness_home() / "cache" / "embeddings"


def default_max_bytes() -> int:
    raw = os.environ.get(MAX_BYTES_ENV)
    if raw is None:
        return DEFAULT_MAX_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise HarnessError(f"{MAX_BYTES_ENV} must be a whole number of bytes, not {raw!r}") from None
    if value < 0:
        raise HarnessError(f"{MAX_BYTES_ENV} must be at least 0, not {value}")
    return value


def text_key(fingerprint_sha256: str, kind: TextKind, text: str, prompt: str | None = None) -> str:
    """The cache key of ``text``; ``prompt``, the text of the prompt applied to it, when there was one."""
    digest = hashlib.sha256()
    parts = (fingerprint_sha256, kind.value, text) if not prompt else (fingerprint_sha256, kind.value, text, prompt)
    for part in parts:
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little"))  # length-prefixed: no two tuples share a byte string
        digest.update(encoded)
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheStats:
    folder: Path
    bytes: int
    shards: int
    vectors: int
    max_bytes: int
    by_encoder: dict[str, tuple[int, int]]
    """encoder name -> (vectors, bytes)."""


class CorruptCacheIndex(HarnessError):
    """The cache's index is no SQLite database any more, so no vector in the cache can be found."""

    def __init__(self, folder: Path, exc: sqlite3.DatabaseError) -> None:
        self.folder = folder
        super().__init__(
            f"embedding cache {folder}: its index {folder / INDEX_FILE} is unreadable ({exc}); "
            f"'harness cache clear --cache {folder}' empties the cache (--no-cache runs without it)"
        )


def discard(folder: Path) -> int:
    """Empty a cache whose index is unreadable, without opening it; return how many shards went.

    Without its index no shard can be found (nor told apart by encoder), so every shard goes, and the index
    with the files SQLite keeps beside it: the next run starts an empty cache there.
    """
    shards = list((folder / "shards").glob("*.npy"))
    index = [folder / name for name in INDEX_FILES]  # first: nothing may name a shard about to vanish
    for path in [*index, *shards, *(folder / "shards").glob(".*.npy.tmp")]:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise HarnessError(f"embedding cache {folder}: cannot remove {path} ({exc.strerror or exc})") from None
    return len(shards)


class EmbeddingCache:
    """Vectors keyed by (encoder fingerprint, text kind, text); see the module docstring."""

    def __init__(self, folder: Path | None = None, max_bytes: int | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_dir()
        self.max_bytes = default_max_bytes() if max_bytes is None else max_bytes
        self.shard_dir = self.folder / "shards"
        self.dropped_shards = 0
        """Shards found missing or corrupt and dropped by this object (their texts were recomputed)."""
        try:
            self.shard_dir.mkdir(parents=True, exist_ok=True)
            self._create_index()
        except (OSError, sqlite3.Error) as exc:
            raise HarnessError(
                f"embedding cache {self.folder}: cannot open it: {exc} (--no-cache runs without)"
            ) from None

    # -- reading ----------------------------------------------------------------------------

    def get(
        self, fingerprint_sha256: str, kind: TextKind, texts: Sequence[str], dim: int, prompt: str | None = None
    ) -> dict[int, np.ndarray]:
        """Cached vectors of ``texts`` (with ``prompt``) by position; positions absent from the result must be encoded."""
        keys = [text_key(fingerprint_sha256, kind, text, prompt) for text in texts]
        located: dict[str, list[tuple[int, int]]] = {}
        with self._connect() as db:
            for start in range(0, len(keys), LOOKUP_BATCH):
                batch = keys[start : start + LOOKUP_BATCH]
                position_of = {key: start + i for i, key in enumerate(batch)}
                marks = ",".join("?" * len(batch))
                query = f"SELECT key, shard, row FROM vectors WHERE key IN ({marks})"  # noqa: S608 (marks only)
                for key, shard, row in db.execute(query, batch):
                    located.setdefault(shard, []).append((position_of[key], row))
        found: dict[int, np.ndarray] = {}
        for shard, wanted in located.items():
            array = self._load_shard(shard, dim)
            if array is None:
                continue
            for position, row in wanted:
                found[position] = array[row]
        if located:
            with self._connect() as db, contextlib.suppress(sqlite3.OperationalError):
                marks = ",".join("?" * len(located))
                db.execute(f"UPDATE shards SET used = ? WHERE id IN ({marks})", [time.time(), *located])  # noqa: S608
        return found

    def _load_shard(self, shard: str, dim: int) -> np.ndarray | None:
        """The shard's rows if the file is there, unaltered and well-formed; otherwise drop it and return None."""
        with self._connect() as db:
            row = db.execute("SELECT sha256, rows, dim FROM shards WHERE id = ?", (shard,)).fetchone()
        if row is None:
            return None  # evicted by another run between the lookup and now
        sha256, rows, shard_dim = row
        path = self.shard_dir / f"{shard}.npy"
        try:
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != sha256:
                raise ValueError("checksum mismatch")
            array = np.load(io.BytesIO(data), allow_pickle=False)
            if array.dtype != np.float32 or array.shape != (rows, shard_dim) or shard_dim != dim:
                raise ValueError(f"shape {array.shape} {array.dtype}")
        except (OSError, ValueError, EOFError):
            self._drop(shard)
            return None
        return array

    # -- writing ----------------------------------------------------------------------------

    def put(
        self,
        encoder: str,
        fingerprint_sha256: str,
        kind: TextKind,
        texts: Sequence[str],
        vectors: np.ndarray,
        prompt: str | None = None,
    ) -> None:
        """Store newly encoded vectors (of ``texts`` with ``prompt``) as one shard, then keep the cache under its size limit."""
        if not texts:
            return
        array = np.ascontiguousarray(vectors, dtype=np.float32)
        shard = uuid.uuid4().hex
        path = self.shard_dir / f"{shard}.npy"
        temporary = self.shard_dir / f".{shard}.npy.tmp"
        try:
            with open(temporary, "wb") as handle:
                np.save(handle, array, allow_pickle=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
            fsync_dir(self.shard_dir)
            sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
            size = path.stat().st_size
            now = time.time()
            keys = [(text_key(fingerprint_sha256, kind, text, prompt), shard, row) for row, text in enumerate(texts)]
            with self._write() as db:
                db.execute(
                    "INSERT INTO shards VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (shard, encoder, fingerprint_sha256, array.shape[1], len(texts), size, sha256, now, now),
                )
                db.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)", keys)
        except (OSError, sqlite3.Error):
            # A full disk or a locked database costs the cache this shard, never the run.
            temporary.unlink(missing_ok=True)
            self._drop(shard)
            return
        self._evict()

    def _evict(self) -> None:
        with self._connect() as db:
            total = db.execute("SELECT COALESCE(SUM(bytes), 0) FROM shards").fetchone()[0]
            if total <= self.max_bytes:
                return
            oldest = db.execute("SELECT id, bytes FROM shards ORDER BY used, created").fetchall()
        for shard, size in oldest:
            if total <= self.max_bytes:
                break
            self._drop(shard)
            total -= size

    def _drop(self, shard: str) -> None:
        """Forget a shard (index first, so no reader is sent to a file about to vanish), then delete it."""
        with contextlib.suppress(sqlite3.Error), self._write() as db:
            db.execute("DELETE FROM vectors WHERE shard = ?", (shard,))
            if db.execute("DELETE FROM shards WHERE id = ?", (shard,)).rowcount:
                self.dropped_shards += 1
        (self.shard_dir / f"{shard}.npy").unlink(missing_ok=True)

    # -- maintenance ------------------------------------------------------------------------

    def stats(self) -> CacheStats:
        with self._connect() as db:
            shards, total = db.execute("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM shards").fetchone()
            vectors = db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
            rows = db.execute(
                "SELECT s.encoder, COUNT(v.key), s.bytes, s.id FROM shards s LEFT JOIN vectors v ON v.shard = s.id "
                "GROUP BY s.id"
            ).fetchall()
        by_encoder: dict[str, tuple[int, int]] = {}
        for encoder, count, size, _shard in rows:
            have = by_encoder.get(encoder, (0, 0))
            by_encoder[encoder] = (have[0] + count, have[1] + size)
        return CacheStats(self.folder, total, shards, vectors, self.max_bytes, dict(sorted(by_encoder.items())))

    def clear(self, encoder: str | None = None) -> int:
        """Delete every shard (or one encoder's); return how many."""
        with self._connect() as db:
            if encoder is None:
                shards = [row[0] for row in db.execute("SELECT id FROM shards")]
            else:
                shards = [row[0] for row in db.execute("SELECT id FROM shards WHERE encoder = ?", (encoder,))]
        for shard in shards:
            self._drop(shard)
        if encoder is None:  # leftovers of killed writers too
            for stray in self.shard_dir.glob(".*.npy.tmp"):
                stray.unlink(missing_ok=True)
        return len(shards)

    # -- sqlite -----------------------------------------------------------------------------

    def _create_index(self) -> None:
        """Make the index a WAL database with its tables, however many processes open a new cache at once.

        Both steps need the write lock.  SQLite refuses a connection that would upgrade a read lock while another
        waits to write at once, without its busy timeout (waiting could deadlock), so the ranks of one torchrun
        job opening a fresh cache together saw "database is locked".  Here the write lock is taken first
        (``BEGIN IMMEDIATE``, which does wait) and a refusal is retried until :data:`OPEN_SECONDS` have passed.
        WAL mode is a property of the file, so every later connection has it.
        """
        deadline = time.monotonic() + OPEN_SECONDS
        while True:
            try:
                with self._connect() as db:
                    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        db.execute("PRAGMA journal_mode=WAL")
                    db.execute("BEGIN IMMEDIATE")
                    for statement in filter(str.strip, SCHEMA.split(";")):
                        db.execute(statement)
                    db.execute("COMMIT")
                return
            except sqlite3.OperationalError as exc:
                if not getattr(exc, "sqlite_errorname", "").startswith(BUSY) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.01, 0.1))  # noqa: S311 (jitter, not secrecy)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection to the index; a damaged index is a :class:`CorruptCacheIndex`, wherever it shows."""
        db = sqlite3.connect(self.folder / INDEX_FILE, timeout=OPEN_SECONDS, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout={OPEN_SECONDS * 1000:.0f}")
            yield db
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorname", None) in CORRUPTION:
                raise CorruptCacheIndex(self.folder, exc) from None
            raise
        finally:
            db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """An immediate transaction: two writers queue on the busy timeout instead of failing midway."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
