"""A real third-party distribution, installed by pip, is discovered through its entry points."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import harness_cli


def test_plugins_lists_thirdparty_with_version_and_origin(thirdparty_site: Path) -> None:
    result = harness_cli(["plugins"], site=thirdparty_site)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    demo = next(line for line in lines if line.startswith("demo "))
    assert "1.2.3" in demo and "harness_thirdparty_demo.plugin" in demo and "harness-thirdparty-demo" in demo
    assert "harness.plugins.tasks.sts" in result.stdout  # built-ins are listed the same way


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
        env={"HARNESS_DISABLE_PLUGINS": "demo_broken_import,demo_broken_hook"},
    )
    assert "demo-hash" in disabled.stdout and "warning" not in disabled.stderr
