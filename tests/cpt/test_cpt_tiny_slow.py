"""The offline cpt-text-tiny preset end to end: real SmolLM2 weights, a few training steps, an evaluation.

Slow (loads and trains a 135M-parameter model on the CPU); runs in ``tox -e slow``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.cli import main
from harness.encoders.training.pairs import write_pairs

pytestmark = pytest.mark.slow


@pytest.fixture
def persistent_home(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The GGUF conversion is done once per machine, not once per test."""
    home = Path(os.environ.get("HARNESS_TEST_HOME") or Path.home() / ".cache" / "cpt-harness-tests")
    monkeypatch.setenv("HARNESS_HOME", str(home))
    return home


def test_cpt_text_tiny_trains_and_evaluates(persistent_home: Path, tmp_path: Path, capsys) -> None:
    topics = ["cats", "rivers", "engines", "music", "bread", "planets", "chess", "rain"]
    pairs = [{"x": f"A note about {t}, part {i}.", "y": f"More on {t}: detail {i}."} for i in range(3) for t in topics]
    write_pairs(pairs, tmp_path / "pairs.jsonl")
    sts = tmp_path / "mini-sts.jsonl"
    rows = [
        {
            "sentence1": f"A short text about {a}.",
            "sentence2": f"A short text about {b}.",
            "score": 5.0 if a == b else 1.0,
        }
        for a in topics[:4]
        for b in topics[:4]
    ]
    sts.write_text("".join(json.dumps(row) + "\n" for row in rows))

    run = tmp_path / "run"
    code = main([
        "train", "--preset", "cpt-text-tiny", "--pairs", str(tmp_path / "pairs.jsonl"), "--out", str(run),
        "--steps", "2", "--batch-size", "8", "--chunk-size", "4", "--max-length", "24", "--lr", "1e-5",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2]

    out = tmp_path / "results"
    for extra in (["--checkpoint", str(run)], ["--untrained"]):
        code = main(["run", "--encoder", "cpt-text-tiny", *extra, "--tasks", f"sts:{sts}", "--out", str(out)])
        assert code == 0, capsys.readouterr().err
    trained = json.loads(next((out / "cpt-text-tiny").glob("*.json")).read_text())
    untrained = json.loads(next((out / "cpt-text-tiny-untrained").glob("*.json")).read_text())
    assert trained["encoder"]["dim"] == 576 == untrained["encoder"]["dim"]
    assert trained["encoder"]["fingerprint_sha256"] != untrained["encoder"]["fingerprint_sha256"]
    assert untrained["encoder"]["fingerprint"]["weights"]["source"] == "gguf:smollm2-135m"
