"""Token-budget batching: the plan itself, and that every encoder that uses it returns the same vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness import EncoderSettings, ModelOptions, TextKind
from harness.running.batching import fixed_batches, plan_batches, token_budget_batches
from helpers import build_tiny_bert, build_tiny_sbert

TEXTS = [
    "a dog",
    "the man plays the guitar in the park on the sofa",
    "runs",
    "the cat sleeps on the sofa in the park",
    "the a man dog cat plays runs guitar park is in on sleeps sofa " * 3,
    "a dog",
    "the man plays",
    "cat",
]


def test_every_index_once_longest_first_and_within_budget() -> None:
    counts = [3, 40, 1, 12, 12, 7, 90, 2, 12]
    batches = token_budget_batches(counts, max_tokens=48, max_batch=3)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(counts)))
    assert [counts[i] for i in flat] == sorted(counts, reverse=True)
    for batch in batches:
        assert len(batch) <= 3
        padded = len(batch) * max(counts[i] for i in batch)
        assert padded <= 48 or len(batch) == 1  # a text longer than the budget still gets a batch alone
    assert batches[0] == [6]  # 90 tokens: over the budget, alone
    assert [3, 4, 8] in batches  # three 12-token texts fill 36 of 48


def test_short_texts_share_big_batches_long_ones_small() -> None:
    counts = [500] * 4 + [10] * 100
    batches = token_budget_batches(counts, max_tokens=1024, max_batch=64)
    assert [len(b) for b in batches] == [2, 2, 64, 36]


def test_ties_keep_input_order_so_plans_are_deterministic() -> None:
    assert token_budget_batches([5, 5, 5, 5], max_tokens=10, max_batch=8) == [[0, 1], [2, 3]]


@pytest.mark.parametrize(("tokens", "rows"), [(0, 4), (10, 0)])
def test_nonpositive_limits_are_refused(tokens: int, rows: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        token_budget_batches([1, 2], tokens, rows)


def test_without_a_budget_batches_are_fixed_and_in_order() -> None:
    assert fixed_batches(5, 2) == [[0, 1], [2, 3], [4]]
    assert plan_batches([9, 1, 9, 1, 9], 2, None) == [[0, 1], [2, 3], [4]]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("batching")
    return {"bert": build_tiny_bert(folder / "bert"), "sbert": build_tiny_sbert(folder / "sbert")}


def _pooled(path: Path, batch_tokens: int | None) -> np.ndarray:
    from harness.plugins.baselines.transformers_pooled import PooledOptions, PooledTransformerEncoder

    settings = EncoderSettings(PooledOptions(batch_size=3, pooling="mean", batch_tokens=batch_tokens))
    return PooledTransformerEncoder(str(path), settings).encode(TEXTS, TextKind.TEXT)


def _sbert(path: Path, batch_tokens: int | None) -> np.ndarray:
    from harness.plugins.baselines.sentence_transformers import SentenceTransformerEncoder

    settings = EncoderSettings(ModelOptions(batch_size=3, batch_tokens=batch_tokens))
    return SentenceTransformerEncoder(str(path), settings).encode(TEXTS, TextKind.QUERY)


@pytest.mark.parametrize("family", ["bert", "sbert"])
def test_token_budget_changes_batches_not_vectors(tiny_models: dict[str, Path], family: str) -> None:
    encode = _pooled if family == "bert" else _sbert
    fixed = encode(tiny_models[family], None)
    budgeted = encode(tiny_models[family], 40)
    assert fixed.shape == budgeted.shape == (len(TEXTS), 16)
    np.testing.assert_allclose(budgeted, fixed, atol=1e-5)
    np.testing.assert_allclose(budgeted[0], budgeted[5])  # the same text, batched apart, same vector


def test_cpt_model_embeds_the_same_with_a_budget() -> None:
    from harness.encoders.backbones import micro_backbone
    from harness.encoders.model import CptConfig, CptModel

    backbone = micro_backbone(seed=0)
    model = CptModel(backbone.model, backbone.tokenizer, CptConfig(backbone="micro")).eval()
    fixed = model.embed(TEXTS, "document", batch_size=3)
    budgeted = model.embed(TEXTS, "document", batch_size=3, batch_tokens=40)
    np.testing.assert_allclose(budgeted, fixed, atol=1e-5)
    assert model.embed([], "query", batch_tokens=40).shape == (0, model.dim)


def test_cli_refuses_a_nonpositive_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_plugin) -> None:
    from harness.cli import main

    code = main(["run", "--encoder", "hashing", "--tasks", "stsb", "--batch-tokens", "0", "--out", str(tmp_path)])
    assert code == 2
    assert "option batch_tokens: Input should be greater than or equal to 1" in capsys.readouterr().err
