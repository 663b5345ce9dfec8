"""Dense retrieval over corpora larger than memory: embeddings on disk, search a block at a time.

A corpus's normalised float32 embeddings are written, chunk by chunk as they are
encoded, to a ``.npy`` file in a scratch folder (``$HARNESS_SCRATCH``, else the
system's temporary folder; removed afterwards, also on error).  The process never
holds the whole matrix: searches read it through memory maps of one block at a
time, unmapped after use, so what stays resident is the queries, their top-k and
one block (the kernel's page cache may keep the file, but that is reclaimable and
not the process's memory).

``$HARNESS_RETRIEVAL_INDEX`` picks the search:

* ``exact`` (default): every query against every document, a block at a time with
  faiss's exact inner-product kernel, merged into a running top-k per query.  The
  results are those of one ``faiss.IndexFlatIP`` over the whole corpus: the same
  scores bit for bit and the same order except among exactly tied scores
  (:func:`exact_search` keeps faiss's BLAS tiles aligned to make that so).
* ``ivf[:nlist=N,nprobe=N]``: an inverted-file index (``IndexIVFFlat``), trained on
  a seeded sample of the corpus and filled a block at a time.  Defaults:
  ``nlist`` = round(sqrt(documents)), at most documents/39 (faiss's minimum of 39
  training points per list); ``nprobe`` = 32 (at most ``nlist``).
* ``hnsw[:M=N,efConstruction=N,efSearch=N]``: a graph index (``IndexHNSWFlat``),
  filled a block at a time.  Defaults: ``M`` = 32, ``efConstruction`` = 40,
  ``efSearch`` = 128, raised to k (1000 for the retrieval protocol) since faiss's
  HNSW returns at most ``efSearch`` results.

Approximate scores and rankings are not the protocol's: such a result records its
mode, parameters and recall against exact search (top 10, 100 and k of up to
:data:`RECALL_QUERIES` seeded queries, searched exactly for the purpose) in the
task's ``details["search"]``; an exact result records ``{"mode": "exact"}``.  The
approximate indexes hold a copy of the vectors in memory (about the matrix's size,
plus the graph for HNSW); only exact search keeps memory to a block.
"""

from __future__ import annotations

import errno
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from harness.errors import HarnessError

INDEX_ENV = "HARNESS_RETRIEVAL_INDEX"
SCRATCH_ENV = "HARNESS_SCRATCH"

BLOCK_BYTES = 128 << 20
"""Corpus rows searched (or added to an index) at a time: about 128 MiB of vectors."""

QUERY_BATCH = 16_384
"""Queries searched against a block at a time; a multiple of faiss's query tile (4096)."""

RECALL_QUERIES = 200
"""Queries (seeded sample) searched exactly to measure an approximate index's recall."""

DEFAULTS: dict[str, dict[str, int]] = {
    "exact": {},
    "ivf": {"nlist": 0, "nprobe": 32},  # nlist 0: chosen from the corpus size
    "hnsw": {"M": 32, "efConstruction": 40, "efSearch": 128},
}


def normalized(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows left at zero), float32: inner product is then cosine."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)


# --- search modes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchMode:
    """How to search: ``exact``, ``ivf`` or ``hnsw`` with the parameters given (others at their defaults)."""

    kind: str = "exact"
    params: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, *, source: str = INDEX_ENV) -> SearchMode:
        """``exact``, ``ivf:nlist=1024,nprobe=32``, ``hnsw:M=32``...; anything else is a one-line error."""
        kind, _, rest = text.strip().partition(":")
        kind = kind.strip().lower()
        usage = "expected exact, ivf[:nlist=N,nprobe=N] or hnsw[:M=N,efConstruction=N,efSearch=N]"
        if kind not in DEFAULTS:
            raise HarnessError(f"{source}={text!r}: unknown search mode {kind!r}; {usage}")
        params: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in rest.split(","))):
            name, equals, value = item.partition("=")
            name = name.strip()
            if name not in DEFAULTS[kind]:
                known = ", ".join(DEFAULTS[kind]) or "none"
                raise HarnessError(f"{source}={text!r}: {kind} has no parameter {name!r} (parameters: {known})")
            if not equals or not value.strip().isdigit() or int(value) < 1:
                raise HarnessError(f"{source}={text!r}: {name} must be a positive integer, got {value.strip()!r}")
            params[name] = int(value)
        return cls(kind, params)

    @classmethod
    def from_env(cls) -> SearchMode:
        """The mode ``$HARNESS_RETRIEVAL_INDEX`` asks for; exact when unset or empty."""
        return cls.parse(os.environ.get(INDEX_ENV) or "exact")

    def resolved(self, n_documents: int) -> dict[str, int]:
        """Every parameter of this mode for a corpus of ``n_documents``: given values over defaults."""
        params = {**DEFAULTS[self.kind], **self.params}
        if self.kind == "ivf":
            if not params["nlist"]:
                params["nlist"] = max(1, min(round(math.sqrt(n_documents)), n_documents // 39))
            params["nlist"] = min(params["nlist"], n_documents)
            params["nprobe"] = min(params["nprobe"], params["nlist"])
        return params


# --- embeddings on disk ---------------------------------------------------------------------------


@contextmanager
def scratch_folder() -> Iterator[Path]:
    """A private folder under ``$HARNESS_SCRATCH`` (or the system's temporary folder), removed on exit."""
    parent = os.environ.get(SCRATCH_ENV) or None
    if parent is not None and not Path(parent).is_dir():
        raise HarnessError(f"{SCRATCH_ENV}={parent!r}: no such folder (it holds corpus embeddings during retrieval)")
    with tempfile.TemporaryDirectory(prefix="harness-retrieval-", dir=parent) as folder:
        yield Path(folder)


class VectorFile:
    """A ``[rows, dim]`` float32 ``.npy`` file, written once in row order and read a block at a time.

    Rows are written with plain file writes, not through a writable map: a full
    disk is then an ``OSError`` rather than a SIGBUS, and dirty pages never count
    as the process's memory.  The space is reserved up front, so a corpus that does
    not fit fails at once with the size it needs.  Reads map one block and unmap it
    when the block is dropped, so resident memory stays at a block.
    """

    def __init__(self, path: Path, rows: int, dim: int) -> None:
        self.path, self.rows, self.dim = Path(path), int(rows), int(dim)
        header = np.lib.format.open_memmap(self.path, mode="w+", dtype=np.float32, shape=(self.rows, self.dim))
        self.offset = int(header.offset)
        del header  # only the header was written; nothing was touched through the map
        self.written = 0
        self._handle = open(self.path, "r+b")  # noqa: SIM115 (closed by close())
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(self._handle.fileno(), 0, self.offset + self.nbytes)
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system that cannot reserve: writes will tell
                return
            self._handle.close()
            raise HarnessError(
                f"cannot reserve {self.nbytes / 2**30:.2f} GiB for corpus embeddings in {self.path.parent.parent} "
                f"({exc.strerror}); point {SCRATCH_ENV} at a folder with room"
            ) from None

    @classmethod
    def open(cls, path: Path) -> VectorFile:
        """A complete file written earlier, for reading (benchmarks reuse one across processes)."""
        header = np.load(path, mmap_mode="r")
        vectors = cls.__new__(cls)
        vectors.path, (vectors.rows, vectors.dim) = Path(path), header.shape
        vectors.offset, vectors.written = int(header.offset), header.shape[0]
        del header
        return vectors

    @property
    def nbytes(self) -> int:
        return self.rows * self.dim * 4

    def append(self, vectors: np.ndarray) -> None:
        """Write the next rows (float32, ``[n, dim]``)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or self.written + len(vectors) > self.rows:
            raise ValueError(f"rows {vectors.shape} do not fit a [{self.rows}, {self.dim}] file at row {self.written}")
        self._handle.seek(self.offset + self.written * self.dim * 4)
        self._handle.write(vectors.data.cast("B"))
        self.written += len(vectors)

    def close(self) -> None:
        """Finish writing (the file is complete once every row is written)."""
        handle = getattr(self, "_handle", None)
        if handle is not None and not handle.closed:
            handle.close()

    def block(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as a read-only map of just that region (unmapped when dropped)."""
        stop = min(stop, self.rows)
        if stop <= start:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.memmap(
            self.path,
            dtype=np.float32,
            mode="r",
            offset=self.offset + start * self.dim * 4,
            shape=(stop - start, self.dim),
        )


Corpus = np.ndarray | VectorFile
"""Document vectors: in memory (small corpora, tests) or on disk."""


def _shape(corpus: Corpus) -> tuple[int, int]:
    return (corpus.rows, corpus.dim) if isinstance(corpus, VectorFile) else tuple(corpus.shape)


def _block(corpus: Corpus, start: int, stop: int) -> np.ndarray:
    return corpus.block(start, stop) if isinstance(corpus, VectorFile) else corpus[start:stop]


def block_rows(dim: int, block_bytes: int = BLOCK_BYTES) -> int:
    """Rows per block: ``block_bytes`` of vectors, a multiple of faiss's database tile (1024 rows).

    Aligned blocks make faiss run the very same BLAS calls as over the whole corpus,
    which is what keeps block search's scores identical to one flat index's.
    """
    tile = faiss.cvar.distance_compute_blas_database_bs
    return max(tile, block_bytes // (4 * dim) // tile * tile)


def embed_corpus(texts: list[str], embed: Callable[[list[str]], np.ndarray], folder: Path, chunk: int) -> VectorFile:
    """Embed ``texts`` ``chunk`` at a time, normalise and write each chunk to ``folder/corpus.npy``."""
    vectors: VectorFile | None = None
    try:
        for start in range(0, len(texts), chunk):
            rows = normalized(embed(texts[start : start + chunk]))
            if vectors is None:
                vectors = VectorFile(folder / "corpus.npy", len(texts), rows.shape[1])
            vectors.append(rows)
    finally:
        if vectors is not None:
            vectors.close()
    assert vectors is not None, "an empty corpus is refused when it is read"
    return vectors


# --- exact search ---------------------------------------------------------------------------------


def _query_batches(n_queries: int, dim: int) -> list[tuple[int, int]]:
    """Query ranges searched together; a small tail joins the batch before it.

    faiss takes its exact sequential path when ``queries x dim`` is under its BLAS
    threshold and BLAS otherwise; a tail small enough to switch path would change
    its scores in the last float bit, so it is never searched on its own.
    """
    bounds = list(range(0, n_queries, QUERY_BATCH)) + [n_queries]
    batches = list(zip(bounds[:-1], bounds[1:], strict=True))
    if len(batches) > 1 and (batches[-1][1] - batches[-1][0]) * dim < faiss.cvar.distance_compute_blas_threshold:
        batches[-2:] = [(batches[-2][0], n_queries)]
    return batches


def exact_search(
    queries: np.ndarray, corpus: Corpus, k: int, *, rows_per_block: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's top ``min(k, documents)`` documents by inner product, exactly, a corpus block at a time.

    Returns ``(scores, rows)`` of shape ``[queries, min(k, documents)]``, best
    first, as ``faiss.IndexFlatIP`` over the whole corpus would, bit for bit.  One
    exception: with fewer queries than faiss has threads and a corpus of 10,000 or
    more, faiss splits the flat search by corpus among its threads, and its scores
    then depend on the thread count in the last bit; block search agrees with them
    to that bit.  Memory: the results, one block's results and one block; never
    queries x corpus.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    n_documents, dim = _shape(corpus)
    k = min(k, n_documents)
    step = rows_per_block or block_rows(dim)
    tile = faiss.cvar.distance_compute_blas_database_bs
    if step % tile:
        raise ValueError(f"rows_per_block must be a multiple of {tile} (faiss's database tile), got {step}")
    heap = faiss.ResultHeap(len(queries), k, keep_max=True)
    batches = _query_batches(len(queries), dim)
    for start in range(0, n_documents, step):
        block = _block(corpus, start, start + step)
        for first, last in batches:
            scores, rows = faiss.knn(queries[first:last], block, min(k, len(block)), faiss.METRIC_INNER_PRODUCT)
            rows += start
            if first == 0 and last == len(queries):
                heap.add_result(scores, rows)
            else:
                heap.add_result_subset(np.arange(first, last), scores, rows)
            del scores, rows
        del block  # unmaps a block read from disk
    heap.finalize()
    return heap.D, heap.I


# --- approximate search ---------------------------------------------------------------------------


@dataclass
class SearchOutcome:
    """Top-k scores and rows (row -1: no result), what ``details["search"]`` records, and phase times."""

    scores: np.ndarray
    rows: np.ndarray
    details: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


def _sample_rows(n_documents: int, size: int, seed: int = 0) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n_documents, size=min(size, n_documents), replace=False))


def _gather(corpus: Corpus, rows: np.ndarray) -> np.ndarray:
    """Rows (sorted) of the corpus, read a block at a time."""
    n_documents, dim = _shape(corpus)
    out = np.empty((len(rows), dim), dtype=np.float32)
    step = block_rows(dim)
    for start in range(0, n_documents, step):
        lo, hi = np.searchsorted(rows, [start, start + step])
        if hi > lo:
            block = _block(corpus, start, start + step)
            out[lo:hi] = block[rows[lo:hi] - start]
            del block
    return out


def build_index(corpus: Corpus, mode: SearchMode) -> tuple[faiss.Index, dict[str, int]]:
    """An ``ivf`` or ``hnsw`` index over the corpus, built a block at a time; and its resolved parameters."""
    n_documents, dim = _shape(corpus)
    params = mode.resolved(n_documents)
    index: faiss.Index
    if mode.kind == "ivf":
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, params["nlist"], faiss.METRIC_INNER_PRODUCT)
        index.cp.min_points_per_centroid = 1  # small corpora: no faiss warning on stderr
        index.cp.seed = 1234
        # faiss itself samples at most 256 points per list; 64 is plenty for k-means and reads less.
        index.train(_gather(corpus, _sample_rows(n_documents, 64 * params["nlist"])))
        index.nprobe = params["nprobe"]
    elif mode.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, params["M"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params["efConstruction"]
        storage = faiss.downcast_index(index.storage)
        assert isinstance(storage, faiss.IndexFlatCodes)  # an IndexFlat: downcast_index returns the concrete class
        _reserve(storage, n_documents)
    else:
        raise ValueError(f"no index for mode {mode.kind!r}")
    step = block_rows(dim)
    for start in range(0, n_documents, step):
        block = _block(corpus, start, start + step)
        index.add(np.ascontiguousarray(block))
        del block
    return index, params


def _reserve(flat: faiss.IndexFlatCodes, n_vectors: int) -> None:
    """Make room for every vector up front, so that adding block by block never reallocates the storage.

    Each ``add`` grows faiss's code array; a growing ``std::vector`` copies itself into a buffer up to twice
    the size, so peak memory while the last blocks go in reached 1.8x the matrix (2.4 GiB for 1M x 384, against
    1.3 GiB for the vectors).  Growing it to the final size once and shrinking it back keeps the capacity (a
    ``std::vector`` never gives capacity back on ``resize``), and later adds fill it in place.
    """
    flat.codes.resize(n_vectors * flat.code_size)
    flat.codes.resize(0)


def recall_vs_exact(approximate: np.ndarray, exact: np.ndarray, cutoffs: tuple[int, ...]) -> dict[str, float]:
    """Mean share of each query's exact top-c that the approximate top-c found, for each cut-off c."""
    recalls: dict[str, float] = {}
    for c in cutoffs:
        c = min(c, exact.shape[1])
        found = [
            len(set(a[:c][a[:c] >= 0]) & set(e[:c])) / max(1, len(e[:c]))
            for a, e in zip(approximate, exact, strict=True)
        ]
        recalls[f"recall_at_{c}_vs_exact"] = float(np.mean(found)) if found else 1.0
    return recalls


def search(queries: np.ndarray, corpus: Corpus, k: int, mode: SearchMode) -> SearchOutcome:
    """Top ``k`` per query under ``mode``; an approximate mode also measures its recall against exact search."""
    if mode.kind == "exact":
        started = time.perf_counter()
        scores, rows = exact_search(queries, corpus, k)
        return SearchOutcome(scores, rows, {"mode": "exact"}, {"search": time.perf_counter() - started})
    n_documents, _ = _shape(corpus)
    k = min(k, n_documents)
    started = time.perf_counter()
    index, params = build_index(corpus, mode)
    built = time.perf_counter()
    if isinstance(index, faiss.IndexHNSW):  # the hnsw mode's index
        index.hnsw.efSearch = max(params["efSearch"], k)
    scores, rows = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    searched = time.perf_counter()
    del index
    sample = _sample_rows(len(queries), RECALL_QUERIES)
    _, exact_rows = exact_search(queries[sample], corpus, k)
    cutoffs = tuple(sorted({c for c in (10, 100, k) if c <= k}))
    details: dict[str, Any] = {"mode": mode.kind, "parameters": params, "recall_queries": len(sample)}
    if mode.kind == "hnsw":
        details["efSearch_used"] = max(params["efSearch"], k)
    details.update(recall_vs_exact(rows[sample], exact_rows, cutoffs))
    seconds = {"build": built - started, "search": searched - built, "recall": time.perf_counter() - searched}
    return SearchOutcome(scores, rows, details, seconds)
