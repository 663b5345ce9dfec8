"""Real model, real data: all-MiniLM-L6-v2 on STS12-16 must score what MTEB publishes (tox -e slow).

MTEB's results for all-MiniLM-L6-v2 (embeddings-benchmark/results, revision
8b3219a9...): STS12 0.72369 (mteb 2.12.7), STS13 0.806032, STS15 0.853896,
STS16 0.789895 (mteb 1.12.75); STS14 0.7559 as the leaderboard shows it (four
digits).  The harness gives 0.723678, 0.806032, 0.755891, 0.853896, 0.789895.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main

MTEB_SCORES = {"sts12": 0.72369, "sts13": 0.806032, "sts14": 0.7559, "sts15": 0.853896, "sts16": 0.789895}
MTEB_PAIRS = {"sts12": 3108, "sts13": 1500, "sts14": 3750, "sts15": 3000, "sts16": 1186}


@pytest.mark.slow
def test_semeval_sts_matches_mteb(tmp_path: Path, capsys, shared_data: Path) -> None:
    tasks = ",".join(MTEB_SCORES)
    code = main(
        ["run", "--encoder", "minilm-l6", "--tasks", tasks, "--data-dir", str(shared_data), "--out", str(tmp_path)]
    )
    assert code == 0, capsys.readouterr().err
    for task, expected in MTEB_SCORES.items():
        record = json.loads((tmp_path / "minilm-l6" / f"{task}@test.json").read_text())
        assert record["main_score"] == pytest.approx(expected, abs=1e-4), task
        assert record["n_examples"] == MTEB_PAIRS[task]
        assert "cosine_spearman_subset_mean" in record["metrics"]
