"""What a plugin author sees when a plugin is wrong: a hook pluggy refuses, a suite naming an unknown task, a
``HARNESS_LOAD_PLUGINS`` name that is not installed; and the README's task example, which must run as printed."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path
from typing import Any

import pytest

from harness import hookimpl
from harness.pluginhost import get_host, reset_host
from helpers import REPO, harness_cli

README = REPO / "README.md"


class WrongArgumentPlugin:
    """``registr`` for ``register``: pluggy refuses the whole plugin, so its correctly written hook is lost too."""

    @hookimpl
    def harness_register_suites(self, registr: Any) -> None:
        registr("never", ["stsb"])


class SuitePlugin:
    """A suite with one real task and one misspelt one."""

    @hookimpl
    def harness_register_suites(self, register: Any) -> None:
        register("my-suite", ["stsb", "sickrr@full"], "one real task, one misspelt")
        register("folder-suite", ["beir:"], "a task family, without the folder it needs")


def warnings_in(err: str) -> list[str]:
    return [
        line.removeprefix("harness: warning: ") for line in err.splitlines() if line.startswith("harness: warning:")
    ]


def plugin_status(out: str, name: str) -> str:
    """The ``hooks: ...; status: ...`` line that ``harness plugins`` prints under plugin ``name``."""
    lines = out.splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.startswith(f"{name} ")) + 1].strip()


# -- a hook implementation pluggy refuses ----------------------------------------------------------------------


def test_a_hook_with_a_wrong_argument_keeps_pluggys_reason(cli, fake_plugin, tmp_path: Path) -> None:
    get_host().register(WrongArgumentPlugin(), name="wrong-argument")
    reason = (
        "PluginValidationError: Plugin 'wrong-argument' for hook 'harness_register_suites'; "
        "hookimpl definition: harness_register_suites(registr: 'Any') -> 'None'; "
        "Argument(s) {'registr'} are declared in the hookimpl but can not be found in the hookspec; "
        "hook 'harness_register_suites' takes (register)"
    )
    expected = f"plugin 'wrong-argument' (registered in-process) failed to load: {reason}"
    listing = cli("list", "suites")
    assert listing.code == 0
    assert warnings_in(listing.err) == [expected]
    assert "never" not in listing.out and "default" in listing.out

    plugins = cli("plugins")
    assert plugin_status(plugins.out, "wrong-argument") == f"hooks: -; status: failed to load: {reason}"

    # The rest of the harness runs.
    done = cli("run", "--encoder", "hashing", "--tasks", "stsb", "--out", tmp_path / "out")
    assert done.code == 0, done.err
    assert warnings_in(done.err) == [expected]
    assert (tmp_path / "out" / "hashing" / "stsb@test.json").is_file()


# -- a suite naming an unknown task ----------------------------------------------------------------------------


def test_a_suite_naming_an_unknown_task_is_its_plugins_warning_and_is_not_run(cli, fake_plugin, tmp_path: Path) -> None:
    get_host().register(SuitePlugin(), name="suite-plugin")
    problem = "registers suite 'my-suite' naming unknown task 'sickrr'; did you mean 'sickr' or 'cr'?"
    expected = f"plugin 'suite-plugin' {problem}"

    family = "plugin 'suite-plugin' registers suite 'folder-suite' naming task family 'beir:' without the text after its colon"

    listing = cli("list", "suites")
    assert listing.code == 0
    assert warnings_in(listing.err) == [expected, family]
    assert "my-suite" in listing.out  # listed as registered: the warning says what is wrong with it

    plugins = cli("plugins")
    status = plugin_status(plugins.out, "suite-plugin")
    assert status.startswith(f"hooks: harness_register_suites; status: warning: {problem}; ")
    assert "status: ok" in plugin_status(plugins.out, "harness.plugins.suites")

    out = tmp_path / "out"
    refused = cli("run", "--encoder", "hashing", "--suite", "my-suite", "--out", out)
    assert refused.code == 1
    assert refused.error == f"cannot run suite 'my-suite': {expected}"
    assert not out.exists()  # not even stsb, the task that does exist: a suite runs whole or not at all

    # The plugin's suite is its only problem: the same tasks by name, and the other suites, run.
    done = cli("run", "--encoder", "hashing", "--tasks", "stsb", "--out", out)
    assert done.code == 0 and warnings_in(done.err) == [expected, family]
    assert (out / "hashing" / "stsb@test.json").is_file()


def test_the_builtin_suites_name_only_registered_tasks(cli) -> None:
    listing = cli("list", "suites")
    assert listing.code == 0 and listing.err == ""
    catalog = get_host().catalog
    assert all(catalog.suite_problems(suite) == [] for suite in catalog.suites.values())


# -- HARNESS_LOAD_PLUGINS naming a plugin that is not installed ------------------------------------------------


def test_load_plugins_naming_an_uninstalled_plugin_says_so(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_LOAD_PLUGINS", "no-such-plugin, harness.plugins.cpt")
    reset_host()
    listing = cli("list", "encoders")
    assert listing.code == 0
    # The test environment installs no third-party plugin; a built-in's name is not "not installed".
    assert warnings_in(listing.err) == [
        "HARNESS_LOAD_PLUGINS names 'no-such-plugin', which is not an installed plugin; "
        "installed plugins (entry points of group 'harness'): none"
    ]
    assert "minilm-l6" in listing.out


def test_load_plugins_empty_or_naming_installed_plugins_is_quiet(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("", " , "):
        monkeypatch.setenv("HARNESS_LOAD_PLUGINS", value)
        reset_host()
        assert cli("list", "encoders").err == ""


def test_load_plugins_warning_lists_the_installed_entry_points(thirdparty_site: Path) -> None:
    result = harness_cli(["list", "encoders"], site=thirdparty_site, env={"HARNESS_LOAD_PLUGINS": "dmeo,demo"})
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "harness: warning: HARNESS_LOAD_PLUGINS names 'dmeo', which is not an installed plugin; "
        "installed plugins (entry points of group 'harness'): demo, demo_broken_hook, demo_broken_import, "
        "demo_clash, demo_commands, demo_typo"
    ]
    assert "demo-hash" in result.stdout  # the names that are installed still load
    by_distribution = harness_cli(
        ["list", "encoders"], site=thirdparty_site, env={"HARNESS_LOAD_PLUGINS": "harness-thirdparty-demo"}
    )
    assert "not an installed plugin" not in by_distribution.stderr and "demo-hash" in by_distribution.stdout


# -- the README's task written from scratch ---------------------------------------------------------------------


def readme_task_plugin(folder: Path, pairs: str) -> types.ModuleType:
    """The README's ``MyPairs`` example as a module in ``folder``, with ``pairs`` as its ``pairs.tsv``."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    source = next(b for b in blocks if "class MyPairs(Task)" in b)
    (folder / "pairs.tsv").write_text(pairs, encoding="utf-8")
    module = types.ModuleType("my_pairs_plugin")
    module.__file__ = str(folder / "my_pairs_plugin.py")
    exec(compile(source, "README.md", "exec"), module.__dict__)
    return module


PAIRS = (
    "a man plays the guitar\tthe man plays a guitar\t4.8\r\n"
    "a dog runs in the park\ta dog runs in a park\t4.5\r\n"
    "the cat sleeps on the sofa\ta man plays the guitar\t0.2\r\n"
    "a man runs in the park\tthe cat sleeps\t0.5\r\n"
)


def test_readme_task_example_runs_and_records_per_example_scores(cli, fake_plugin, tmp_path: Path) -> None:
    """On a file as a Windows editor saves it (a byte-order mark, CRLF line endings)."""
    get_host().register(readme_task_plugin(tmp_path, "\ufeff" + PAIRS), name="my_pairs_plugin")
    info = cli("info", "my-pairs")
    assert info.code == 0 and "Scored sentence pairs shipped with my plugin." in info.out
    assert "scored pairs from my plugin" in cli("list", "tasks").out

    done = cli("run", "--encoder", "hashing", "--tasks", "my-pairs", "--out", tmp_path / "out")
    assert done.code == 0, done.err
    record = json.loads((tmp_path / "out" / "hashing" / "my-pairs@test.json").read_text())
    assert record["n_examples"] == 4 and set(record["metrics"]) == {"cosine_spearman"}
    assert record["per_example"]["statistic"] == "spearman"
    assert record["per_example"]["values"]["gold"] == [4.8, 4.5, 0.2, 0.5]


def test_readme_task_example_reports_a_malformed_row_by_file_and_line(cli, fake_plugin, tmp_path: Path) -> None:
    pairs = PAIRS.replace("the cat sleeps\t0.5", "the cat sleeps 0.5")
    get_host().register(readme_task_plugin(tmp_path, pairs), name="my_pairs_plugin")
    done = cli("run", "--encoder", "hashing", "--tasks", "my-pairs", "--out", tmp_path / "out")
    assert done.code == 1
    assert done.failure.endswith(f"{tmp_path / 'pairs.tsv'}:4: 2 tab-separated fields, not 3"), done.failure
