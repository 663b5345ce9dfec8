"""What an encoder is to the harness: texts in, float32 vectors out.

The harness does the rest (deduplication, length sorting, chunking, progress,
validation of the output, timing), so an encoder plugin stays a few lines long.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


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


@dataclass(frozen=True)
class EncoderSettings:
    """What the user asked for on the command line, handed to encoder factories."""

    argument: str | None = None
    """For a family (``sbert:PATH``), the text after the colon."""
    device: str = "cpu"
    batch_size: int = 32
    options: dict[str, Any] = field(default_factory=dict)


class Encoder(ABC):
    """An embedding model as the harness sees it.

    Subclasses set :attr:`name` and implement :attr:`dim`, :meth:`fingerprint` and
    :meth:`encode`.
    """

    name: str = ""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Embedding width."""

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
