"""Calling an encoder efficiently and safely on a task's texts.

Tasks hand over all their texts at once; this module removes duplicates (STS sets
repeat sentences; SICK repeats most of them), sorts the unique texts by length so
batches pad little, feeds the encoder in chunks with a progress bar, checks that
what comes back is a finite ``[n, dim]`` matrix, and puts the rows back in the
task's order.  It also keeps the encode time, so results can report encoding and
evaluation separately.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from harness.encoder import Encoder, TextKind
from harness.errors import EncoderOutputError, HarnessError

CHUNK_TEXTS = 2048
"""Texts per call to ``Encoder.encode``: large enough that per-call overhead vanishes,
small enough for a responsive progress bar and bounded memory."""


class EncodingSession:
    """The ``encode(texts, kind)`` function handed to a task; accumulates time and counts."""

    def __init__(self, encoder: Encoder, *, progress: bool | None = None, chunk_texts: int = CHUNK_TEXTS) -> None:
        self.encoder = encoder
        self.progress = progress
        self.chunk_texts = chunk_texts
        self.seconds = 0.0
        self.texts_requested = 0
        self.texts_encoded = 0

    def __call__(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self._encode(texts, TextKind(kind))
        finally:
            self.seconds += time.perf_counter() - started

    def _encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise HarnessError(f"text {position} handed to the encoder is {type(text).__name__}, not str")
        unique = list(dict.fromkeys(texts))
        slot = {text: i for i, text in enumerate(unique)}
        order = sorted(range(len(unique)), key=lambda i: -len(unique[i]))
        dim = self.encoder.dim
        vectors = np.empty((len(unique), dim), dtype=np.float32)
        self.texts_requested += len(texts)
        self.texts_encoded += len(unique)
        with tqdm(
            total=len(unique),
            desc=f"encoding {kind.value}s",
            unit="text",
            disable=self._progress_disabled(),
            leave=False,
            dynamic_ncols=True,
        ) as bar:
            for start in range(0, len(order), self.chunk_texts):
                rows = order[start : start + self.chunk_texts]
                chunk = [unique[i] for i in rows]
                out = self.encoder.encode(chunk, kind)
                vectors[rows] = self._checked(out, len(chunk), dim, start)
                bar.update(len(chunk))
        return _reorder(vectors, slot, texts)

    def _progress_disabled(self) -> bool | None:
        # None lets tqdm decide: bars on a terminal, quiet when output is a pipe or file.
        return None if self.progress is None else not self.progress

    def _checked(self, out: Any, n: int, dim: int, offset: int) -> np.ndarray:
        name = self.encoder.name or type(self.encoder).__name__
        if hasattr(out, "detach"):  # a torch tensor, possibly on a GPU
            out = out.detach().float().cpu().numpy()
        try:
            array = np.asarray(out, dtype=np.float32)
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


def _reorder(vectors: np.ndarray, slot: dict[str, int], texts: Sequence[str]) -> np.ndarray:
    index = np.fromiter((slot[t] for t in texts), dtype=np.int64, count=len(texts))
    return vectors[index]
