"""A plugin's bug inside ``encode`` or ``evaluate`` fails its task in one line that names the plugin.

``HARNESS_DEBUG=1`` adds the plugin's own traceback for the bug report; a task that answers without its main
metric is refused the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fakes import HashingEncoder
from harness import DatasetFile, Task, TaskOutput, hookimpl
from harness.pluginhost import get_host


class BrokenEncoder(HashingEncoder):
    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "broken"}

    def encode(self, texts, kind):
        return lookup_embedding_table(texts)


def lookup_embedding_table(texts: Any) -> Any:
    raise KeyError("embedding table 'v2' is not loaded")


class PluginTask(Task):
    """A task a plugin ships: it reads nothing and answers what ``answer`` gives."""

    family = "sts"
    main_metric = "spearman"

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return []

    def evaluate(self, encode, files, split):
        encode(["a text"], "query")
        return self.answer()


def score_from_missing_column() -> TaskOutput:
    raise IndexError("list index out of range")


class DemoPlugin:
    @hookimpl
    def harness_register_encoders(self, register: Any) -> None:
        register("broken", lambda settings: BrokenEncoder(), "raises inside encode (tests)")
        register("fine", lambda settings: HashingEncoder(), "works (tests)")

    @hookimpl
    def harness_register_tasks(self, register: Any) -> None:
        register("raising-task", lambda: PluginTask(score_from_missing_column), "raises in evaluate (tests)")
        register(
            "no-main-metric",
            lambda: PluginTask(lambda: TaskOutput(metrics={"pearson": 0.5}, main_score=0.5, n_examples=1)),
            "answers without its main metric (tests)",
        )


@pytest.fixture
def demo_plugin():
    get_host().register(DemoPlugin(), name="demo-plugin")


def failed_line(err: str) -> str:
    (line,) = [line for line in err.splitlines() if ": FAILED: " in line]
    return line


@pytest.mark.parametrize("debug", [False, True])
def test_an_encoder_raising_in_encode_names_its_plugin(cli, demo_plugin, tmp_path: Path, monkeypatch, debug) -> None:
    if debug:
        monkeypatch.setenv("HARNESS_DEBUG", "1")
    else:
        monkeypatch.delenv("HARNESS_DEBUG", raising=False)
    result = cli("run", "--encoder", "broken", "--tasks", "stsb", "--out", tmp_path / "out", "--no-cache")
    assert result.code == 1
    line = failed_line(result.err)
    assert "stsb@test: FAILED: plugin 'demo-plugin': encoder 'broken' raised KeyError:" in line
    assert "embedding table 'v2' is not loaded" in line
    assert ("Traceback (most recent call last)" in result.err) is debug
    assert ("in lookup_embedding_table" in result.err) is debug  # the plugin's own frame, for the bug report
    if not debug:
        assert "HARNESS_DEBUG=1 shows the traceback" in line and len(result.err.splitlines()) == 2


def test_a_task_raising_in_evaluate_names_its_plugin(cli, demo_plugin, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_DEBUG", "1")
    result = cli("run", "--encoder", "fine", "--tasks", "raising-task,stsb", "--out", tmp_path / "out")
    assert result.code == 1
    line = failed_line(result.err)
    assert "raising-task@test: FAILED: plugin 'demo-plugin': task 'raising-task' raised IndexError" in line
    assert "in score_from_missing_column" in result.err
    assert "stsb@test: " in result.out  # the run went on


def test_a_task_output_without_the_main_metric_is_refused(cli, demo_plugin, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli("run", "--encoder", "fine", "--tasks", "no-main-metric", "--out", out)
    assert result.code == 1
    assert failed_line(result.err).endswith(
        "no-main-metric@test: FAILED: plugin 'demo-plugin': task 'no-main-metric' returned metrics without its "
        "main metric 'spearman' (metrics: pearson)"
    )
    assert not list(out.rglob("*@*.json"))
