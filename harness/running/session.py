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

Under torchrun (:mod:`harness.running.world`) every rank calls ``encode`` with the
same texts; the texts still missing after the cache are split into contiguous
shards of about equal characters (the one measure of tokens every encoder
shares), cut between chunks of :data:`CHUNK_TEXTS`, each rank encodes its own shard, and the vectors are gathered, so every
rank returns the same matrix a single process would.  A task that shards its own
work (retrieval's corpus) calls :meth:`EncodingSession.local` for this rank's texts.

A session works for one task (``task``, a :class:`~harness.prompts.TaskContext`: the runner makes one per
task).  Before encoding a kind of text it asks the encoder which prompt applies
(:meth:`~harness.encoder.Encoder.prompt`, MTEB's resolution order, :mod:`harness.prompts`); a prompt's text
joins the cache key, the encoder gets ``encode_with_prompt`` instead of ``encode``, and
:attr:`EncodingSession.prompts_applied` keeps what was applied for the result file.  Encoders without
prompts are asked nothing new (the base class answers None) and see ``encode(texts, kind)`` as before.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from harness.encoder import Capability, Encoder, Ranking, TextKind
from harness.errors import EncoderOutputError, EncoderRaised, HarnessError, one_line
from harness.prompts import Prompt, TaskContext
from harness.running.embedding_cache import EmbeddingCache
from harness.running.world import World

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
        world: World | None = None,
        task: TaskContext | None = None,
    ) -> None:
        """``cache`` (with the encoder's ``fingerprint_sha256``) supplies vectors encoded before and keeps new ones.

        ``world``: the ranks that share the encoding (default: this process alone).  ``task``: the task the
        vectors are for, which the encoder's prompt may depend on (None: no task, prompts by kind alone).
        """
        if cache is not None and not fingerprint_sha256:
            raise ValueError("an embedding cache needs the encoder's fingerprint_sha256")
        self.encoder = encoder
        self.progress = progress
        self.chunk_texts = chunk_texts
        self.cache = cache
        self.fingerprint_sha256 = fingerprint_sha256 or ""
        self.world = world or World()
        self.task = task
        self._prompts: dict[TextKind, Prompt | None] = {}
        self.prompts_applied: dict[str, Prompt] = {}
        """The prompt applied to each kind of text this session embedded (only kinds that had one)."""
        self._local_counts = np.zeros(3, dtype=np.int64)
        """Texts requested, from the cache and encoded by :meth:`local` on this rank, not yet in the totals."""
        self.seconds = 0.0
        self.texts_requested = 0
        self.texts_encoded = 0
        self.texts_from_cache = 0

    def __call__(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        """Vectors of ``texts`` (every rank passes the same texts and gets every vector; the work is shared)."""
        started = time.perf_counter()
        try:
            return self._encode(texts, TextKind(kind), shared=True)
        finally:
            self.seconds += time.perf_counter() - started

    def local(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        """Vectors of this rank's own ``texts``, encoded here alone (no other rank takes part)."""
        started = time.perf_counter()
        try:
            return self._encode(texts, TextKind(kind), shared=False)
        finally:
            self.seconds += time.perf_counter() - started

    def use_task(self, task: TaskContext | None) -> None:
        """Work for ``task`` from now on (the MTEB bridge, whose one session serves every MTEB task it is given)."""
        if task != self.task:
            self.task = task
            self._prompts = {}
            self.prompts_applied = {}

    def counts(self) -> tuple[int, int, int]:
        """Texts requested, taken from the cache and encoded, over every rank's work so far."""
        return self.texts_requested, self.texts_from_cache, self.texts_encoded

    def settle(self) -> None:
        """Add every rank's :meth:`local` counts to the totals (every rank calls this, after a task)."""
        local = self.world.all_gather_rows(self._local_counts.reshape(1, 3)).sum(axis=0)
        self.texts_requested, self.texts_from_cache, self.texts_encoded = np.add(self.counts(), local).tolist()
        self._local_counts = np.zeros(3, dtype=np.int64)

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
            raise EncoderRaised(f"encoder {self._name()!r} raised {type(exc).__name__}: {one_line(exc)}") from exc

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

    def _encode(self, texts: Sequence[str], kind: TextKind, *, shared: bool) -> np.ndarray:
        if Capability.VECTORS not in self.capabilities:
            raise HarnessError(f"encoder {self._name()!r} has no dense vectors (it ranks a corpus)")
        _check_texts(texts)
        world = self.world if shared else World()
        unique = list(dict.fromkeys(texts))
        slot = {text: i for i, text in enumerate(unique)}
        dim = int(self.encoder.dim or 0)
        vectors = np.empty((len(unique), dim), dtype=np.float32)
        prompt = self._prompt(kind)
        cache = self.cache
        cached = cache.get(self.fingerprint_sha256, kind, unique, dim, prompt_text(prompt)) if cache is not None else {}
        lacking = np.ones(len(unique), dtype=bool)
        lacking[list(cached)] = False
        lacking = world.union(lacking)  # a text any rank lacks is encoded: every rank then splits the same list
        for position, vector in cached.items():
            vectors[position] = vector
        order = sorted(np.flatnonzero(lacking).tolist(), key=lambda i: -len(unique[i]))
        # Shards of whole chunks: each chunk reaches the encoder exactly as in one process (the same batches, the
        # same padding), so the vectors are those one process computes, to the last bit.
        start, stop = world.shard([len(unique[i]) for i in order], align=self.chunk_texts)
        counts = (len(texts), len(unique) - len(order), len(order))
        if shared:
            self.texts_requested, self.texts_from_cache, self.texts_encoded = np.add(self.counts(), counts).tolist()
        else:
            self._local_counts = np.add(self._local_counts, counts)
        mine, error = np.empty((0, dim), dtype=np.float32), None
        try:
            mine = self._encode_rows(unique, order[start:stop], kind, dim, start, prompt)
        except Exception as exc:  # every rank must hear of it before the gather
            error = exc
        world.agree(error)
        vectors[order] = world.all_gather_rows(mine)
        return _reorder(vectors, slot, texts)

    def _encode_rows(
        self, unique: list[str], rows: list[int], kind: TextKind, dim: int, offset: int, prompt: Prompt | None
    ) -> np.ndarray:
        """The vectors of ``unique[rows]``, a chunk per call to the encoder, each chunk cached as it comes."""
        out = np.empty((len(rows), dim), dtype=np.float32)
        with tqdm(
            total=len(rows),
            desc=f"encoding {kind.value}s",
            unit="text",
            disable=self._progress_disabled(),
            leave=False,
            dynamic_ncols=True,
        ) as bar:
            for start in range(0, len(rows), self.chunk_texts):
                chunk = [unique[i] for i in rows[start : start + self.chunk_texts]]
                if prompt is None:
                    raw = self._call(self.encoder.encode, chunk, kind)
                else:
                    raw = self._call(self.encoder.encode_with_prompt, chunk, kind, prompt)
                vectors = self._checked(raw, len(chunk), dim, offset + start)
                out[start : start + len(chunk)] = vectors
                if self.cache is not None:
                    self.cache.put(self._name(), self.fingerprint_sha256, kind, chunk, vectors, prompt_text(prompt))
                bar.update(len(chunk))
        return out

    def _prompt(self, kind: TextKind) -> Prompt | None:
        """The encoder's prompt for ``kind`` texts of this session's task, asked once and remembered."""
        if kind not in self._prompts:
            ask = getattr(self.encoder, "prompt", None)  # an object that only quacks like an Encoder has none
            prompt = self._call(ask, self.task, kind) if ask is not None else None
            if prompt is not None and not (isinstance(prompt, Prompt) and isinstance(prompt.text, str)):
                raise EncoderOutputError(
                    f"encoder {self._name()!r} returned {type(prompt).__name__} from prompt(), not a Prompt or None"
                )
            self._prompts[kind] = prompt
        prompt = self._prompts[kind]
        if prompt is not None and prompt.text:  # an empty prompt is an explicit "none" (a model's entry switched off)
            self.prompts_applied[kind.value] = prompt
        return prompt

    def _progress_disabled(self) -> bool | None:
        # None lets tqdm decide: bars on a terminal, quiet when output is a pipe or file; one rank's bar only.
        if not self.world.is_main:
            return True
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


def prompt_text(prompt: Prompt | None) -> str | None:
    """What the cache key adds for ``prompt``: its text, or nothing for no prompt or an empty one (the same vectors)."""
    return prompt.text if prompt is not None and prompt.text else None


def _check_texts(texts: Sequence[str]) -> None:
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise HarnessError(f"text {position} handed to the encoder is {type(text).__name__}, not str")


def _reorder(vectors: np.ndarray, slot: dict[str, int], texts: Sequence[str]) -> np.ndarray:
    index = np.fromiter((slot[t] for t in texts), dtype=np.int64, count=len(texts))
    return vectors[index]
