"""A deterministic, weight-free encoder and small tasks for the fast test suite.

They register through the same hooks as any plugin (the way llm's tests register
a fake embedding model), so tests exercise the real plugin path.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness import Encoder, EncoderOptions, EncoderSettings, ModelOptions, TextKind, hookimpl, option

WORD = re.compile(r"\w+")


class HashingEncoder(Encoder):
    """Bag of hashed lower-cased words (and word bigrams): similar texts get similar vectors."""

    def __init__(self, dim: int = 64, salt: str = "") -> None:
        self._dim = dim
        self.salt = salt
        self.calls: list[tuple[int, TextKind]] = []

    @property
    def dim(self) -> int:
        return self._dim

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "hashing", "dim": self._dim, "salt": self.salt}

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        self.calls.append((len(texts), kind))
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = WORD.findall(text.lower())
            for token in words + [a + " " + b for a, b in zip(words, words[1:], strict=False)]:
                digest = hashlib.blake2b((self.salt + token).encode(), digest_size=8).digest()
                out[row, int.from_bytes(digest[:4], "little") % self._dim] += 1.0 if digest[4] & 1 else -1.0
            out[row, 0] += 0.01  # never all-zero
        return out


class BrokenEncoder(HashingEncoder):
    """Returns NaN: the harness must refuse the output in one line."""

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        out = super().encode(texts, kind)
        out[0, 0] = np.nan
        return out


class HashingOptions(ModelOptions):
    """The fake declares the common model options, so tests can pass them through the real option path."""

    salt: str = option("", "changes every vector (a different model, as far as the harness can tell)")


class FakePlugin:
    """Registered in-process by the ``fake_plugin`` fixture."""

    encoders: dict[str, HashingEncoder] = {}

    @hookimpl
    def harness_register_encoders(self, register: Any) -> None:
        def hashing(settings: EncoderSettings[HashingOptions]) -> HashingEncoder:
            encoder = HashingEncoder(salt=settings.options.salt)
            FakePlugin.encoders["hashing"] = encoder
            return encoder

        register("hashing", hashing, "deterministic hashed bag of words (tests)", options=HashingOptions)
        register("broken", lambda settings: BrokenEncoder(), "returns NaN (tests)", options=EncoderOptions)
