"""The cpt read-out: delimiters, pooling at the closing delimiter, padding, truncation, checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from harness.encoders.backbones import micro_backbone
from harness.encoders.checkpoint import find_checkpoint, load_model, save_model, weights_sha256
from harness.encoders.model import CptConfig, CptModel
from harness.errors import HarnessError

TEXTS = [
    "a",
    "The quick brown fox jumps over the lazy dog.",
    "def add(a, b):\n    return a + b",
    "Ünïcödé text — with dashes and émojis 🙂",
    "short",
]


def make_model(dtype: torch.dtype = torch.float32, **config: object) -> CptModel:
    backbone = micro_backbone(seed=0, dtype=dtype)
    return CptModel(backbone.model, backbone.tokenizer, CptConfig(backbone="micro", **config)).eval()


def test_embeddings_are_unit_vectors_of_backbone_width() -> None:
    model = make_model()
    vectors = model.embed(TEXTS, "query")
    assert vectors.shape == (len(TEXTS), model.backbone.config.hidden_size)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", ["query", "document", "text"])
def test_padding_does_not_move_the_pooled_position(kind: str) -> None:
    model = make_model()
    batched = model.embed(TEXTS, kind, batch_size=len(TEXTS))
    alone = np.concatenate([model.embed([text], kind, batch_size=1) for text in TEXTS])
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_query_and_document_wrapping_follow_the_paper() -> None:
    model = make_model()
    tokenizer = model.tokenizer
    query = model.tokenize(["x"], "query")["input_ids"][0].tolist()
    document = model.tokenize(["x"], "document")["input_ids"][0].tolist()
    assert tokenizer.decode(query, skip_special_tokens=True) == "[x]"
    assert tokenizer.decode(document, skip_special_tokens=True) == "{x}"
    assert not np.allclose(model.embed(["x"], "query"), model.embed(["x"], "document"))
    # symmetric tasks are wrapped like documents unless configured otherwise
    np.testing.assert_allclose(model.embed(["x"], "text"), model.embed(["x"], "document"))
    as_query = make_model(text_side="query")
    np.testing.assert_allclose(as_query.embed(["x"], "text"), as_query.embed(["x"], "query"))


def test_long_inputs_are_truncated_keeping_the_closing_delimiter() -> None:
    model = make_model(max_length=16)
    tokens = model.tokenize(["word " * 200, "tiny"], "document")
    lengths = tokens["attention_mask"].sum(dim=1).tolist()
    assert lengths[0] == 16
    closing = model.tokenizer("}", add_special_tokens=False)["input_ids"]
    for row, length in zip(tokens["input_ids"].tolist(), lengths, strict=True):
        assert row[length - len(closing) : length] == closing


def test_special_token_delimiters_get_their_own_embeddings() -> None:
    model = make_model(delimiter_mode="special")
    vocabulary = model.tokenizer.get_vocab()
    assert "<|cpt_query|>" in vocabulary and "<|/cpt_document|>" in vocabulary
    assert model.backbone.get_input_embeddings().weight.shape[0] >= len(model.tokenizer)
    ids = model.tokenize(["x"], "query")["input_ids"][0].tolist()
    assert ids[-1] == vocabulary["<|/cpt_query|>"]
    batched = model.embed(TEXTS, "document", batch_size=5)
    alone = np.concatenate([model.embed([t], "document", batch_size=1) for t in TEXTS])
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_checkpoint_round_trip_is_safetensors_and_json(tmp_path) -> None:
    model = make_model(delimiter_mode="special", max_length=64)
    with torch.no_grad():
        model.log_scale.fill_(3.0)
    folder = save_model(model, tmp_path / "ckpt")
    names = {path.name for path in folder.iterdir()}
    assert "model.safetensors" in names and "cpt_config.json" in names
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in names)
    saved = json.loads((folder / "cpt_config.json").read_text())
    assert saved["log_scale"] == pytest.approx(3.0) and saved["delimiter_mode"] == "special"
    loaded = load_model(folder)
    np.testing.assert_allclose(loaded.embed(TEXTS, "query"), model.embed(TEXTS, "query"), atol=1e-6)
    assert float(loaded.log_scale.detach()) == pytest.approx(3.0)
    assert weights_sha256(folder) == weights_sha256(folder)
    assert not list(tmp_path.glob(".*tmp")), "no staging folder left behind"


def test_pickled_weights_are_never_loaded(tmp_path) -> None:
    model = make_model()
    folder = save_model(model, tmp_path / "ckpt")
    for path in folder.glob("*.safetensors"):
        path.unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(HarnessError, match="no safetensors weights"):
        load_model(folder)


def test_missing_checkpoint_says_how_to_make_one(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    with pytest.raises(HarnessError) as info:
        find_checkpoint("cpt-text-l")
    message = str(info.value)
    assert "no trained checkpoint" in message and "harness train" in message
    assert str(tmp_path / "home" / "checkpoints" / "cpt-text-l") in message
    assert "\n" not in message


def test_checkpoint_is_found_in_the_harness_home(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    folder = save_model(make_model(), tmp_path / "home" / "checkpoints" / "cpt-micro")
    assert find_checkpoint("cpt-micro") == folder
    with pytest.raises(HarnessError, match="does not exist"):
        find_checkpoint("cpt-micro", tmp_path / "nowhere")


def test_untrained_preset_can_point_at_a_local_backbone(tmp_path, capsys) -> None:
    from harness.cli import main

    backbone = micro_backbone(seed=5)
    folder = tmp_path / "local-backbone"
    backbone.model.save_pretrained(folder)
    backbone.tokenizer.save_pretrained(folder)
    out = tmp_path / "out"
    args = ["run", "--encoder", "cpt-micro", "--untrained", "--backbone", str(folder), "--tasks", "stsb"]
    assert main([*args, "--out", str(out)]) == 0, capsys.readouterr().err
    record = json.loads((out / "cpt-micro-untrained" / "stsb@test.json").read_text())
    fingerprint = record["encoder"]["fingerprint"]
    assert fingerprint["weights"]["untrained"] is True and fingerprint["weights"]["weights_sha256"]
    assert str(tmp_path) not in json.dumps(fingerprint), "fingerprints hold no machine-specific paths"
