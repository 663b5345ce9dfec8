"""A real third-party distribution, installed by pip, is discovered through its entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import harness_cli

FAULTY_COMMAND_PLUGINS = ("demo_typo", "demo_clash")
"""The demo plugins with problems beyond the two broken ones: a misspelt hook, command names already taken."""


def test_plugins_lists_thirdparty_with_version_and_origin(thirdparty_site: Path) -> None:
    result = harness_cli(["plugins"], site=thirdparty_site)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    demo = next(line for line in lines if line.startswith("demo "))
    assert "1.2.3" in demo and "harness_thirdparty_demo.plugin" in demo and "harness-thirdparty-demo" in demo
    assert "harness.plugins.tasks.sts.tasks" in result.stdout  # built-ins are listed the same way


def test_broken_plugins_are_reported_in_one_line_and_the_rest_works(thirdparty_site: Path) -> None:
    result = harness_cli(["list", "encoders"], site=thirdparty_site)
    assert result.returncode == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("harness: warning:")]
    assert any("demo_broken_import" in w and "ModuleNotFoundError" in w for w in warnings), result.stderr
    assert any("demo_broken_hook" in w and "demo plugin failure inside the hook" in w for w in warnings)
    assert "Traceback" not in result.stderr
    assert "demo-hash" in result.stdout and "minilm-l6" in result.stdout
    # A hook that raised registers nothing, not half of what it meant to.
    assert "half-registered" not in result.stdout


def test_run_uses_thirdparty_encoder_and_task(thirdparty_site: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = harness_cli(["run", "--encoder", "demo-hash", "--suite", "demo", "--out", str(out)], site=thirdparty_site)
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "demo-hash" / "demo-sts@test.json").read_text())
    assert record["encoder"]["fingerprint"] == {"kind": "demo-hash", "dim": 256}
    assert record["n_examples"] == 8
    assert 0.5 < record["main_score"] <= 1.0  # the hashed words do separate paraphrases from unrelated pairs
    board = json.loads((out / "leaderboard.json").read_text())
    assert {r["task"] for r in board["results"]} == {"demo-sts", "demo-sts2", "demo-sts3"}


def test_load_plugins_allow_list_and_disable_list(thirdparty_site: Path) -> None:
    only_demo = harness_cli(["list", "encoders"], site=thirdparty_site, env={"HARNESS_LOAD_PLUGINS": "demo"})
    assert "demo-hash" in only_demo.stdout and "warning" not in only_demo.stderr
    none = harness_cli(["list", "encoders"], site=thirdparty_site, env={"HARNESS_LOAD_PLUGINS": ""})
    assert "demo-hash" not in none.stdout and "minilm-l6" in none.stdout
    disabled = harness_cli(
        ["list", "encoders"],
        site=thirdparty_site,
        env={"HARNESS_DISABLE_PLUGINS": f"demo_broken_import,demo_broken_hook,{','.join(FAULTY_COMMAND_PLUGINS)}"},
    )
    assert "demo-hash" in disabled.stdout and "warning" not in disabled.stderr


def test_a_misspelt_hook_is_the_plugins_problem_with_the_closest_hook(thirdparty_site: Path) -> None:
    expected = (
        "plugin 'demo_typo' implements unknown hook 'harness_register_encoder' "
        "(did you mean 'harness_register_encoders'?)"
    )
    plugins = harness_cli(["plugins"], site=thirdparty_site)
    assert plugins.returncode == 0, plugins.stderr
    lines = plugins.stdout.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("demo_typo "))
    status = lines[index + 1]
    assert "status: ok" not in status
    assert "hooks: harness_register_suites;" in status  # the misspelt name is not listed as a hook
    assert expected.removeprefix("plugin 'demo_typo' ") in status

    listing = harness_cli(["list", "suites"], site=thirdparty_site)
    assert f"harness: warning: {expected}" in listing.stderr.splitlines()
    assert "demo-typo" in listing.stdout  # the correctly spelt hook of the same plugin still works
    encoders = harness_cli(["list", "encoders"], site=thirdparty_site)
    assert "typo-hash" not in encoders.stdout and f"harness: warning: {expected}" in encoders.stderr


def test_a_plugin_contributes_a_command_that_harness_runs(thirdparty_site: Path) -> None:
    greeted = harness_cli(["demo-greet", "Ada"], site=thirdparty_site)
    assert greeted.returncode == 0, greeted.stderr
    assert greeted.stdout == "hello, Ada\n"
    assert harness_cli(["demo-greet", "Ada", "--exit-code", "3"], site=thirdparty_site).returncode == 3

    failed = harness_cli(["demo-greet", "Bob", "--fail"], site=thirdparty_site)
    assert failed.returncode == 1
    assert failed.stderr == "harness: error: demo-greet: cannot greet 'Bob', as asked\n"

    usage = harness_cli(["demo-greet", "--help"], site=thirdparty_site)
    assert usage.returncode == 0 and "--exit-code" in usage.stdout and "greet someone" in usage.stdout
    top = harness_cli(["--help"], site=thirdparty_site)
    assert "demo-greet" in top.stdout and "greet someone" in top.stdout

    plugins = harness_cli(["plugins"], site=thirdparty_site)
    lines = plugins.stdout.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("demo_commands "))
    assert lines[index + 1].strip() == "hooks: harness_register_commands; status: ok"


def test_command_names_already_taken_are_refused_as_the_plugins_problem(thirdparty_site: Path, tmp_path: Path) -> None:
    listing = harness_cli(["list", "suites"], site=thirdparty_site)
    warnings = [line for line in listing.stderr.splitlines() if "demo_clash" in line]
    assert warnings == [
        "harness: warning: command 'run' from plugin 'demo_clash' ignored: 'run' is a core harness command",
        "harness: warning: command 'mine-pairs' from plugin 'demo_clash' ignored: "
        "already registered by 'harness.plugins.cpt'",
    ]
    plugins = harness_cli(["plugins"], site=thirdparty_site)
    lines = plugins.stdout.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("demo_clash "))
    assert "status: warning: command 'run' from plugin 'demo_clash' ignored" in lines[index + 1]

    # The commands that were there first still answer.
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text("one two three four five six.\n\nseven eight nine ten eleven twelve.\n")
    out = tmp_path / "pairs.jsonl"
    mined = harness_cli(
        ["mine-pairs", "text", str(folder), "--out", str(out), "--min-words", "3"], site=thirdparty_site
    )
    assert mined.returncode == 0, mined.stderr
    assert "hijacked" not in mined.stdout and out.is_file()
    ran = harness_cli(["run", "--help"], site=thirdparty_site)
    assert ran.returncode == 0 and "--encoder" in ran.stdout and "hijacked" not in ran.stdout


def test_training_commands_come_from_the_cpt_plugin_and_load_only_when_used(tmp_path: Path) -> None:
    """The core CLI imports no training code: building the parser leaves ``harness.encoders.training`` unloaded."""
    probe = (
        "import sys\n"
        "from harness.cli import build_parser\n"
        "parser = build_parser()\n"
        "print(sorted(m for m in sys.modules if m.startswith('harness.encoders.training')))\n"
        "try:\n"
        "    parser.parse_args(['train', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('harness.encoders.training')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "[]", "building the parser imported training code"
    assert "--pairs PAIRS" in result.stdout  # the help of 'train', declared when asked for
    # Declaring the options of 'train' needs its CLI module, not the trainer (torch) behind it.
    assert lines[-1] == "['harness.encoders.training', 'harness.encoders.training.train_cli']"
    plugins = harness_cli(["plugins"])
    lines = plugins.stdout.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("harness.plugins.cpt "))
    assert "harness_register_commands" in lines[index + 1]


def test_a_retrieval_task_on_the_public_base_runs_through_harness_run(thirdparty_site: Path, tmp_path: Path) -> None:
    """``demo-retrieval`` is metadata and a reader (harness_thirdparty_demo/retrieval.py); the base searches and scores.

    Its three queries each find their documents first, by the demo's hashed words (vectors) and by BM25 (a
    ranking): nDCG@10 and MRR are 1, and recall@1 is (1 + 1 + 1/2) / 3, since q3 has two relevant documents.
    """
    out = tmp_path / "results"
    for encoder in ("demo-hash", "bm25"):
        result = harness_cli(
            ["run", "--encoder", encoder, "--tasks", "demo-retrieval", "--out", str(out), "--no-cache"],
            site=thirdparty_site,
        )
        assert result.returncode == 0, result.stderr
        record = json.loads((out / encoder / "demo-retrieval@test.json").read_text())
        assert record["task"]["family"] == "retrieval" and record["task"]["main_metric"] == "ndcg_at_10"
        assert record["n_examples"] == 3 and record["details"]["corpus_size"] == 6
        metrics = record["metrics"]
        assert record["main_score"] == metrics["ndcg_at_10"] == 1.0, metrics
        assert metrics["mrr_at_10"] == 1.0 and metrics["recall_at_1"] == pytest.approx(2.5 / 3)
        assert {f"{m}_at_{k}" for m in ("ndcg", "map", "recall", "precision", "mrr") for k in (1, 10, 1000)} <= set(
            metrics
        )
        assert len(record["task"]["dataset"]["files"]) == 3  # the plugin's own files, hashed as read
    assert json.loads((out / "bm25" / "demo-retrieval@test.json").read_text())["details"]["search"] == {
        "mode": "encoder-ranking"
    }
