"""The encoding session: deduplication, order, validation of encoder output."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from fakes import HashingEncoder
from harness import TextKind
from harness.errors import EncoderOutputError, HarnessError
from harness.running.session import EncodingSession


def test_rows_follow_the_input_order_and_duplicates_are_encoded_once() -> None:
    encoder = HashingEncoder()
    session = EncodingSession(encoder, chunk_texts=2)
    texts = ["b bb", "a", "ccc ccc ccc", "a", "b bb", ""]
    out = session(texts, TextKind.QUERY)
    assert out.dtype == np.float32 and out.shape == (6, encoder.dim)
    np.testing.assert_array_equal(out, encoder.encode(texts, TextKind.QUERY))
    assert session.texts_requested == 6 and session.texts_encoded == 4
    assert [n for n, _ in encoder.calls[:2]] == [2, 2]  # chunked
    # Unique texts reach the encoder longest first, so batches pad little.
    assert session.seconds > 0


class Returns:
    name = "bad"

    def __init__(self, value) -> None:
        self.value = value
        self.dim = 4

    def encode(self, texts: Sequence[str], kind: TextKind):
        return self.value(len(texts))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (lambda n: np.zeros((n, 3)), r"returned shape \(2, 3\) for 2 texts; expected \(2, 4\)"),
        (lambda n: np.zeros(n), r"returned shape \(2,\)"),
        (lambda n: np.full((n, 4), np.inf), "returned NaN or infinite values"),
        (lambda n: [["x"] * 4] * n, "returned list, not numbers"),
    ],
)
def test_bad_encoder_output_is_refused(value, message) -> None:
    with pytest.raises(EncoderOutputError, match=message):
        EncodingSession(Returns(value))(["one", "two"], TextKind.TEXT)


def test_torch_tensors_and_float64_are_accepted() -> None:
    import torch

    out = EncodingSession(Returns(lambda n: torch.ones(n, 4, dtype=torch.float64)))(["x", "y"], TextKind.TEXT)
    assert out.dtype == np.float32 and out.shape == (2, 4)


def test_non_text_input_is_refused() -> None:
    with pytest.raises(HarnessError, match="text 1 handed to the encoder is int"):
        EncodingSession(HashingEncoder())(["fine", 3], TextKind.TEXT)  # type: ignore[list-item]
