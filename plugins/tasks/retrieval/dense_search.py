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
* ``ivfpq[:nlist=N,nprobe=N,m=N,nbits=N]``: the inverted file with product-quantised
  vectors (``IndexIVFPQ``), what fits 21M passages in a few GiB: ``m`` sub-quantisers
  of ``nbits`` bits per vector (defaults 64 and 8, ``m`` lowered to a divisor of the
  dimension), inner product on the reconstructed codes; ``nlist`` and ``nprobe`` as for
  ``ivf``, trained on at least 64 points per list and 2^nbits points in all.
* ``hnsw[:M=N,efConstruction=N,efSearch=N]``: a graph index (``IndexHNSWFlat``),
  filled a block at a time.  Defaults: ``M`` = 32, ``efConstruction`` = 40,
  ``efSearch`` = 128, raised to k (1000 for the retrieval protocol) since faiss's
  HNSW returns at most ``efSearch`` results.

Under torchrun each rank holds its own shard of the corpus (rows ``offset`` to
``offset + rows``, cut at multiples of faiss's 1024-row tile so the arithmetic is
that of one process), searches it, and the ranks' top-k lists are merged with
faiss's result heap (:func:`merge_top_k`): the same ``(score, row)`` order a single
process keeps, so the merged lists are its lists.  ``$HARNESS_CORPUS_DTYPE=float16``
stores corpus vectors in half precision (half the disk and page cache at 21M
passages; searched in float32 a block at a time): another measurement, recorded in
the result's identity, whose score change ``benchmarks/sharded_eval.py`` prints.

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
from harness.running.world import World

INDEX_ENV = "HARNESS_RETRIEVAL_INDEX"
SCRATCH_ENV = "HARNESS_SCRATCH"
CORPUS_DTYPE_ENV = "HARNESS_CORPUS_DTYPE"
CORPUS_DTYPES = ("float32", "float16")

MERGE_ENTRIES = 1 << 22
"""(score, row) entries gathered from all ranks at a time when their top-k lists are merged: 64 MiB of them, about
4.5 times that at the merge's peak, whatever the number of ranks (:func:`merge_queries`)."""


def merge_queries(k: int, ranks: int) -> int:
    """Queries whose top-``k`` lists are gathered from ``ranks`` ranks and merged at a time."""
    return max(1, MERGE_ENTRIES // max(1, k * ranks))


BLOCK_BYTES = 128 << 20
"""Corpus rows searched (or added to an index) at a time: about 128 MiB of vectors."""

QUERY_BATCH = 16_384
"""Queries searched against a block at a time; a multiple of faiss's query tile (4096)."""

RECALL_QUERIES = 200
"""Queries (seeded sample) searched exactly to measure an approximate index's recall."""

DEFAULTS: dict[str, dict[str, int]] = {
    "exact": {},
    "ivf": {"nlist": 0, "nprobe": 32},  # nlist 0: chosen from the corpus size
    "ivfpq": {"nlist": 0, "nprobe": 32, "m": 64, "nbits": 8},
    "hnsw": {"M": 32, "efConstruction": 40, "efSearch": 128},
}


def normalized(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows left at zero), float32: inner product is then cosine."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)


# --- search modes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchMode:
    """How to search: ``exact``, ``ivf``, ``ivfpq`` or ``hnsw`` with the parameters given (others at their defaults)."""

    kind: str = "exact"
    params: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, *, source: str = INDEX_ENV) -> SearchMode:
        """``exact``, ``ivf:nlist=1024,nprobe=32``, ``hnsw:M=32``...; anything else is a one-line error."""
        kind, _, rest = text.strip().partition(":")
        kind = kind.strip().lower()
        usage = (
            "expected exact, ivf[:nlist=N,nprobe=N], ivfpq[:nlist=N,nprobe=N,m=N,nbits=N] "
            "or hnsw[:M=N,efConstruction=N,efSearch=N]"
        )
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

    def resolved(self, n_documents: int, dim: int | None = None) -> dict[str, int]:
        """Every parameter of this mode for a corpus of ``n_documents`` (of ``dim``): given values over defaults."""
        params = {**DEFAULTS[self.kind], **self.params}
        if self.kind == "ivfpq" and dim is not None:
            params["m"] = max(m for m in range(1, min(params["m"], dim) + 1) if dim % m == 0)
        if self.kind in ("ivf", "ivfpq"):
            if not params["nlist"]:
                params["nlist"] = max(1, min(round(math.sqrt(n_documents)), n_documents // 39))
            params["nlist"] = min(params["nlist"], n_documents)
            params["nprobe"] = min(params["nprobe"], params["nlist"])
        return params


def corpus_dtype_from_env() -> str:
    """``float32`` (default) or ``float16``, as ``$HARNESS_CORPUS_DTYPE`` asks; anything else is a one-line error."""
    value = (os.environ.get(CORPUS_DTYPE_ENV) or "float32").strip().lower()
    if value not in CORPUS_DTYPES:
        raise HarnessError(f"{CORPUS_DTYPE_ENV}={value!r}: expected float32 or float16")
    return value


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
    """A ``[rows, dim]`` float32 (or float16) ``.npy`` file, written once in row order and read a block at a time.

    Rows are written with plain file writes, not through a writable map: a full
    disk is then an ``OSError`` rather than a SIGBUS, and dirty pages never count
    as the process's memory.  The space is reserved up front, so a corpus that does
    not fit fails at once with the size it needs.  Reads map one block and unmap it
    when the block is dropped, so resident memory stays at a block.
    """

    def __init__(self, path: Path, rows: int, dim: int, dtype: str = "float32") -> None:
        self.path, self.rows, self.dim = Path(path), int(rows), int(dim)
        self.dtype = np.dtype(dtype)
        header = np.lib.format.open_memmap(self.path, mode="w+", dtype=self.dtype, shape=(self.rows, self.dim))
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
        vectors.offset, vectors.written, vectors.dtype = int(header.offset), header.shape[0], header.dtype
        del header
        return vectors

    @property
    def nbytes(self) -> int:
        return self.rows * self.dim * self.dtype.itemsize

    def append(self, vectors: np.ndarray) -> None:
        """Write the next rows (``[n, dim]``, stored in the file's dtype)."""
        vectors = np.ascontiguousarray(vectors, dtype=self.dtype)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or self.written + len(vectors) > self.rows:
            raise ValueError(f"rows {vectors.shape} do not fit a [{self.rows}, {self.dim}] file at row {self.written}")
        self._handle.seek(self.offset + self.written * self.dim * self.dtype.itemsize)
        self._handle.write(vectors.data.cast("B"))
        self.written += len(vectors)

    def close(self) -> None:
        """Finish writing (the file is complete once every row is written)."""
        handle = getattr(self, "_handle", None)
        if handle is not None and not handle.closed:
            handle.close()

    def block(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as float32: a read-only map of just that region (unmapped when dropped).

        A float16 file's block is converted, a block's worth of float32 at a time.
        """
        stop = min(stop, self.rows)
        if stop <= start:
            return np.empty((0, self.dim), dtype=np.float32)
        mapped = np.memmap(
            self.path,
            dtype=self.dtype,
            mode="r",
            offset=self.offset + start * self.dim * self.dtype.itemsize,
            shape=(stop - start, self.dim),
        )
        return mapped if self.dtype == np.float32 else mapped.astype(np.float32)


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


def embed_corpus(
    texts: list[str], embed: Callable[[list[str]], np.ndarray], folder: Path, chunk: int, dtype: str = "float32"
) -> VectorFile:
    """Embed ``texts`` ``chunk`` at a time, normalise and write each chunk to ``folder/corpus.npy``."""
    vectors: VectorFile | None = None
    try:
        for start in range(0, len(texts), chunk):
            rows = normalized(embed(texts[start : start + chunk]))
            if vectors is None:
                vectors = VectorFile(folder / "corpus.npy", len(texts), rows.shape[1], dtype)
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
    """Each query's top ``min(k, documents)`` documents by inner product, exactly; ties go to the lower row.

    The order is by score, then by corpus row: one total order, so the top ``k`` of a corpus is the top ``k``
    of its shards' top ``k`` lists (:func:`merge_top_k`), and a sharded search finds exactly what one process
    finds.  faiss's heaps keep an arbitrary few of the documents tied at the k-th score; so the search asks
    for one more than ``k``, and where the (k+1)-th ties the k-th (a bag-of-words encoder's many equal
    scores), it searches again with twice the width until the tie ends inside the list, then keeps the
    lowest rows among the tied.  Scores are faiss's, bit for bit (see :func:`_heap_search`).
    """
    n_documents, _ = _shape(corpus)
    k = min(k, n_documents)
    if k == 0:
        return np.empty((len(queries), 0), dtype=np.float32), np.empty((len(queries), 0), dtype=np.int64)
    width = min(k + 1, n_documents)
    scores, rows = _heap_search(queries, corpus, width, rows_per_block=rows_per_block)
    crossing = scores[:, k - 1] == scores[:, width - 1] if width > k else np.zeros(len(queries), dtype=bool)
    while crossing.any() and width < n_documents:
        width = min(2 * width, n_documents)
        wider_scores, wider_rows = _heap_search(queries, corpus, width, rows_per_block=rows_per_block)
        grown = np.full((len(queries), width), np.finfo(np.float32).min, dtype=np.float32)
        grown_rows = np.full((len(queries), width), -1, dtype=np.int64)
        grown[:, : scores.shape[1]], grown_rows[:, : rows.shape[1]] = scores, rows
        grown[crossing], grown_rows[crossing] = wider_scores[crossing], wider_rows[crossing]
        scores, rows = grown, grown_rows
        crossing &= (scores[:, k - 1] == scores[:, width - 1]) & (width < n_documents)
    return canonical_top_k(scores, rows, k)


GPU_ENV = "HARNESS_FAISS_GPU"


def block_knn() -> Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]:
    """faiss's exact top-k of one block: on the CPU, or with ``$HARNESS_FAISS_GPU=1`` on this rank's GPU.

    The GPU kernel (``faiss.knn_gpu``, in faiss-gpu builds only) sums in another order, so its scores may differ
    from the CPU's in the last bit: opt-in, and recorded in the result's identity by the task.  Asking for it
    where the faiss build has no GPU is a one-line error.  (Not yet run on a GPU by this project's tests.)
    """
    if os.environ.get(GPU_ENV, "") not in ("1", "true", "yes"):
        return lambda queries, block, k: faiss.knn(queries, block, k, faiss.METRIC_INNER_PRODUCT)
    if not hasattr(faiss, "knn_gpu") or faiss.get_num_gpus() < 1:
        raise HarnessError(f"{GPU_ENV}=1: this faiss build has no GPU support (faiss-cpu); install faiss-gpu")
    resources = faiss.StandardGpuResources()
    import torch

    device = torch.cuda.current_device() if torch.cuda.is_available() else 0
    return lambda queries, block, k: faiss.knn_gpu(
        resources, queries, np.ascontiguousarray(block), k, metric=faiss.METRIC_INNER_PRODUCT, device=device
    )


def canonical_top_k(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of each query's candidates by score, then by lower corpus row (row -1, none, goes last)."""
    missing = rows < 0
    order = np.lexsort((np.where(missing, np.iinfo(np.int64).max, rows), -scores.astype(np.float64)), axis=1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)


def _heap_search(
    queries: np.ndarray, corpus: Corpus, k: int, *, rows_per_block: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's top ``min(k, documents)`` documents by inner product, a corpus block at a time, faiss's way.

    Returns ``(scores, rows)`` of shape ``[queries, min(k, documents)]``, best
    first, as ``faiss.IndexFlatIP`` over the whole corpus would, bit for bit (which of several documents tied
    at the k-th score it keeps is faiss's heap's choice; :func:`exact_search` makes it the lowest rows).  One
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
    knn = block_knn()
    for start in range(0, n_documents, step):
        block = _block(corpus, start, start + step)
        for first, last in batches:
            scores, rows = knn(queries[first:last], block, min(k, len(block)))
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
    """An ``ivf``, ``ivfpq`` or ``hnsw`` index over the corpus, built a block at a time; its resolved parameters."""
    n_documents, dim = _shape(corpus)
    params = mode.resolved(n_documents, dim)
    index: faiss.Index
    if mode.kind in ("ivf", "ivfpq"):
        quantizer = faiss.IndexFlatIP(dim)
        if mode.kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, dim, params["nlist"], faiss.METRIC_INNER_PRODUCT)
            training = 64 * params["nlist"]
        else:
            index = faiss.IndexIVFPQ(
                quantizer, dim, params["nlist"], params["m"], params["nbits"], faiss.METRIC_INNER_PRODUCT
            )
            index.pq.cp.min_points_per_centroid = 1
            index.pq.cp.seed = 1234
            training = max(64 * params["nlist"], 1 << params["nbits"])
        index.cp.min_points_per_centroid = 1  # small corpora: no faiss warning on stderr
        index.cp.seed = 1234
        # faiss itself samples at most 256 points per list; 64 is plenty for k-means and reads less.
        index.train(_gather(corpus, _sample_rows(n_documents, training)))
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


def search(
    queries: np.ndarray,
    corpus: Corpus | None,
    k: int,
    mode: SearchMode,
    *,
    world: World | None = None,
    offset: int = 0,
    n_documents: int | None = None,
) -> SearchOutcome:
    """Top ``k`` per query under ``mode``; an approximate mode also measures its recall against exact search.

    Under torchrun (``world``), ``corpus`` is this rank's shard, rows ``offset`` onward of a corpus of
    ``n_documents`` (``None``: an empty shard); every rank calls this, and every rank gets the merged lists.
    """
    world = world or World()
    n_documents = n_documents if n_documents is not None else _shape(corpus)[0] if corpus is not None else 0
    k = min(k, n_documents)
    local = _shape(corpus)[0] if corpus is not None else 0
    started = time.perf_counter()

    def exact(chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if corpus is None or not local:
            return _empty(len(chosen))
        return _shifted(exact_search(chosen, corpus, k), offset, local)

    if mode.kind == "exact":
        scores, rows = _merged(world, lambda: exact(queries), k)
        return SearchOutcome(scores, rows, {"mode": "exact"}, {"search": time.perf_counter() - started})
    built: list[float] = []
    resolved: list[dict[str, int]] = []

    def approximate() -> tuple[np.ndarray, np.ndarray]:
        if corpus is None or not local:
            return _empty(len(queries))
        index, params = build_index(corpus, mode)
        built.append(time.perf_counter())
        resolved.append(params)
        if isinstance(index, faiss.IndexHNSW):  # the hnsw mode's index
            index.hnsw.efSearch = max(params["efSearch"], k)
        found = index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, local))
        return _shifted(found, offset, local)

    scores, rows = _merged(world, approximate, k)
    searched = time.perf_counter()
    sample = _sample_rows(len(queries), RECALL_QUERIES)
    _, exact_rows = _merged(world, lambda: exact(queries[sample]), k)
    cutoffs = tuple(sorted({c for c in (10, 100, k) if c <= k}))
    params = resolved[0] if resolved else mode.resolved(max(local, 1))
    details: dict[str, Any] = {"mode": mode.kind, "parameters": params, "recall_queries": len(sample)}
    if world.distributed:
        details["shards"] = world.size  # each rank indexes its own shard: approximate results depend on it
    if mode.kind == "hnsw":
        details["efSearch_used"] = max(params["efSearch"], k)
    details.update(recall_vs_exact(rows[sample], exact_rows, cutoffs))
    build_end = built[0] if built else started
    seconds = {"build": build_end - started, "search": searched - build_end, "recall": time.perf_counter() - searched}
    return SearchOutcome(scores, rows, details, seconds)


def _empty(n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    return np.empty((n_queries, 0), dtype=np.float32), np.empty((n_queries, 0), dtype=np.int64)


def _shifted(found: tuple[np.ndarray, np.ndarray], offset: int, local: int) -> tuple[np.ndarray, np.ndarray]:
    """A shard's results with corpus rows counted from the whole corpus's start (row -1, none, stays -1)."""
    scores, rows = found
    rows = np.asarray(rows, dtype=np.int64)
    return np.asarray(scores, dtype=np.float32), np.where(rows >= 0, rows + offset, -1)


def _merged(
    world: World, compute: Callable[[], tuple[np.ndarray, np.ndarray]], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """``compute()``'s top-k on each rank, merged over ranks (every rank learns first if one failed)."""
    found: tuple[np.ndarray, np.ndarray] | None = None
    error: Exception | None = None
    try:
        found = compute()
    except Exception as exc:
        error = exc
    world.agree(error)
    assert found is not None
    return merge_top_k(world, *found, k)


def merge_top_k(world: World, scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every rank's top-k lists of the same queries merged into the global top ``k``, on every rank.

    Each rank's lists are padded to ``k`` (row -1) and gathered :func:`merge_queries` queries at a time, and the
    best ``k`` by score, then lower row, are kept (:func:`canonical_top_k`): each rank's list holds its shard's
    best under that one order, so the merged lists are those one process searching the whole corpus keeps.
    One process: the lists as they are.
    """
    if not world.distributed:
        return scores, rows
    n_queries = len(scores)
    merged_scores = np.empty((n_queries, k), dtype=np.float32)
    merged_rows = np.empty((n_queries, k), dtype=np.int64)
    lowest = np.finfo(np.float32).min
    step = merge_queries(k, world.size)
    for first in range(0, max(n_queries, 1), step):
        last = min(first + step, n_queries)
        width = scores.shape[1]
        padded = np.full((last - first, k, 2), [lowest, -1], dtype=np.float64)
        padded[:, :width, 0] = scores[first:last]
        padded[:, :width, 1] = rows[first:last]
        every = world.all_gather_rows(padded).reshape(world.size, last - first, k, 2)
        candidates = np.concatenate(list(every), axis=1)  # [queries, ranks * k, 2], rank 0's first
        best_scores, best_rows = canonical_top_k(
            candidates[:, :, 0].astype(np.float32), candidates[:, :, 1].astype(np.int64), k
        )
        merged_scores[first:last], merged_rows[first:last] = best_scores, best_rows
    return merged_scores, merged_rows
