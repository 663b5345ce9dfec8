"""``hash-bow``: a hashed bag of words, the cheapest lexical baseline there is, and fully deterministic.

Lower-cased word unigrams and bigrams are hashed (CRC-32, stable across runs,
machines and Python versions, unlike ``hash()``) into 1024 signed buckets (the
"hashing trick", Weinberger et al. 2009), weighted by sublinear term frequency
(1 + log tf) and L2-normalised.  It needs no model and no download, runs the whole
default suite in seconds, and gives the same vectors everywhere: what a CI
regression check needs as its fixed point.  It is also a fair floor to print
next to dense models: cosine of hashed tf vectors is lexical overlap.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness import Encoder, EncoderOptions, EncoderRegister, EncoderSettings, TextKind, hookimpl

WORD = re.compile(r"\w+", re.UNICODE)
DIM = 1024
VERSION = 1
"""Bump when the featurisation changes: it is part of the fingerprint."""


class HashedBagOfWords(Encoder):
    def __init__(self, dim: int = DIM) -> None:
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": "hashed-bag-of-words",
            "version": VERSION,
            "dim": self._dim,
            "features": "lower-cased unigrams + bigrams",
            "hash": "crc32, sign from bit 31",
            "weighting": "1 + log(tf), L2-normalised",
        }

    def metadata(self) -> dict[str, Any]:
        return {"library": "numpy", "similarity": "cosine", "parameters": 0}

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = WORD.findall(text.lower())
            features = Counter(words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)])
            for feature, count in features.items():
                code = zlib.crc32(feature.encode("utf-8"))
                sign = -1.0 if code & 0x80000000 else 1.0
                out[row, code % self._dim] += sign * (1.0 + math.log(count))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


def _hash_bow(settings: EncoderSettings[EncoderOptions]) -> HashedBagOfWords:
    return HashedBagOfWords()


@hookimpl
def harness_register_encoders(register: EncoderRegister) -> None:
    register("hash-bow", _hash_bow, "hashed bag of words (1024-d, no model): a deterministic lexical baseline")
