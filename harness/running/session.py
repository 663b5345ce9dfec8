"""Calling an encoder efficiently and safely on a task's texts.

Tasks hand over all their texts at once; this module removes duplicates (STS sets
repeat sentences; SICK repeats most of them), sorts the unique texts by length so
batches pad little, feeds the encoder in chunks with a progress bar, checks that
what comes back is a finite ``[n, dim]`` matrix, and puts the rows back in the
task's order.  With an :class:`~harness.running.embedding_cache.EmbeddingCache`, texts embedded
before (by any task or run, for the same encoder fingerprint) come from the cache
and only the rest reach the encoder.  It also keeps the encode time, so results
can report encoding and evaluation separately.  For an encoder that ranks a corpus instead (BM25), it
passes ``rank`` through with the same timing and checks the ranking it returns.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from harness.encoder import Capability, Encoder, Ranking, TextKind
from harness.errors import EncoderOutputError, HarnessError, one_line
from harness.running.embedding_cache import EmbeddingCache

CHUNK_TEXTS = 2048
"""Texts per call to ``Encoder.encode``: large enough that per-call overhead vanishes,
small enough for a responsive progress bar and bounded memory."""


class EncodingSession:
    """The ``encode(texts, kind)`` function handed to a task; accumulates time and counts."""

    def __init__(
        self,
        encoder: Encoder,
        *,
        progress: bool | None = None,
        chunk_texts: int = CHUNK_TEXTS,
        cache: EmbeddingCache | None = None,
        fingerprint_sha256: str | None = None,
    ) -> None:
        """``cache`` (with the encoder's ``fingerprint_sha256``) supplies vectors encoded before and keeps new ones."""
        if cache is not None and not fingerprint_sha256:
            raise ValueError("an embedding cache needs the encoder's fingerprint_sha256")
        self.encoder = encoder
        self.progress = progress
        self.chunk_texts = chunk_texts
        self.cache = cache
        self.fingerprint_sha256 = fingerprint_sha256 or ""
        self.seconds = 0.0
        self.texts_requested = 0
        self.texts_encoded = 0
        self.texts_from_cache = 0

    def __call__(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self._encode(texts, TextKind(kind))
        finally:
            self.seconds += time.perf_counter() - started

    @property
    def capabilities(self) -> frozenset[Capability]:
        # An object that only quacks like an Encoder (no capabilities attribute) embeds.
        return frozenset(getattr(self.encoder, "capabilities", {Capability.VECTORS}))

    def rank(self, queries: Sequence[str], documents: Sequence[str], k: int) -> Ranking:
        """The encoder's top ``k`` documents per query, checked: shapes, index range, finite scores."""
        if Capability.RANKING not in self.capabilities:
            raise HarnessError(f"encoder {self._name()!r} does not rank a corpus (it embeds: use encode)")
        _check_texts(queries)
        _check_texts(documents)
        k = min(k, len(documents))
        started = time.perf_counter()
        try:
            ranking = self._call(self.encoder.rank, list(queries), list(documents), k)
        finally:
            self.seconds += time.perf_counter() - started
        self.texts_requested += len(queries) + len(documents)
        self.texts_encoded += len(queries) + len(documents)
        return self._checked_ranking(ranking, len(queries), len(documents), k)

    def _call(self, method: Any, *args: Any) -> Any:
        """Call the encoder; an exception from inside it names the encoder (a plugin's bug, in one line)."""
        try:
            return method(*args)
        except HarnessError:
            raise
        except Exception as exc:
            raise EncoderOutputError(f"encoder {self._name()!r} raised {type(exc).__name__}: {one_line(exc)}") from exc

    def _name(self) -> str:
        return self.encoder.name or type(self.encoder).__name__

    def _checked_ranking(self, ranking: Any, n_queries: int, n_documents: int, k: int) -> Ranking:
        name = self._name()
        if not isinstance(ranking, Ranking):
            raise EncoderOutputError(f"encoder {name!r} returned {type(ranking).__name__} from rank(), not a Ranking")
        indices = np.asarray(ranking.indices)
        scores = np.asarray(ranking.scores, dtype=np.float32)
        if indices.shape != scores.shape or indices.ndim != 2 or indices.shape[0] != n_queries or indices.shape[1] > k:
            raise EncoderOutputError(
                f"encoder {name!r} ranked with indices {tuple(indices.shape)} and scores {tuple(scores.shape)} "
                f"for {n_queries} queries; expected ({n_queries}, k<={k}) for both"
            )
        if not np.issubdtype(indices.dtype, np.integer):
            raise EncoderOutputError(f"encoder {name!r} ranked with {indices.dtype} indices, not integers")
        if indices.size and (indices.min() < 0 or indices.max() >= n_documents):
            raise EncoderOutputError(f"encoder {name!r} ranked a document index outside 0..{n_documents - 1}")
        if not np.isfinite(scores).all():
            raise EncoderOutputError(f"encoder {name!r} ranked with NaN or infinite scores")
        return Ranking(indices.astype(np.int64), scores)

    def _encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        if Capability.VECTORS not in self.capabilities:
            raise HarnessError(f"encoder {self._name()!r} has no dense vectors (it ranks a corpus)")
        _check_texts(texts)
        unique = list(dict.fromkeys(texts))
        slot = {text: i for i, text in enumerate(unique)}
        dim = int(self.encoder.dim or 0)
        vectors = np.empty((len(unique), dim), dtype=np.float32)
        cached = self.cache.get(self.fingerprint_sha256, kind, unique, dim) if self.cache is not None else {}
        for position, vector in cached.items():
            vectors[position] = vector
        missing = [i for i in range(len(unique)) if i not in cached]
        order = sorted(missing, key=lambda i: -len(unique[i]))
        self.texts_requested += len(texts)
        self.texts_from_cache += len(cached)
        self.texts_encoded += len(missing)
        with tqdm(
            total=len(missing),
            desc=f"encoding {kind.value}s",
            unit="text",
            disable=self._progress_disabled(),
            leave=False,
            dynamic_ncols=True,
        ) as bar:
            for start in range(0, len(order), self.chunk_texts):
                rows = order[start : start + self.chunk_texts]
                chunk = [unique[i] for i in rows]
                out = self._checked(self._call(self.encoder.encode, chunk, kind), len(chunk), dim, start)
                vectors[rows] = out
                if self.cache is not None:
                    self.cache.put(self._name(), self.fingerprint_sha256, kind, chunk, out)
                bar.update(len(chunk))
        return _reorder(vectors, slot, texts)

    def _progress_disabled(self) -> bool | None:
        # None lets tqdm decide: bars on a terminal, quiet when output is a pipe or file.
        return None if self.progress is None else not self.progress

    def _checked(self, out: Any, n: int, dim: int, offset: int) -> np.ndarray:
        name = self._name()
        if hasattr(out, "detach"):  # a torch tensor, possibly on a GPU
            out = out.detach().float().cpu().numpy()
        try:
            array = np.asarray(out)
            if array.dtype.kind in "cSUV":  # complex parts would be dropped silently, strings of digits parsed
                raise TypeError(f"{array.dtype} values")
            array = array.astype(np.float32, copy=False)
        except (TypeError, ValueError) as exc:
            raise EncoderOutputError(f"encoder {name!r} returned {type(out).__name__}, not numbers ({exc})") from None
        if array.shape != (n, dim):
            raise EncoderOutputError(
                f"encoder {name!r} returned shape {tuple(array.shape)} for {n} texts; expected ({n}, {dim})"
            )
        finite = np.isfinite(array).all(axis=1)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise EncoderOutputError(
                f"encoder {name!r} returned NaN or infinite values ({int((~finite).sum())} of {n} rows, "
                f"first at sorted text {offset + bad})"
            )
        return array


def _check_texts(texts: Sequence[str]) -> None:
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise HarnessError(f"text {position} handed to the encoder is {type(text).__name__}, not str")


def _reorder(vectors: np.ndarray, slot: dict[str, int], texts: Sequence[str]) -> np.ndarray:
    index = np.fromiter((slot[t] for t in texts), dtype=np.int64, count=len(texts))
    return vectors[index]
