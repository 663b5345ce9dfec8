"""The sentence-transformers encoder plugin on a tiny local model (random weights, no download)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness import EncoderSettings, TextKind
from harness.errors import HarnessError
from harness.plugins.encoders.sentence_transformers import SentenceTransformerEncoder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-sbert")
    words = "the a man dog cat plays runs guitar park is in on sleeps sofa".split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    bert = BertModel(
        BertConfig(
            vocab_size=len(vocab),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=64,
        )
    )
    hf_dir = folder / "hf"
    bert.save_pretrained(hf_dir)
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(hf_dir)
    transformer = models.Transformer(str(hf_dir), max_seq_length=32)
    width = getattr(transformer, "get_embedding_dimension", None) or transformer.get_word_embedding_dimension
    pooling = models.Pooling(width(), pooling_mode="mean")
    model_dir = folder / "model"
    SentenceTransformer(modules=[transformer, pooling, models.Normalize()]).save(str(model_dir))
    return model_dir


def test_local_folder_loads_and_encodes(tiny_model: Path) -> None:
    encoder = SentenceTransformerEncoder(str(tiny_model), EncoderSettings(batch_size=4))
    out = encoder.encode(["the man plays the guitar", "a dog runs in the park"], TextKind.QUERY)
    assert out.shape == (2, 16) == (2, encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    fingerprint = encoder.fingerprint()
    json.dumps(fingerprint)
    assert fingerprint["weights_sha256"] and len(fingerprint["weights_sha256"]) == 64
    assert "mean" in json.dumps(fingerprint["pooling"])
    assert fingerprint["max_seq_length"] == 32
    assert str(tiny_model) not in json.dumps(fingerprint)  # paths do not make runs incomparable


def test_sbert_family_through_the_cli(tiny_model: Path, tmp_path: Path, capsys) -> None:
    from harness.cli import main

    assert main(["run", "--encoder", f"sbert:{tiny_model}", "--tasks", "stsb", "--out", str(tmp_path)]) == 0
    record = json.loads(next(tmp_path.rglob("stsb@test.json")).read_text())
    assert record["encoder"]["name"] == f"sbert:{tiny_model}"
    assert record["encoder"]["metadata"]["library"] == "sentence-transformers"


def test_missing_local_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="no model folder at"):
        SentenceTransformerEncoder(str(tmp_path / "absent"), EncoderSettings())


def test_hub_id_offline_is_one_line() -> None:
    with pytest.raises(HarnessError, match=r"sbert:someone/not-cached-model: cannot load the model \(HF_HUB_OFFLINE=1"):
        SentenceTransformerEncoder("someone/not-cached-model", EncoderSettings())
