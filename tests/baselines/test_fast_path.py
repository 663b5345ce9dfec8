"""``--precision`` for the sentence-transformers and ``hf:`` encoders: fp32 exact, bf16/int8 close, never mixed.

The real all-MiniLM-L6-v2 runs on a handful of sentences only (seconds); whole-task runs use tiny random
models, except one slow test on the real model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness import EncoderSettings, ModelOptions, TextKind
from harness.encoders.precision import resolve_precision
from harness.errors import HarnessError
from harness.plugins.baselines.sentence_transformers import SentenceTransformerEncoder, _minilm
from harness.results.files import canonical_sha256
from helpers import (
    REPO,  # noqa: E402
    build_tiny_sbert,
)

SENTENCES = [
    "A man is playing a guitar.",
    "A woman is slicing an onion in the kitchen.",
    "Two dogs run across a snowy field.",
    "The stock market fell sharply after the announcement.",
    "Microstructural development of human newborn cerebral white matter assessed by diffusion tensor imaging.",
    "Kids are playing in a yard and an old man is standing in the background.",
    "He did not expect the meeting to last so long.",
    "A cat sleeps.",
]


@pytest.fixture(scope="module")
def minilm_fp32() -> SentenceTransformerEncoder:
    return _minilm(EncoderSettings(ModelOptions(batch_size=4)))


@pytest.fixture(scope="module")
def fp32_vectors(minilm_fp32: SentenceTransformerEncoder) -> np.ndarray:
    return minilm_fp32.encode(SENTENCES, TextKind.TEXT)


@pytest.fixture(scope="module")
def tiny_sbert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-layer random sentence-transformers model: whole tasks in a second or two."""
    return build_tiny_sbert(tmp_path_factory.mktemp("tiny-sbert-precision"))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def test_fp32_is_bit_identical_to_plain_sentence_transformers(
    minilm_fp32: SentenceTransformerEncoder, fp32_vectors: np.ndarray
) -> None:
    plain = minilm_fp32.model.encode(SENTENCES, batch_size=4, convert_to_numpy=True, show_progress_bar=False)
    assert fp32_vectors.dtype == np.float32
    assert np.array_equal(fp32_vectors, plain)
    for asked in ("fp32", "auto"):
        explicit = _minilm(EncoderSettings(ModelOptions(batch_size=4, precision=asked)))
        assert np.array_equal(explicit.encode(SENTENCES, TextKind.TEXT), fp32_vectors)


@pytest.mark.parametrize(("precision", "worst", "mean"), [("bf16", 0.999, 0.9995), ("int8", 0.98, 0.99)])
def test_reduced_precision_stays_close_to_fp32(
    fp32_vectors: np.ndarray, precision: str, worst: float, mean: float
) -> None:
    encoder = _minilm(EncoderSettings(ModelOptions(batch_size=4, precision=precision)))
    vectors = encoder.encode(SENTENCES, TextKind.TEXT)
    assert vectors.dtype == np.float32 and vectors.shape == fp32_vectors.shape
    assert not np.array_equal(vectors, fp32_vectors)  # the precision really took effect
    similarity = cosines(vectors, fp32_vectors)
    assert similarity.min() > worst and similarity.mean() > mean, similarity


def test_fingerprints_separate_precisions_and_fp32_adds_nothing(minilm_fp32: SentenceTransformerEncoder) -> None:
    fp32 = minilm_fp32.fingerprint()
    assert "precision" not in fp32 and "quantization" not in fp32
    assert minilm_fp32.metadata()["precision"] == "fp32"
    bf16 = _minilm(EncoderSettings(ModelOptions(precision="bf16")))
    int8 = _minilm(EncoderSettings(ModelOptions(precision="int8")))
    assert bf16.fingerprint() == {**fp32, "precision": "bf16"}
    assert int8.fingerprint()["precision"] == "int8" and "per output channel" in json.dumps(int8.fingerprint())
    assert len({canonical_sha256(e.fingerprint()) for e in (minilm_fp32, bf16, int8)}) == 3
    assert int8.metadata()["parameters"] == minilm_fp32.metadata()["parameters"]  # counted before quantising


def test_fp32_fingerprint_matches_the_reference_results(minilm_fp32: SentenceTransformerEncoder) -> None:
    """Existing results and baselines must not be recomputed because --precision exists."""
    reference = REPO / "results" / "reference" / "minilm-l6" / "stsb@test.json"
    if not reference.is_file():
        pytest.skip("no reference result in this checkout")
    encoder = json.loads(reference.read_text(encoding="utf-8"))["encoder"]
    if encoder["metadata"]["library_version"] != minilm_fp32.metadata()["library_version"]:
        pytest.skip("the reference was made with another sentence-transformers")
    assert canonical_sha256(minilm_fp32.fingerprint()) == encoder["fingerprint_sha256"]


def test_refusals_are_one_line_and_name_the_alternative() -> None:
    with pytest.raises(HarnessError, match=r"fp16 needs a CUDA device .* on CPU use bf16 or int8") as caught:
        _minilm(EncoderSettings(ModelOptions(precision="fp16")))
    assert "\n" not in str(caught.value)
    with pytest.raises(HarnessError, match=r"int8 is CPU-only.*use bf16 or fp16"):
        resolve_precision("int8", "cuda")
    with pytest.raises(HarnessError, match="unknown precision"):
        resolve_precision("fp8", "cpu")


def test_fp16_on_cpu_through_the_cli_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    code = main(["run", "--encoder", "minilm-l6", "--precision", "fp16", "--tasks", "stsb", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0
    assert err.strip().splitlines() == [
        "harness: error: --precision fp16 needs a CUDA device (--device cuda); on CPU use bf16 or int8"
    ]


def test_cli_int8_result_records_the_precision_and_fp32_reuses_old_results(
    tiny_sbert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    encoder = f"sbert:{tiny_sbert}"
    common = [
        "run",
        "--encoder",
        encoder,
        "--tasks",
        "stsb",
        "--no-cache",
        "--batch-size",
        "256",
        "--out",
        str(tmp_path),
    ]
    result = tmp_path.rglob("stsb@test.json")
    assert main(common) == 0
    first = json.loads(next(result).read_text())
    assert "precision" not in first["encoder"]["fingerprint"]
    assert main([*common, "--precision", "fp32"]) == 0
    assert "skipped: already done" in capsys.readouterr().out  # same fingerprint as before --precision
    assert main([*common, "--precision", "int8"]) == 0
    (fp32_file,) = [p for p in tmp_path.rglob("stsb@test.json") if "-int8" not in p.parent.name]
    (int8_file,) = [p for p in tmp_path.rglob("stsb@test.json") if "-int8" in p.parent.name]
    assert json.loads(fp32_file.read_text()) == first  # the float32 result is kept, not replaced
    record = json.loads(int8_file.read_text())
    assert record["encoder"]["fingerprint"]["precision"] == "int8"
    assert record["encoder"]["metadata"]["precision"] == "int8"
    assert record["encoder"]["fingerprint_sha256"] != first["encoder"]["fingerprint_sha256"]


def test_hf_family_takes_precision_too(tmp_path_factory: pytest.TempPathFactory) -> None:
    from harness.encoders.backbones import micro_backbone
    from harness.pluginhost import get_host

    folder = tmp_path_factory.mktemp("micro-llama")
    backbone = micro_backbone(seed=1)
    backbone.model.save_pretrained(folder)
    backbone.tokenizer.save_pretrained(folder)
    catalog = get_host().catalog
    texts = ["the man plays the guitar", "a dog", "the cat sleeps on the sofa in the park"]
    built = {
        p: catalog.build_encoder(f"hf:{folder}", {"batch_size": 2, "precision": p}) for p in ("fp32", "bf16", "int8")
    }
    reference = built["fp32"].encode(texts, TextKind.TEXT)
    assert "precision" not in built["fp32"].fingerprint()
    for precision in ("bf16", "int8"):
        encoder = built[precision]
        assert encoder.fingerprint()["precision"] == precision
        vectors = encoder.encode(texts, TextKind.TEXT)
        assert vectors.dtype == np.float32 and cosines(vectors, reference).min() > 0.95


@pytest.mark.slow
def test_minilm_int8_run_on_stsb(tmp_path: Path) -> None:
    """The command from issue 7 on the real model and the embedded STS-B."""
    from harness.cli import main

    args = ["run", "--encoder", "minilm-l6", "--precision", "int8", "--tasks", "stsb", "--no-cache"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "minilm-l6-int8" / "stsb@test.json").read_text())
    assert record["encoder"]["fingerprint"]["precision"] == "int8"
    assert abs(record["main_score"] - 0.82032) < 0.01
