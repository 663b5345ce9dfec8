"""Every flag of every core command has a test that runs ``harness`` with it and observes its effect.

:data:`FLAG_TESTS` is the catalogue (like the README's fault table): flag to the test that shows it working.
A new flag without an entry, or an entry naming a test that does not exist or never passes the flag, fails
:func:`test_every_flag_has_a_test_that_uses_it`.  The tests below cover the flags no other module needed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import pytest

from harness.cli.main import build_parser
from helpers import function_source, read_results

FLAG_TESTS: dict[str, dict[str, str]] = {
    "run": {
        "--encoder": "cli/test_cli.py::test_run_writes_results_and_leaderboard",
        "--option": "cli/test_flags.py::test_option_long_form_and_device_are_the_option_path",
        "--device": "cli/test_flags.py::test_option_long_form_and_device_are_the_option_path",
        "--batch-size": "api/test_encoder_options.py::test_batch_tokens_forms_token_budget_batches",
        "--batch-tokens": "api/test_encoder_options.py::test_batch_tokens_forms_token_budget_batches",
        "--precision": "api/test_encoder_options.py::test_an_option_the_encoder_does_not_read_is_refused_before_any_work",
        "--backend": "baselines/test_backends.py::test_minilm_on_onnx_through_harness_run_scores_as_torch_and_reuses_its_export",
        "--checkpoint": "cpt/test_training.py::test_trained_checkpoint_evaluates_through_harness_run",
        "--untrained": "api/test_encoder_options.py::test_cpt_options_name_their_results",
        "--backbone": "cpt/test_cpt_model.py::test_untrained_preset_can_point_at_a_local_backbone",
        "--max-length": "api/test_encoder_options.py::test_an_option_the_encoder_does_not_read_is_refused_before_any_work",
        "--pooling": "api/test_encoder_options.py::test_the_label_follows_the_options_that_change_the_vectors",
        "--label": "api/test_encoder_options.py::test_the_label_follows_the_options_that_change_the_vectors",
        "--tasks": "cli/test_cli.py::test_run_writes_results_and_leaderboard",
        "--suite": "cli/test_cli.py::test_unknown_task_and_suite_suggest_closest",
        "--out": "cli/test_cli.py::test_run_writes_results_and_leaderboard",
        "--force": "results/test_results.py::test_rerun_skips_finished_pairs_and_force_recomputes",
        "--data-dir": "tasks/test_bad_input.py::test_beir_folder_relative_to_the_data_dir",
        "--download": "data/test_datasets.py::test_beir_suite_runs_end_to_end_with_download",
        "--no-per-example": "cli/test_flags.py::test_no_per_example_leaves_them_out",
        "--cache": "running/test_cache.py::test_runs_reuse_vectors_and_the_cache_command",
        "--no-cache": "running/test_cache.py::test_no_cache_reads_and_writes_nothing",
        "--progress": "cli/test_flags.py::test_progress_bars_on_request",
        "--no-progress": "cli/test_flags.py::test_progress_bars_on_request",
    },
    "info": {},
    "list": {"--options": "api/test_encoder_options.py::test_info_lists_an_encoders_options_with_defaults"},
    "plugins": {},
    "leaderboard": {
        "--html": "results/test_compare_and_pages.py::test_markdown_and_html_leaderboards",
        "--markdown": "results/test_compare_and_pages.py::test_markdown_and_html_leaderboards",
        "--published": "results/test_published_mteb.py::test_leaderboard_shows_published_rows_marked_with_version_and_revision",
    },
    "report": {
        "--paper": "results/test_paper_report.py::test_report_lays_results_out_as_the_paper_tables",
        "--markdown": "results/test_paper_report.py::test_report_lays_results_out_as_the_paper_tables",
        "--html": "results/test_paper_report.py::test_report_lays_results_out_as_the_paper_tables",
        "--published": "results/test_paper_report.py::test_bad_published_rows_are_one_error_line",
    },
    "check": {
        "--encoder": "api/test_encoder_options.py::test_check_run_passes_encoder_options_and_finds_their_label",
        "--option": "cli/test_flags.py::test_check_label_and_option_long_form",
        "--device": "cli/test_flags.py::test_check_label_and_option_long_form",
        "--batch-size": "cli/test_flags.py::test_check_label_and_option_long_form",
        "--batch-tokens": "cli/test_flags.py::test_check_label_and_option_long_form",
        "--precision": "cli/test_flags.py::test_check_label_and_option_long_form",
        "--backend": "baselines/test_backends.py::test_torch_only_precisions_are_refused_with_a_backend",
        "--checkpoint": "cpt/test_training.py::test_trained_checkpoint_evaluates_through_harness_run",
        "--untrained": "cli/test_flags.py::test_check_label_and_option_long_form",
        "--backbone": "cli/test_flags.py::test_check_label_and_option_long_form",
        "--max-length": "cli/test_flags.py::test_check_label_and_option_long_form",
        "--pooling": "api/test_encoder_options.py::test_check_run_passes_encoder_options_and_finds_their_label",
        "--label": "cli/test_flags.py::test_check_label_and_option_long_form",
        "--baseline": "checks/test_check.py::test_usage_errors_exit_2",
        "--results": "checks/test_check.py::test_usage_errors_exit_2",
        "--run": "api/test_encoder_options.py::test_check_run_passes_encoder_options_and_finds_their_label",
        "--tasks": "api/test_encoder_options.py::test_a_tasks_default_split_is_used_everywhere",
        "--tolerance": "cli/test_flags.py::test_check_tolerance_decides_what_counts_as_a_regression",
        "--config": "checks/test_check.py::test_usage_errors_exit_2",
        "--all-metrics": "checks/test_check.py::test_all_metrics_checks_every_score",
        "--update": "api/test_encoder_options.py::test_check_run_passes_encoder_options_and_finds_their_label",
        "--report": "checks/test_check.py::test_usage_errors_exit_2",
        "--data-dir": "cli/test_flags.py::test_check_data_dir_is_where_the_rerun_reads",
    },
    "compare": {
        "--resamples": "cli/test_flags.py::test_compare_resamples_confidence_and_seed",
        "--confidence": "cli/test_flags.py::test_compare_resamples_confidence_and_seed",
        "--seed": "cli/test_flags.py::test_compare_resamples_confidence_and_seed",
        "--report": "results/test_compare_and_pages.py::test_compare_prints_intervals_for_two_encoders",
        "--published": "results/test_published_mteb.py::test_reference_runs_agree_with_the_published_scores",
        "--model": "results/test_published_mteb.py::test_reference_runs_agree_with_the_published_scores",
        "--html": "results/test_compare_and_pages.py::test_compare_html_is_a_forest_plot_of_compares_rows",
    },
    "cache": {
        "--cache": "running/test_cache.py::test_runs_reuse_vectors_and_the_cache_command",
        "--encoder": "running/test_cache.py::test_runs_reuse_vectors_and_the_cache_command",
    },
}


def _core_flags() -> dict[str, set[str]]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    flags: dict[str, set[str]] = {}
    for name, sub in commands.choices.items():
        if name not in FLAG_TESTS and name in ("data", "train", "mine-pairs"):
            continue  # plugin commands: their own test modules drive them (tests/data, tests/cpt)
        flags[name] = {o for a in sub._actions for o in a.option_strings if o.startswith("--") and o != "--help"}
    return flags


def test_every_flag_has_a_test_that_uses_it() -> None:
    flags = _core_flags()
    assert set(flags) == set(FLAG_TESTS), "a core command is missing from FLAG_TESTS (or gone)"
    for command, names in flags.items():
        assert set(FLAG_TESTS[command]) == names, (command, names ^ set(FLAG_TESTS[command]))
        for flag, reference in FLAG_TESTS[command].items():
            source = function_source(reference)
            spelled = {flag, "-o"} if flag == "--option" else {flag}
            assert any(f'"{s}"' in source for s in spelled), f"{reference} never passes {flag}"


def test_option_long_form_and_device_are_the_option_path(cli, fake_plugin, tmp_path: Path) -> None:
    out = tmp_path / "results"
    assert cli("run", "--encoder", "hashing", "--tasks", "stsb", "--out", out, "--option", "salt=x").code == 0
    assert cli("run", "--encoder", "hashing", "--tasks", "stsb", "--out", out, "--device", "cpu", "--force").code == 0
    (record,) = read_results(out).values()
    assert record["encoder"]["options"]["device"] == "cpu" and record["environment"]["device"]["requested"] == "cpu"
    # salt is not label-marked, but it is in the fingerprint: the second run (no salt) is other work, not a skip
    assert record["encoder"]["fingerprint"]["salt"] == ""
    bad = cli("run", "--encoder", "hashing", "--tasks", "stsb", "--out", out, "--device", "tpu")
    assert bad.code == 2 and "option device: unknown device 'tpu'; use cpu, cuda or cuda:N" in bad.error


def test_no_per_example_leaves_them_out(cli, fake_plugin, tmp_path: Path) -> None:
    assert cli("run", "--encoder", "hashing", "--tasks", "stsb", "--out", tmp_path / "with").code == 0
    assert (
        cli("run", "--encoder", "hashing", "--tasks", "stsb", "--out", tmp_path / "without", "--no-per-example").code
        == 0
    )
    (kept,) = read_results(tmp_path / "with").values()
    (left_out,) = read_results(tmp_path / "without").values()
    assert len(kept["per_example"]["values"]["gold"]) == 1379 and "per_example" not in left_out
    assert left_out["main_score"] == kept["main_score"]


def test_progress_bars_on_request(cli, fake_plugin, tmp_path: Path) -> None:
    shown = cli("run", "--encoder", "hashing", "--tasks", "stsb", "--out", tmp_path / "a", "--progress")
    hidden = cli("run", "--encoder", "hashing", "--tasks", "stsb", "--out", tmp_path / "b", "--no-progress")
    assert shown.code == hidden.code == 0
    assert re.search(r"tasks: 100%\|", shown.err) and "%|" not in hidden.err


def _raised_baseline(cli, tmp_path: Path, by: float) -> Path:
    results, baseline = tmp_path / "baseline-results", tmp_path / "baseline.json"
    assert cli("run", "--encoder", "hash-bow", "--tasks", "stsb", "--out", results).code == 0
    assert cli("check", "--baseline", baseline, "--results", results, "--update").code == 0
    data = json.loads(baseline.read_text())
    data["entries"][0]["main_score"] += by
    baseline.write_text(json.dumps(data))
    return results


def test_check_tolerance_decides_what_counts_as_a_regression(cli, tmp_path: Path) -> None:
    results = _raised_baseline(cli, tmp_path, 0.01)
    baseline = tmp_path / "baseline.json"
    strict = cli("check", "--baseline", baseline, "--results", results)
    loose = cli("check", "--baseline", baseline, "--results", results, "--tolerance", "0.05")
    assert strict.code == 1 and "regression" in strict.out
    assert loose.code == 0 and "0.0500" in loose.out


def test_check_data_dir_is_where_the_rerun_reads(cli, tmp_path: Path, shared_data: Path) -> None:
    _raised_baseline(cli, tmp_path, 0.0)
    baseline = tmp_path / "baseline.json"
    data = tmp_path / "data" / "stsb" / "original"
    data.mkdir(parents=True)
    shutil.copy(shared_data / "stsb" / "original" / "sts-test.csv", data)
    args = ["check", "--baseline", baseline, "--run", "--encoder", "hash-bow", "--results"]
    assert cli(*args, tmp_path / "same", "--data-dir", tmp_path / "data").code == 0
    with (data / "sts-test.csv").open("a") as handle:  # another version of the file in that folder
        handle.write("extra\tline\n")
    changed = cli(*args, tmp_path / "changed", "--data-dir", tmp_path / "data")
    assert changed.code == 4 and str(data / "sts-test.csv") in changed.err and "run error" in changed.err


def test_check_label_and_option_long_form(cli, fake_plugin, tmp_path: Path) -> None:
    """check --run takes every encoder flag run takes; --label files (and finds) the results under that name."""
    results, baseline = tmp_path / "r", tmp_path / "baseline.json"
    assert cli("run", "--encoder", "hashing", "--tasks", "stsb", "--out", results, "--label", "mine").code == 0
    assert cli("check", "--baseline", baseline, "--results", results, "--update").code == 0
    args = ["check", "--baseline", baseline, "--run", "--encoder", "hashing", "--label", "mine", "--results"]
    assert cli(*args, tmp_path / "a", "--option", "salt=", "--device", "cpu", "--batch-size", "4").code == 0
    assert set(read_results(tmp_path / "a")) == {"mine/stsb@test"}
    assert cli(*args, tmp_path / "b", "--batch-tokens", "64", "--precision", "fp32").code == 0
    for flag in (["--max-length", "8"], ["--untrained"], ["--backbone", "micro"]):
        refused = cli(*args, tmp_path / "c", *flag)
        assert refused.code == 2 and "encoder 'hashing' has no option" in refused.error, flag
    salted = cli(*args, tmp_path / "d", "-o", "salt=other")  # another fingerprint: not comparable with the baseline
    assert salted.code == 3 and "incomparable" in salted.out


def test_compare_resamples_confidence_and_seed(cli, fake_plugin, tmp_path: Path) -> None:
    for encoder in ("hash-bow", "hashing"):
        assert cli("run", "--encoder", encoder, "--tasks", "stsb", "--out", tmp_path / encoder).code == 0
    a, b = tmp_path / "hash-bow" / "hash-bow", tmp_path / "hashing" / "hashing"

    def intervals(*flags: str) -> tuple[str, dict]:
        report = tmp_path / "report.json"
        result = cli("compare", a, b, "--report", "json", report, *flags)
        assert result.code == 0, result.err
        return result.out, json.loads(report.read_text())

    out, first = intervals("--resamples", "200", "--confidence", "0.9", "--seed", "1")
    assert "200 resamples, 90% interval" in out and first["resamples"] == 200 and first["confidence"] == 0.9
    _, again = intervals("--resamples", "200", "--confidence", "0.9", "--seed", "1")
    _, other_seed = intervals("--resamples", "200", "--confidence", "0.9", "--seed", "2")
    _, wider = intervals("--resamples", "200", "--confidence", "0.99", "--seed", "1")
    (row,), (same,), (reseeded,), (wide,) = first["tasks"], again["tasks"], other_seed["tasks"], wider["tasks"]
    assert (row["low"], row["high"]) == (same["low"], same["high"])  # a seed reproduces its interval
    assert (row["low"], row["high"]) != (reseeded["low"], reseeded["high"])
    assert wide["low"] < row["low"] and wide["high"] > row["high"]


@pytest.mark.parametrize("command", sorted(FLAG_TESTS))
def test_every_core_command_has_help(command: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
