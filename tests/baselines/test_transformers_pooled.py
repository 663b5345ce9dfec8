"""The ``hf:`` encoder family on tiny local models (random BERT and Llama, no download)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness import TextKind
from harness.errors import HarnessError
from harness.pluginhost import PluginHost, get_host
from harness.plugins.baselines import transformers_pooled
from helpers import build_tiny_bert

PLUGIN_NAME = "harness.plugins.baselines.transformers_pooled"
TEXTS = ["the man plays the guitar", "a dog", "the cat sleeps on the sofa in the park", "runs"]


@pytest.fixture
def host() -> Iterator[PluginHost]:
    """The host with the plugin registered (until it is listed in BUILTIN_PLUGINS, register it here)."""
    host = get_host()
    added = host.pm.get_plugin(PLUGIN_NAME) is None
    if added:
        host.register(transformers_pooled, name=PLUGIN_NAME)
    yield host
    if added:
        host.unregister(PLUGIN_NAME)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harness.encoders.backbones import micro_backbone

    folder = tmp_path_factory.mktemp("tiny-llama")
    backbone = micro_backbone(seed=1)
    backbone.model.save_pretrained(folder)
    backbone.tokenizer.save_pretrained(folder)
    return folder


def build(host: PluginHost, folder: Path, **options: object):
    return host.catalog.build_encoder(f"hf:{folder}", {"batch_size": 3, **options})


def test_mean_pooling_matches_a_manual_computation(host: PluginHost, tiny_bert: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    encoder = build(host, tiny_bert)
    out = encoder.encode(TEXTS, TextKind.TEXT)
    assert out.dtype == np.float32 and out.shape == (len(TEXTS), 16) == (len(TEXTS), encoder.dim)

    model, tokenizer = AutoModel.from_pretrained(tiny_bert).eval(), AutoTokenizer.from_pretrained(tiny_bert)
    for text, row in zip(TEXTS, out, strict=True):
        ids = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**ids).last_hidden_state[0].numpy()
        expected = hidden.mean(axis=0)
        np.testing.assert_allclose(row, expected / np.linalg.norm(expected), atol=1e-5)


def test_cls_pooling_takes_position_zero(host: PluginHost, tiny_bert: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    out = build(host, tiny_bert, pooling="cls").encode(TEXTS, TextKind.QUERY)
    model, tokenizer = AutoModel.from_pretrained(tiny_bert).eval(), AutoTokenizer.from_pretrained(tiny_bert)
    with torch.no_grad():
        hidden = model(**tokenizer(TEXTS[0], return_tensors="pt")).last_hidden_state[0, 0].numpy()
    np.testing.assert_allclose(out[0], hidden / np.linalg.norm(hidden), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_batched_equals_one_at_a_time_on_a_decoder(host: PluginHost, tiny_llama: Path, pooling: str) -> None:
    encoder = build(host, tiny_llama, pooling=pooling)
    batched = encoder.encode(TEXTS, TextKind.DOCUMENT)  # mixed lengths, right-padded in batches of 3
    alone = np.concatenate([encoder.encode([text], TextKind.DOCUMENT) for text in TEXTS])
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert batched.shape == (len(TEXTS), 64)


def test_last_pooling_handles_left_and_right_padding() -> None:
    import torch

    hidden = torch.arange(2 * 4 * 2, dtype=torch.float32).reshape(2, 4, 2)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1]])
    assert transformers_pooled.pool(hidden, right, "last").tolist() == [hidden[0, 1].tolist(), hidden[1, 3].tolist()]
    assert transformers_pooled.pool(hidden, left, "last").tolist() == [hidden[0, 3].tolist(), hidden[1, 3].tolist()]
    assert transformers_pooled.pool(hidden, left, "mean")[0].tolist() == hidden[0, 2:].mean(dim=0).tolist()


def test_fingerprint_names_weights_pooling_and_length_but_no_path(host: PluginHost, tiny_bert: Path) -> None:
    mean = build(host, tiny_bert).fingerprint()
    last = build(host, tiny_bert, pooling="last", max_length=32).fingerprint()
    text = json.dumps(mean)
    assert str(tiny_bert) not in text and str(tiny_bert.parent) not in text
    assert mean["model_id"] == "local" and len(mean["weights_sha256"]) == 64
    assert (mean["pooling"], mean["max_length"]) == ("mean", 64)  # the model's limit is below 512
    assert (last["pooling"], last["max_length"]) == ("last", 32)
    assert mean["weights_sha256"] == last["weights_sha256"]


def test_bad_options_are_one_line(host: PluginHost, tiny_bert: Path) -> None:
    with pytest.raises(HarnessError, match="option pooling: Input should be 'mean', 'last' or 'cls' \\(got 'max'\\)"):
        build(host, tiny_bert, pooling="max")
    with pytest.raises(HarnessError, match=r"max_length 100 is outside 1\.\.64"):
        build(host, tiny_bert, max_length=100)


def test_pickle_only_folder_is_refused(host: PluginHost, tiny_bert: Path, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text((tiny_bert / "config.json").read_text())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not unpickled")
    with pytest.raises(HarnessError, match="holds only pickle weights") as info:
        build(host, tmp_path)
    assert "\n" not in str(info.value) and str(info.value).startswith("hf:")


def test_hub_id_offline_is_one_line(host: PluginHost) -> None:
    with pytest.raises(HarnessError, match=r"^hf:someone/not-cached-model: .*HF_HUB_OFFLINE=1") as info:
        host.catalog.build_encoder("hf:someone/not-cached-model", {})
    assert "\n" not in str(info.value)
