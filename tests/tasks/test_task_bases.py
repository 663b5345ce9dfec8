"""The public task bases (``harness.tasks``): a task is its metadata and a reader, the base scores it.

Each base-class task here reads a format of its own and must score exactly as the built-in task of the same
family scores the same data (``sts:``, ``classification:``), through ``harness run``.  The retrieval base
is exercised by the third-party plugin (``tests/api/test_thirdparty_plugin.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fakes import HashingEncoder
from harness import DataFiles, DatasetFile, TextKind, hookimpl
from harness.cli import main
from harness.pluginhost import get_host
from harness.tasks import (
    ClassificationTask,
    CodeSearchData,
    CodeSearchTask,
    LabelledSplits,
    ScoredPair,
    StsTask,
)

WORDS = "cat dog bird fish lion bear wolf deer frog duck goat hare".split()


class PipeSts(StsTask):
    """Pairs as ``a|b|score`` lines."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return [DatasetFile(self.path)]

    def read_pairs(self, files: DataFiles, split: str) -> list[ScoredPair]:
        rows = [line.split("|") for line in files.lines(self.path)]
        return [ScoredPair(a, b, float(score)) for a, b, score in rows]


class PipeClassification(ClassificationTask):
    """``label|text`` lines in ``train.txt`` and ``test.txt``."""

    def __init__(self, folder: Path) -> None:
        self.paths = [str(folder / "train.txt"), str(folder / "test.txt")]

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return [DatasetFile(p) for p in self.paths]

    def read(self, files: DataFiles, split: str) -> LabelledSplits:
        train, test = ([line.split("|", 1) for line in files.lines(p)] for p in self.paths)
        return LabelledSplits(
            [t for _, t in train], [lab for lab, _ in train], [t for _, t in test], [lab for lab, _ in test]
        )


class PairedCodeSearch(CodeSearchTask):
    """``query|code`` lines; query ``i``'s answer is code ``i``."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return [DatasetFile(self.path)]

    def read(self, files: DataFiles, split: str) -> CodeSearchData:
        rows = [line.split("|") for line in files.lines(self.path)]
        return CodeSearchData([q for q, _ in rows], [c for _, c in rows], list(range(len(rows))))


def register(**tasks: Any) -> None:
    class Plugin:
        @hookimpl
        def harness_register_tasks(self, register: Any) -> None:
            for name, make in tasks.items():
                register(name, make)

    get_host().register(Plugin(), name="bases")


def run(out: Path, *tasks: str) -> dict[str, Any]:
    assert main(["run", "--encoder", "hashing", "--tasks", ",".join(tasks), "--out", str(out), "--no-cache"]) == 0
    return {t: json.loads(next((out / "hashing").glob(f"{t.split(':')[0]}*@test.json")).read_text()) for t in tasks}


def test_an_sts_base_task_scores_as_the_built_in_sts_task(fake_plugin, tmp_path: Path) -> None:
    pairs = [
        (f"{a} {b}", f"{b} {c}" if i % 3 else f"{a} {b}", i % 5)
        for i, (a, b, c) in enumerate(zip(WORDS, WORDS[1:], WORDS[2:], strict=False))
    ]
    (tmp_path / "pairs.txt").write_text("".join(f"{a}|{b}|{s}\n" for a, b, s in pairs))
    (tmp_path / "pairs.tsv").write_text(
        "sentence1\tsentence2\tscore\n" + "".join(f"{a}\t{b}\t{s}\n" for a, b, s in pairs)
    )
    register(pipe=lambda: PipeSts(tmp_path / "pairs.txt"))
    records = run(tmp_path / "out", "pipe", f"sts:{tmp_path / 'pairs.tsv'}")
    mine, builtin = records["pipe"], records[f"sts:{tmp_path / 'pairs.tsv'}"]
    assert mine["task"]["family"] == "sts" and mine["n_examples"] == len(pairs)
    assert mine["metrics"] == builtin["metrics"] and set(mine["metrics"]) >= {"cosine_spearman", "cosine_pearson"}


def test_a_classification_base_task_probes_as_the_built_in_folder_task(fake_plugin, tmp_path: Path) -> None:
    rows = [
        (label, f"{WORDS[(i + k) % 6 + 6 * k]} {WORDS[(i + 2) % 6 + 6 * k]}")
        for i in range(12)
        for k, label in enumerate(("a", "b"))
    ]
    folder = tmp_path / "probe"
    folder.mkdir()
    for name, part in (("train", rows), ("test", rows[:8])):
        (folder / f"{name}.txt").write_text("".join(f"{label}|{text}\n" for label, text in part))
        (folder / f"{name}.jsonl").write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for lab, t in part))
    register(probe=lambda: PipeClassification(folder))
    records = run(tmp_path / "out", "probe", f"classification:{folder}")
    mine, builtin = records["probe"], records[f"classification:{folder}"]
    assert mine["task"]["family"] == "classification" and mine["n_examples"] == 8
    assert mine["metrics"] == builtin["metrics"] and mine["main_score"] == mine["metrics"]["accuracy"] == 1.0
    assert mine["details"]["labels"] == ["a", "b"]


def test_a_code_search_base_task_ranks_the_whole_code_base(fake_plugin, tmp_path: Path) -> None:
    rows = [(f"find the {a}", f"def {a}(): return {a}") for a in WORDS]
    (tmp_path / "pairs.txt").write_text("".join(f"{q}|{c}\n" for q, c in rows))
    register(paired=lambda: PairedCodeSearch(tmp_path / "pairs.txt"))
    record = run(tmp_path / "out", "paired")["paired"]
    assert record["task"]["family"] == "code-search" and record["n_examples"] == len(rows)
    assert record["details"]["code_base"] == len(rows)
    # By hand: cosine of the fake encoder's vectors, 1 + codes above the answer + tied codes before it.
    encoder = HashingEncoder()
    queries, codes = (
        encoder.encode([r[i] for r in rows], kind) for i, kind in ((0, TextKind.QUERY), (1, TextKind.DOCUMENT))
    )
    scores = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ (
        codes / np.linalg.norm(codes, axis=1, keepdims=True)
    ).T
    ranks = [1 + int((s > s[i]).sum()) + int((s[:i] == s[i]).sum()) for i, s in enumerate(scores.astype(np.float64))]
    assert record["main_score"] == record["metrics"]["mrr"] == pytest.approx(np.mean([1 / r for r in ranks]))
    assert record["metrics"]["recall_at_1"] == pytest.approx(np.mean([r == 1 for r in ranks]))
