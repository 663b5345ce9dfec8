"""No result ever records a setting that was not applied.

The regression: ``--batch-tokens`` was recorded in results while every run batched by ``--batch-size``.  Now a
setting reaches a result only through the encoder's option schema, so this sweeps every built-in encoder and every
encoder flag: a flag the encoder does not declare is refused before any work (exit 2, nothing written), and a
result records exactly the options its encoder declares (each one tied to a test that shows it applied, in
``tests/api/test_option_catalogue.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.encoder_flags import ENCODER_FLAGS
from harness.pluginhost import get_host
from helpers import read_results

SAMPLE_FLAGS: dict[str, list[str]] = {
    "device": ["--device", "cpu"],
    "batch_size": ["--batch-size", "4"],
    "batch_tokens": ["--batch-tokens", "64"],
    "precision": ["--precision", "bf16"],
    "checkpoint": ["--checkpoint", "some/run"],
    "untrained": ["--untrained"],
    "backbone": ["--backbone", "micro"],
    "max_length": ["--max-length", "8"],
    "pooling": ["--pooling", "mean"],
    "backend": ["--backend", "onnx"],
}


def builtin_encoders() -> list[str]:
    """Every built-in encoder name, a family with a placeholder argument (options are checked before it is read)."""
    names = sorted(get_host().catalog.encoders)
    return [name + "placeholder" if name.endswith(":") else name for name in names]


def test_the_sweep_covers_every_encoder_flag() -> None:
    assert set(SAMPLE_FLAGS) == set(ENCODER_FLAGS)


def test_a_flag_the_encoder_does_not_declare_is_refused_for_every_builtin_encoder(cli, tmp_path: Path) -> None:
    catalog = get_host().catalog
    out = tmp_path / "results"
    refused = 0
    for encoder in builtin_encoders():
        declared = set(catalog.encoder_options(encoder).model_fields)
        for option, flag in SAMPLE_FLAGS.items():
            if option in declared:
                continue
            result = cli("run", "--encoder", encoder, "--tasks", "stsb", "--out", out, *flag)
            assert result.code == 2, (encoder, flag, result.err)
            assert f"encoder {encoder!r} has no option {option};" in result.error, (encoder, result.error)
            refused += 1
    assert refused > 20
    assert not out.exists()  # nothing ran under a setting it ignored


@pytest.mark.parametrize(
    ("encoder", "task", "flags"),
    [
        ("hashing", "stsb", ["--batch-size", "4", "--device", "cpu"]),
        ("hashing", "stsb", ["--batch-tokens", "64", "--precision", "fp32"]),
        ("bm25", "scifact", ["-o", "k1=1.2"]),
        ("hash-bow", "stsb", []),
    ],
)
def test_a_result_records_exactly_the_options_its_encoder_declares(
    cli, fake_plugin, tmp_path: Path, encoder, task, flags
) -> None:
    out = tmp_path / "results"
    result = cli("run", "--encoder", encoder, "--tasks", task, "--out", out, *flags)
    assert result.code == 0, result.err
    (record,) = read_results(out).values()
    declared = set(get_host().catalog.encoder_options(encoder).model_fields)
    assert set(record["encoder"]["options"]) == declared
    for setting in ("batch_size", "batch_tokens"):
        assert (setting in record["environment"]) is (setting in declared)
    if flags[:1] == ["--batch-size"]:
        assert record["encoder"]["options"]["batch_size"] == 4 == record["environment"]["batch_size"]
