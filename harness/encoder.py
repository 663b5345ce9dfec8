"""What an encoder is to the harness: texts in, float32 vectors out (or, for a lexical ranker, a ranking).

The harness does the rest (deduplication, length sorting, chunking, progress,
validation of the output, timing), so an encoder plugin stays a few lines long.

Most encoders embed: :meth:`Encoder.encode` returns dense vectors, and every task
can use them.  A sparse lexical model such as BM25 has no dense vectors; what it
can do is rank a corpus for a set of queries.  It subclasses
:class:`RankingEncoder` and implements :meth:`Encoder.rank` instead.  Each encoder
declares its :class:`Capability` set and each task the capabilities it can use
(``Task.uses``); the runner pairs them, and a ranking task (retrieval, code
search) asks the encoder handed to it what it can do.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from harness.options import EncoderOptions
from harness.prompts import Prompt, TaskContext


class TextKind(enum.StrEnum):
    """The role a text plays, for asymmetric encoders.

    cpt wraps queries in ``[ ]`` and documents in ``{ }``; sentence-transformers
    models may carry prompts named ``query`` and ``document``.  ``TEXT`` is for
    symmetric tasks (STS, classification), where both sides play the same role and
    the encoder decides how to treat them.
    """

    QUERY = "query"
    DOCUMENT = "document"
    TEXT = "text"


class Capability(enum.StrEnum):
    """What an encoder can do for a task."""

    VECTORS = "vectors"
    """Dense vectors for any text (:meth:`Encoder.encode`); compared by cosine."""
    RANKING = "ranking"
    """Ranking a corpus of documents for queries (:meth:`Encoder.rank`), as BM25 does."""


@dataclass(frozen=True)
class Ranking:
    """The top ``k`` documents for each query, best first.

    ``indices[i, j]`` is the position (in the documents handed over) of query
    ``i``'s ``j``-th best document and ``scores[i, j]`` its score; both are
    ``[n_queries, k]``, with ``k`` at most the number of documents.  Documents
    beyond the top ``k`` count as unranked (scored below every ranked one).
    """

    indices: np.ndarray
    scores: np.ndarray


OptionsT = TypeVar("OptionsT", bound=EncoderOptions)


@dataclass(frozen=True)
class EncoderSettings(Generic[OptionsT]):
    """What an encoder factory is handed: the family argument and the encoder's own validated options.

    ``options`` is an instance of the schema the encoder registered (:mod:`harness.options`), built from
    ``-o key=value``, the common flags, ``RunOptions.encoder_options`` or ``harness_check(**options)``; every
    value in it was asked for or is the declared default, and none is left unread by construction.
    """

    options: OptionsT
    argument: str | None = None
    """For a family (``sbert:PATH``), the text after the colon."""


class Encoder(ABC):
    """An embedding model as the harness sees it.

    Subclasses set :attr:`name` and implement :attr:`dim`, :meth:`fingerprint` and
    :meth:`encode`.
    """

    name: str = ""
    options: EncoderOptions = EncoderOptions()
    """The validated options it was built with (set by the catalogue); recorded in every result file."""
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.VECTORS})
    """What the encoder can do; :class:`RankingEncoder` changes it to ``{RANKING}``."""

    @property
    @abstractmethod
    def dim(self) -> int | None:
        """Embedding width (``None`` for an encoder without vectors)."""

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """What makes two runs comparable: model id, revision, weights hash, pooling, max length.

        Two result files whose fingerprints differ were made by different models
        (or differently configured ones) and must not be compared as the same
        encoder, so include everything that changes the vectors and nothing else
        (no paths, no batch size, no device).  Values must be JSON-serialisable.
        """

    def metadata(self) -> dict[str, Any]:
        """Descriptive facts for the results file (library versions, parameters, paper)."""
        return {}

    @abstractmethod
    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        """Embed ``texts``; return an array convertible to float32 of shape ``[len(texts), dim]``.

        The harness calls this with chunks of unique texts sorted by length, so an
        implementation need not batch or sort itself; it should not print progress.
        """

    def prompt(self, task: TaskContext | None, kind: TextKind) -> Prompt | None:
        """The prompt this encoder applies to ``kind`` texts of ``task`` (None: the encoder's plain ``encode``).

        The :class:`~harness.running.session.EncodingSession` asks once per task and kind, before encoding: the
        prompt's text becomes part of the embedding cache key and the result file records it.  The default
        applies none, so an encoder that knows nothing of prompts keeps its ``encode(texts, kind)`` unchanged.
        An encoder that takes prompts (``sbert:``, ``hf:``) resolves them with :func:`harness.prompts.resolve`
        (MTEB's order: task-kind, task, family-kind, family, kind) and implements :meth:`encode_with_prompt`.
        ``task`` is None when the session works for no task (an encoder handed to MTEB without one).  A prompt
        with an empty text is an explicit "none" (a model's own entry switched off): the session hands it to
        :meth:`encode_with_prompt`, records nothing and keys the cache as for no prompt.
        """
        return None

    def encode_with_prompt(self, texts: Sequence[str], kind: TextKind, prompt: Prompt) -> np.ndarray:
        """Embed ``texts`` with ``prompt`` applied: called instead of :meth:`encode` when :meth:`prompt` gave one."""
        raise NotImplementedError(f"encoder {self.name!r} returned a prompt but does not implement encode_with_prompt")

    def rank(self, queries: Sequence[str], documents: Sequence[str], k: int) -> Ranking:
        """Rank ``documents`` for each of ``queries``; return the top ``k`` of each (``Capability.RANKING``).

        Only encoders that declare the ranking capability implement this; tasks
        call it through the runner, which validates what comes back.
        """
        raise NotImplementedError(f"encoder {self.name!r} does not rank a corpus (capabilities: vectors)")


class RankingEncoder(Encoder):
    """An encoder that ranks a corpus instead of embedding texts (BM25 and other sparse lexical models).

    It has no dense vectors, so tasks that need vectors (STS, linear probes) do not
    apply to it; the runner reports those as not applicable instead of failing.
    """

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.RANKING})

    @property
    def dim(self) -> None:
        return None

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        raise NotImplementedError(f"encoder {self.name!r} ranks a corpus; it has no dense vectors")

    @abstractmethod
    def rank(self, queries: Sequence[str], documents: Sequence[str], k: int) -> Ranking:
        """Rank ``documents`` for each of ``queries``; return the top ``k`` of each."""
