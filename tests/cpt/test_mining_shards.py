"""``harness mine-pairs --shard I/N --pairs-per-file K``: parallel mining of one tree into a folder of parts.

N processes with ``--shard 0/N`` ... ``N-1/N`` mine disjoint files and together every file once; their parts are
what ``harness train --pairs FOLDER`` reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.encoders.training.pairs import read_pairs

WORDS = "river stone cloud lantern orchard meadow harbor violin copper maple ember willow".split()


def corpus(root: Path) -> Path:
    root.mkdir()
    for i in range(7):
        paragraphs = [" ".join(WORDS[(i + p + j) % len(WORDS)] for j in range(6 + p)) for p in range(4)]
        (root / f"doc{i}.md").write_text("\n\n".join(paragraphs) + "\n")
    return root


def pairs_in(path: Path) -> set[tuple[str, str]]:
    return {(p.x, p.y) for p in read_pairs(path)}


def test_shards_mine_every_file_once_into_parts_that_train(cli, tmp_path: Path) -> None:
    docs = corpus(tmp_path / "docs")
    whole = tmp_path / "all.jsonl"
    assert cli("mine-pairs", "text", docs, "--out", whole, "--min-words", "3").code == 0
    parts = tmp_path / "parts"
    for index in range(2):
        mined = cli("mine-pairs", "text", docs, "--out", parts, "--min-words", "3", "--shard", f"{index}/2",
                    "--pairs-per-file", "2")  # fmt: skip
        assert mined.code == 0, mined.err
    names = sorted(p.name for p in parts.iterdir())
    assert names[0] == "part-00000-00000.jsonl" and any(n.startswith("part-00001-") for n in names), names
    found: set[tuple[str, str]] = set()
    for part in parts.iterdir():
        assert len(read_pairs(part)) <= 2
        found |= pairs_in(part)
    assert found == pairs_in(whole)  # every file once, in one shard or the other
    shard0 = {
        json.loads(line)["source"].split(":")[0]
        for p in parts.glob("part-00000-*")
        for line in p.read_text().splitlines()
    }
    shard1 = {
        json.loads(line)["source"].split(":")[0]
        for p in parts.glob("part-00001-*")
        for line in p.read_text().splitlines()
    }
    assert shard0 and shard1 and not shard0 & shard1
    trained = cli("train", "--preset", "cpt-micro", "--pairs", parts, "--out", tmp_path / "run", "--steps", "1",
                  "--batch-size", "4", "--max-length", "32")  # fmt: skip
    assert trained.code == 0, trained.err


@pytest.mark.parametrize("shard", ["2/2", "1", "a/b", "-1/3"])
def test_a_bad_shard_is_a_usage_error(cli, tmp_path: Path, shard: str) -> None:
    docs = corpus(tmp_path / "docs")
    with pytest.raises(SystemExit) as stopped:
        cli("mine-pairs", "text", docs, "--out", tmp_path / "p.jsonl", "--shard", shard)
    assert stopped.value.code == 2


def test_parts_go_to_a_folder_never_over_a_file(cli, tmp_path: Path) -> None:
    docs = corpus(tmp_path / "docs")
    taken = tmp_path / "taken.jsonl"
    taken.write_text("")
    result = cli("mine-pairs", "text", docs, "--out", taken, "--pairs-per-file", "2", "--min-words", "3")
    assert result.code == 1 and "with --pairs-per-file it is the folder the parts go to" in result.err
