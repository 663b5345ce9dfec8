"""Encoder options through the real ``harness`` entry point: applied, refused, labelled, and shared by every front end.

Each test runs the command (``harness.cli.main``) and observes the option's effect: the batches an encoder
forms, the folder results land in, the exit code and the one error line, what a check reruns.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness import DataFiles, DatasetFile, EncodeFn, Task, TaskOutput, hookimpl
from harness.pluginhost import get_host
from helpers import build_tiny_bert, build_tiny_sbert, read_results


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("options-models")
    return {"hf": build_tiny_bert(folder / "bert"), "sbert": build_tiny_sbert(folder / "sbert")}


def _record_batches(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[list[int]]:
    """Wrap ``module.name`` (a batch planner) so the batches an encoder really formed are kept."""
    real = getattr(module, name)
    seen: list[list[int]] = []

    def recording(*args: Any, **kwargs: Any) -> list[list[int]]:
        batches = [list(rows) for rows in real(*args, **kwargs)]
        seen.extend(batches)
        return batches

    monkeypatch.setattr(module, name, recording)
    return seen


@pytest.mark.parametrize("family", ["hf", "sbert"])
def test_batch_tokens_forms_token_budget_batches(cli, tiny, tmp_path: Path, monkeypatch, family: str) -> None:
    """The regression: --batch-tokens was recorded but every run batched by --batch-size."""
    if family == "hf":
        import harness.plugins.baselines.transformers_pooled as module

        seen = _record_batches(monkeypatch, module, "plan_batches")
    else:
        import harness.plugins.baselines.sentence_transformers as module

        seen = _record_batches(monkeypatch, module, "token_budget_batches")
    out = tmp_path / "results"
    args = ["run", "--encoder", f"{family}:{tiny[family]}", "--tasks", "stsb", "--out", out, "--no-cache"]
    result = cli(*args, "--batch-size", "64", "--batch-tokens", "96")
    assert result.code == 0, result.err
    sizes = {len(rows) for rows in seen}
    assert seen and max(sizes) <= 64 and len(sizes) > 1, sizes  # the budget, not the row cap, set the batch sizes
    (record,) = read_results(out).values()
    assert record["environment"]["batch_tokens"] == 96 and record["encoder"]["options"]["batch_tokens"] == 96


def test_an_option_the_encoder_does_not_read_is_refused_before_any_work(cli, tmp_path: Path) -> None:
    out = tmp_path / "results"
    for encoder, flag in [
        ("hash-bow", ["--precision", "int8"]),
        ("minilm-l6", ["--pooling", "mean"]),
        ("minilm-l6", ["--max-length", "64"]),
        ("bm25", ["--max-length", "64"]),
        ("hash-bow", ["-o", "dim=512"]),
    ]:
        result = cli("run", "--encoder", encoder, "--tasks", "stsb", "--out", out, *flag)
        assert result.code == 2, (encoder, flag, result.err)
        assert f"encoder {encoder!r} has no option" in result.error and "option" in result.error
    assert not out.exists()  # nothing was run, nothing was written under a label that lies


def test_a_value_of_the_wrong_type_lists_the_options(cli, tmp_path: Path) -> None:
    result = cli("run", "--encoder", "mpnet-base", "--tasks", "stsb", "--out", tmp_path, "-o", "batch_size=many")
    assert result.code == 2
    assert "option batch_size: Input should be a valid integer" in result.error
    assert "its options: " in result.error and "precision (auto|fp32|bf16|fp16|int8, default 'auto')" in result.error
    again = cli("run", "--encoder", "minilm-l6", "--tasks", "stsb", "--batch-size", "4", "-o", "batch_size=8")
    assert again.code == 2 and "batch_size given twice" in again.error


def test_the_label_follows_the_options_that_change_the_vectors(cli, tiny, tmp_path: Path) -> None:
    out = tmp_path / "results"
    name = f"hf:{tiny['hf']}"
    assert cli("run", "--encoder", name, "--tasks", "stsb", "--out", out, "--pooling", "cls").code == 0
    assert cli("run", "--encoder", name, "--tasks", "stsb", "--out", out, "-o", "max_length=16").code == 0
    assert cli("run", "--encoder", name, "--tasks", "stsb", "--out", out, "--precision", "int8").code == 0
    sbert = f"sbert:{tiny['sbert']}"
    assert cli("run", "--encoder", sbert, "--tasks", "stsb", "--out", out, "--precision", "bf16").code == 0
    assert cli("run", "--encoder", name, "--tasks", "stsb", "--out", out, "--batch-size", "7").code == 0
    fp32 = cli("run", "--encoder", name, "--tasks", "stsb", "--out", out, "--precision", "fp32")
    assert fp32.code == 0 and "skipped: already done" in fp32.out  # fp32 is the default's work: same label, reused
    assert (
        cli("run", "--encoder", name, "--tasks", "stsb", "--out", out, "--pooling", "cls", "--label", "mine").code == 0
    )
    records = read_results(out)
    assert set(records) == {
        f"{name}-cls/stsb@test",
        f"{name}-max-length-16/stsb@test",
        f"{name}/stsb@test",
        f"{name}-int8/stsb@test",
        f"{sbert}-bf16/stsb@test",
        "mine/stsb@test",
    }
    assert records[f"{name}-int8/stsb@test"]["encoder"]["fingerprint"]["precision"] == "int8"
    assert records[f"{sbert}-bf16/stsb@test"]["encoder"]["fingerprint"]["precision"] == "bf16"
    assert records[f"{name}-cls/stsb@test"]["encoder"]["fingerprint"]["pooling"] == "cls"
    assert records[f"{name}-max-length-16/stsb@test"]["encoder"]["fingerprint"]["max_length"] == 16
    assert records[f"{name}/stsb@test"]["encoder"]["options"]["batch_size"] == 7  # the batch size names nothing


def test_cpt_options_name_their_results(cli, tmp_path: Path, monkeypatch) -> None:
    import harness.encoders.model as module

    seen = _record_batches(monkeypatch, module, "plan_batches")
    out = tmp_path / "results"
    result = cli("run", "--encoder", "cpt-micro", "--untrained", "--tasks", "stsb", "--out", out, "--no-cache")
    assert result.code == 0, result.err
    assert set(read_results(out)) == {"cpt-micro-untrained/stsb@test"}
    seen.clear()
    flags = [
        "--max-length",
        "24",
        "--precision",
        "bf16",
        "--batch-size",
        "50",
        "--batch-tokens",
        "400",
        "--device",
        "cpu",
    ]
    assert (
        cli("run", "--encoder", "cpt-micro", "--untrained", "--tasks", "stsb", "--out", out, "--no-cache", *flags).code
        == 0
    )
    record = read_results(out)["cpt-micro-bf16-max-length-24-untrained/stsb@test"]
    assert (
        record["encoder"]["fingerprint"]["max_length"] == 24 and record["encoder"]["fingerprint"]["precision"] == "bf16"
    )
    sizes = {len(rows) for rows in seen}
    assert max(sizes) <= 50 and len(sizes) > 1  # the 400-token budget (24-token rows at most) set the batches
    refused = cli("run", "--encoder", "cpt-micro", "--backbone", "micro", "--tasks", "stsb", "--out", out)
    assert refused.code == 2 and "backbone goes with untrained" in refused.error


def test_info_lists_an_encoders_options_with_defaults(cli) -> None:
    result = cli("info", "bm25")
    assert result.code == 0
    assert re.search(r"^  k1 +float = 0.9$", result.out, re.M)
    assert re.search(r"^  stemmer +porter\|english\|none = 'porter'$", result.out, re.M)
    listed = cli("list", "encoders", "--options", "hf:any/model")
    assert listed.code == 0 and re.search(r"^  pooling +mean\|last\|cls = 'mean'$", listed.out, re.M)
    assert re.search(r"^  batch_tokens +int \| None = None$", listed.out, re.M)
    assert "no options" in cli("info", "hash-bow").out
    task = cli("info", "sickr")
    assert task.code == 0 and "splits: test, full (default test)" in task.out
    unknown = cli("info", "minilm-l7")
    assert unknown.code == 2 and "'minilm-l6'" in unknown.error


def test_check_run_passes_encoder_options_and_finds_their_label(cli, tiny, tmp_path: Path) -> None:
    """A check of a non-default configuration reruns that configuration, under the label its baseline used."""
    name = f"hf:{tiny['hf']}"
    first, baseline = tmp_path / "first", tmp_path / "baseline.json"
    assert cli("run", "--encoder", name, "--pooling", "cls", "--tasks", "stsb", "--out", first).code == 0
    assert cli("check", "--baseline", baseline, "--results", first, "--update").code == 0
    assert [e["encoder"] for e in json.loads(baseline.read_text())["entries"]] == [f"{name}-cls"]
    again = cli(
        "check", "--baseline", baseline, "--run", "--encoder", name, "--pooling", "cls", "--results", tmp_path / "a"
    )
    assert again.code == 0, again.out + again.err
    assert f"ok     {name}-cls" in again.out or "1 ok" in again.out
    plain = cli("check", "--baseline", baseline, "--run", "--encoder", name, "--results", tmp_path / "b")
    assert plain.code == 2 and f"no entries for encoder {name!r}" in plain.error
    misplaced = cli("check", "--baseline", baseline, "--results", first, "--pooling", "cls")
    assert misplaced.code == 2 and "need --run" in misplaced.error


def test_pytest_fixture_takes_the_same_options(pytester: pytest.Pytester, cli, tiny, tmp_path: Path) -> None:
    name = f"hf:{tiny['hf']}"
    results = tmp_path / "r"
    assert cli("run", "--encoder", name, "--pooling", "last", "--tasks", "stsb", "--out", results).code == 0
    assert cli("check", "--baseline", pytester.path / "baseline.json", "--results", results, "--update").code == 0
    pytester.makepyfile(
        test_model=f"""
        def test_last_pooling_holds(harness_check):
            report = harness_check("baseline.json", encoder={name!r}, pooling="last", batch_size=5)
            assert report.count("ok") == 1

        def test_an_unknown_option_is_refused(harness_check):
            harness_check("baseline.json", encoder={name!r}, colour="blue")
        """
    )
    outcome = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    outcome.assert_outcomes(passed=1, failed=1)
    outcome.stdout.fnmatch_lines(["*has no option colour*"])


class DevFirstTask(Task):
    """A task whose default split is not ``test`` (as MS MARCO's is ``dev``)."""

    family = "sts"
    main_metric = "cosine_spearman"
    splits = ("dev", "test")
    default_split = "dev"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return [DatasetFile(str(self.folder / f"{split}.jsonl"))]

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        from harness.plugins.tasks.sts.metrics import sts_metrics
        from harness.plugins.tasks.sts.readers import ScoredPair

        rows = [json.loads(line) for line in files.lines(self.dataset_files(split)[0].path)]
        return sts_metrics([ScoredPair(r["a"], r["b"], r["score"]) for r in rows], encode)


def _dev_first_plugin(folder: Path) -> object:
    pairs = [
        ("a man plays", "a man is playing", 4.5),
        ("a dog runs", "the cat sleeps", 0.5),
        ("kids swim", "kids are swimming", 4.0),
    ]
    for split, scale in (("dev", 1.0), ("test", -1.0)):
        lines = [json.dumps({"a": a, "b": b, "score": scale * s}) for a, b, s in pairs]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")

    class Plugin:
        @hookimpl
        def harness_register_tasks(self, register: Any) -> None:
            register("dev-first", lambda *_: DevFirstTask(folder), "default split dev")

    return Plugin()


def test_a_tasks_default_split_is_used_everywhere(cli, tmp_path: Path, fake_plugin) -> None:
    """Run, check --update --tasks, the leaderboard and family averages use the task's default split, not @test."""
    data = tmp_path / "data"
    data.mkdir()
    get_host().register(_dev_first_plugin(data), name="dev-first")
    out, baseline = tmp_path / "results", tmp_path / "baseline.json"
    assert cli("run", "--encoder", "hashing", "--tasks", "dev-first", "--out", out).code == 0
    assert set(read_results(out)) == {"hashing/dev-first@dev"}
    assert cli("check", "--baseline", baseline, "--results", out, "--update", "--tasks", "dev-first").code == 0
    assert [(e["task"], e["split"]) for e in json.loads(baseline.read_text())["entries"]] == [("dev-first", "dev")]
    assert cli("run", "--encoder", "hashing", "--tasks", "dev-first@test", "--out", out).code == 0
    board = cli("leaderboard", out)
    header = next(line for line in board.out.splitlines() if "encoder" in line)
    assert "dev-first " in header + " " and "dev-first@test" in header and "dev-first@dev" not in header
    averages = json.loads((out / "leaderboard.json").read_text())["encoders"]["hashing"]["families"]
    scores = {r["split"]: r["main_score"] for r in json.loads((out / "leaderboard.json").read_text())["results"]}
    assert averages["sts"] == pytest.approx(scores["dev"])  # counted once, at its default split
