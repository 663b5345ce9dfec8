"""The sentence-transformers encoder plugin on a tiny local model (random weights, no download)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness import EncoderSettings, ModelOptions, TextKind
from harness.errors import HarnessError
from harness.plugins.baselines.sentence_transformers import SentenceTransformerEncoder
from helpers import build_tiny_sbert


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sbert(tmp_path_factory.mktemp("tiny-sbert"))


def test_local_folder_loads_and_encodes(tiny_model: Path) -> None:
    encoder = SentenceTransformerEncoder(str(tiny_model), EncoderSettings(ModelOptions(batch_size=4)))
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
        SentenceTransformerEncoder(str(tmp_path / "absent"), EncoderSettings(ModelOptions()))


def test_hub_id_offline_is_one_line() -> None:
    with pytest.raises(HarnessError, match=r"sbert:someone/not-cached-model: cannot load the model \(HF_HUB_OFFLINE=1"):
        SentenceTransformerEncoder("someone/not-cached-model", EncoderSettings(ModelOptions()))
