"""Published MTEB results (embeddings-benchmark/results) beside ours: reading, pairing, and the three commands.

The data are real result files of that repository (``$HARNESS_SHARED_DATA/mteb_results``, and the copy of the
paired tasks' files committed under ``results/published/mteb``); the agreement test computes ours minus
published for every paired task of the committed reference runs and requires each to be within 1e-4.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.catalog import TaskRef
from harness.errors import DataError
from harness.pluginhost import get_host
from harness.plugins.tasks.retrieval.tasks import RetrievalTask
from harness.results.mteb_published import MAPPING_FILE, load_mapping, read_published, read_task_result
from helpers import REPO

REFERENCE = REPO / "results" / "reference"
COMMITTED = REPO / "results" / "published" / "mteb"
MINILM = "sentence-transformers__all-MiniLM-L6-v2/8b3219a92973c328a8e22fadcfa821b5dc75636a"
MPNET = "sentence-transformers__all-mpnet-base-v2/84f2bcc00d77236f9e89c8a360a00fb1139bf47d"
RUNS = {"minilm-l6": "sentence-transformers/all-MiniLM-L6-v2", "mpnet-base": "sentence-transformers/all-mpnet-base-v2"}
TOLERANCE = 1e-4


@pytest.fixture
def mteb_results(shared_data: Path) -> Path:
    return shared_data / "mteb_results"


def run_refs(folder: Path) -> set[str]:
    return {path.stem for path in folder.glob("*@*.json")}


def reference_runs(tmp_path: Path) -> Path:
    """The committed minilm-l6 and mpnet-base runs, copied (``harness leaderboard`` writes into its folder)."""
    folder = tmp_path / "runs"
    for name in RUNS:
        shutil.copytree(REFERENCE / name, folder / name)
    return folder


def published_value(path: Path, split: str = "test") -> float:
    (entry,) = json.loads(path.read_text())["scores"][split]
    return entry["main_score"]


# --- the mapping ---------------------------------------------------------------------------------------------


def test_every_pairing_names_our_task_its_split_and_main_metric() -> None:
    """A pairing is only made to a registered task, at one of its splits, on its main metric; retrieval pairs
    with a task that keeps own-id documents need mteb >= 1.12.53 (before it, mteb dropped them everywhere)."""
    mapping = load_mapping()
    assert len(mapping.pairs) >= 20 and mapping.refused
    host = get_host()
    for pair in mapping.pairs:
        task = host.catalog.build_task(TaskRef(pair.task, pair.split))
        assert pair.split in task.splits and pair.metric == task.main_metric, pair
        if task.family == "retrieval":
            assert isinstance(task, RetrievalTask)
            keeps = not task.ignore_identical_ids
            assert (pair.min_mteb_version == "1.12.53") == keeps, pair
        assert mapping.refusal_for(pair.task, pair.split) is None, f"{pair.task}@{pair.split} is paired and refused"
    # SICK-R is MTEB's full set: paired with sickr@full, refused for the 4927-pair test split.
    sick = {f"{p.task}@{p.split}" for p in mapping.pairs if p.mteb_task == "SICK-R"}
    assert sick == {"sickr@full"} and mapping.refusal_for("sickr", "test") is not None


def test_a_bad_mapping_entry_is_one_line_naming_the_field(tmp_path: Path) -> None:
    text = MAPPING_FILE.read_text(encoding="utf-8").replace('metric = "ndcg_at_10"\nchecked', "checked", 1)
    bad = tmp_path / "mapping.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=r"mapping\.toml: \[\[pair\]\] \d+: missing field 'metric'"):
        load_mapping(bad)


# --- reading the real files ----------------------------------------------------------------------------------


def test_every_file_of_both_models_is_read_in_its_schema(mteb_results: Path) -> None:
    """All 1260 files (mteb 1.12 to 2.10: 2.x adds 'date' and 'evaluation_phases'): each names its task and
    gives a main score per split and hf_subset; the only ones refused hold a NaN main score, said by name."""
    files = sorted(p for p in (mteb_results / "results").glob("*/*/*.json") if p.name != "model_meta.json")
    assert len(files) == 1260
    versions, refused = set(), []
    for path in files:
        result = read_task_result(path)
        assert result.task_name == path.stem and not result.before_1_11, path
        versions.add(result.mteb_version)
        for split, subsets in result.scores.items():
            for subset in subsets:
                try:
                    result.value(split, subset, "main_score")
                except DataError as error:
                    assert "is nan, not a finite number" in str(error) and str(path) in str(error)
                    refused.append(path.stem)
    assert {"1.12.75", "1.18.0", "2.3.0", "2.10.0"} <= versions
    assert set(refused) == {"AFQMC"}  # its published main score is NaN in both folders


def test_every_paired_file_of_both_models_is_paired(mteb_results: Path) -> None:
    mapping = load_mapping()
    published = read_published(mteb_results, mapping)
    assert {r.model for r in published.revisions} == set(RUNS.values())
    for revision in published.revisions:
        assert revision.meta is not None and revision.revision == revision.folder.name
        for pair in mapping.pairs:
            path = revision.folder / f"{pair.mteb_task}.json"
            if path.is_file() and pair.mteb_split in read_task_result(path).scores:
                (score,) = [s for s in published.scores if s.file == path and s.mteb_split == pair.mteb_split]
                assert (
                    score.value == published_value(path, pair.mteb_split) and score.ref == f"{pair.task}@{pair.split}"
                )
    assert not published.not_paired  # every paired file was written by mteb >= 1.12.53
    assert len(published.for_model("sentence-transformers/all-MiniLM-L6-v2").scores) == 25


def test_the_committed_copy_is_the_paired_files_unchanged(mteb_results: Path) -> None:
    mapping = load_mapping()
    wanted = {f"{p.mteb_task}.json" for p in mapping.pairs} | {"model_meta.json"}
    for revision in (MINILM, MPNET):
        source = mteb_results / "results" / revision
        expected = {p.name for p in source.iterdir() if p.name in wanted}
        committed = COMMITTED / "results" / revision
        assert {p.name for p in committed.iterdir()} == expected, revision
        for name in expected:
            assert (committed / name).read_bytes() == (source / name).read_bytes(), name


@pytest.mark.parametrize("where", ["root", "results", "model", "revision"])
def test_a_source_is_the_root_its_results_folder_a_model_or_a_revision(cli, where: str, tmp_path: Path) -> None:
    source = {"root": COMMITTED, "results": COMMITTED / "results",
              "model": COMMITTED / "results" / MINILM.split("/")[0], "revision": COMMITTED / "results" / MINILM}[where]  # fmt: skip
    report = tmp_path / "compare.json"
    result = cli("compare", REFERENCE / "minilm-l6", "--published", source, "--report", "json", report)
    assert result.code == 0, result.err
    data = json.loads(report.read_text())
    assert data["model"] == RUNS["minilm-l6"] and data["revision"] == MINILM.split("/")[1]
    assert sum(row["published"] is not None for row in data["tasks"]) == 8


# --- ours agree with the published numbers -------------------------------------------------------------------


@pytest.mark.parametrize("run", sorted(RUNS))
def test_reference_runs_agree_with_the_published_scores(cli, run: str, tmp_path: Path) -> None:
    """Every task the run and the published folder share through a pairing: |ours - published| <= 1e-4."""
    report = tmp_path / "compare.json"
    result = cli("compare", REFERENCE / run, "--published", COMMITTED, "--model", RUNS[run], "--report", "json", report)
    assert result.code == 0, result.err
    rows = {row["task"]: row for row in json.loads(report.read_text())["tasks"]}
    published = read_published(COMMITTED).for_model(RUNS[run])
    expected = run_refs(REFERENCE / run) & {score.ref for score in published.scores}
    assert {ref for ref, row in rows.items() if row["published"] is not None} == expected
    assert {"stsb@test", "sts12@test", "sts16@test", "scifact@test"} <= expected
    ours = {ref: json.loads((REFERENCE / run / f"{ref}.json").read_text())["main_score"] for ref in expected}
    differences = {}
    for ref in sorted(expected):
        score = next(s for s in published.scores if s.ref == ref)
        assert rows[ref]["ours"] == ours[ref] and rows[ref]["published"] == published_value(
            score.file, score.mteb_split
        )
        differences[ref] = ours[ref] - rows[ref]["published"]
        assert rows[ref]["difference"] == pytest.approx(differences[ref], abs=1e-12)
    worst = max(differences, key=lambda ref: abs(differences[ref]))
    assert abs(differences[worst]) <= TOLERANCE, f"{run} {worst}: ours - published = {differences[worst]:+.6f}"
    # Tasks the run has that are not the same measurement are listed, with the mapping's reason where refused.
    assert "4927 test pairs" in rows["sickr@test"]["note"] and rows["sickr@test"]["published"] is None
    assert "CodeBERT's MRR" in rows["csn-ruby@test"]["note"]
    assert "csn-ruby@test: no pairing" in result.out


# --- the commands ---------------------------------------------------------------------------------------------


def test_leaderboard_shows_published_rows_marked_with_version_and_revision(cli, tmp_path: Path) -> None:
    runs = reference_runs(tmp_path)
    assert cli("leaderboard", runs).code == 0  # the runs' own board, for comparison
    own = json.loads((runs / "leaderboard.json").read_text())
    markdown, page = tmp_path / "board.md", tmp_path / "board.html"
    result = cli("leaderboard", runs, "--published", COMMITTED, "--markdown", markdown, "--html", page)
    assert result.code == 0, result.err
    board = json.loads((runs / "leaderboard.json").read_text())
    # The published scores are kept apart: the runs' results and encoders are what they were without them.
    assert board["results"] == own["results"] and board["encoders"] == own["encoders"]
    stsb = [e for e in board["published"] if e["row"] == RUNS["minilm-l6"] and e["task"] == "stsb"]
    assert len(stsb) == 1 and stsb[0]["mteb"]["mteb_version"] == "1.12.75"
    label = f"{RUNS['minilm-l6']} (published: MTEB 1.12.75, revision 8b3219a9)"
    value = f"{100 * published_value(COMMITTED / 'results' / MINILM / 'STSBenchmark.json'):.2f}"
    assert label in result.out and label in page.read_text()
    row = next(line for line in markdown.read_text().splitlines() if line.startswith(f"| {label} |"))
    assert row.split(" | ")[1] == value  # the stsb column
    assert f"{MINILM}/ (STSBenchmark.json, SICK-R.json" in markdown.read_text()  # where each number is from
    assert 'tr class="published"' in page.read_text()
    # No published row adds a column: NFCorpus is published, but no run has it.
    assert "beir-nfcorpus" not in markdown.read_text() and "beir-nfcorpus" in json.dumps(board["published"])


def test_leaderboard_takes_the_paper_rows_too(cli, tmp_path: Path) -> None:
    runs = reference_runs(tmp_path)
    markdown = tmp_path / "board.md"
    assert cli("leaderboard", runs, "--published", "cpt-paper", "--markdown", markdown).code == 0
    row = next(line for line in markdown.read_text().splitlines() if line.startswith("| cpt-text S, unsupervised"))
    assert "(published: arXiv 2201.10005v1 Table 6)" in row and "| 65.40 |" in row  # SciFact, as the paper prints


def test_report_fills_paper_columns_from_mteb_and_keeps_the_paper_rows(cli, tmp_path: Path) -> None:
    runs = reference_runs(tmp_path)
    result = cli("report", "--paper", runs, "--published", "cpt-paper", "--published", COMMITTED)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    table_4 = lines[lines.index(next(line for line in lines if line.startswith("## Table 4"))) :]
    label = f"| {RUNS['minilm-l6']} (MTEB, revision 8b3219a9) (published)"
    mteb_row = next(line for line in table_4 if line.startswith(label))
    cells = [cell.strip() for cell in mteb_row.strip("|").split("|")]
    stsb = 100 * published_value(COMMITTED / "results" / MINILM / "STSBenchmark.json")
    assert cells[6].split()[0] == f"{stsb:.1f}" and cells[6].split()[1].startswith("[")  # STS-B, with its note
    assert cells[7] == ""  # SICK-R: the paper's column is the 4927-pair test split, MTEB's SICK-R is all of SICK
    assert any(line.startswith("| CodeBERT (published)") for line in lines)  # the paper's rows are still there
    assert "written by mteb 1.12.75" in result.out


def test_compare_needs_a_second_run_or_published_scores(cli, tmp_path: Path) -> None:
    alone = cli("compare", REFERENCE / "minilm-l6")
    assert alone.code == 2 and "or one and --published PATH" in alone.error
    no_source = cli("compare", REFERENCE / "minilm-l6", "--model", "all-MiniLM-L6-v2")
    assert no_source.code == 2 and "--published PATH" in no_source.error
    unknown = cli("compare", REFERENCE / "minilm-l6", "--published", COMMITTED, "--model", "no-such-model")
    assert unknown.code == 2 and "'no-such-model' is not in the published results" in unknown.error
    assert RUNS["mpnet-base"] in unknown.error
    # --model takes the folder name and the last part too; without it, the run's own model is found.
    for name in ("sentence-transformers__all-MiniLM-L6-v2", "all-MiniLM-L6-v2", None):
        report = tmp_path / "compare.json"
        flags = ["--model", name] if name else []
        result = cli("compare", REFERENCE / "minilm-l6", "--published", COMMITTED, *flags, "--report", "json", report)
        assert result.code == 0 and json.loads(report.read_text())["model"] == RUNS["minilm-l6"], result.err


def old_schema(path: Path) -> dict[str, Any]:
    """A real >= 1.11 file rewritten in mteb's pre-1.11 form (as ``_convert_from_before_v1_11_0`` reads it)."""
    data = json.loads(path.read_text())
    (scores,) = data["scores"]["test"]
    nested = {key: value for key, value in scores.items() if key not in ("hf_subset", "languages", "main_score")}
    for prefix, old in (("cosine_", "cos_sim"), ("euclidean_", "euclidean"), ("manhattan_", "manhattan")):
        group = {k.removeprefix(prefix): nested.pop(k) for k in list(nested) if k.startswith(prefix)}
        if group:
            nested[old] = group
    return {"dataset_revision": data["dataset_revision"], "mteb_dataset_name": data["task_name"],
            "mteb_version": "1.10.1", "test": {**nested, "evaluation_time": 1.0}}  # fmt: skip


def test_files_of_mteb_before_1_11_are_read_and_their_protocol_checked(cli, tmp_path: Path) -> None:
    folder = tmp_path / "old" / "results" / MINILM
    folder.mkdir(parents=True)
    for name in ("STSBenchmark", "SciFact"):
        data = old_schema(COMMITTED / "results" / MINILM / f"{name}.json")
        (folder / f"{name}.json").write_text(json.dumps(data))
    report = tmp_path / "compare.json"
    result = cli("compare", REFERENCE / "minilm-l6", "--published", tmp_path / "old", "--report", "json", report)
    assert result.code == 0, result.err
    rows = {row["task"]: row for row in json.loads(report.read_text())["tasks"]}
    # No main_score in the old file: the task's main metric, cos_sim.spearman, is read.
    assert rows["stsb@test"]["published"] == published_value(COMMITTED / "results" / MINILM / "STSBenchmark.json")
    assert rows["stsb@test"]["mteb_version"] == "1.10.1"
    # mteb 1.10 dropped a retrieved document with the query's id in SciFact too; our SciFact keeps it.
    assert rows["scifact@test"]["published"] is None
    assert "written by mteb 1.10.1" in rows["scifact@test"]["note"] and ">= 1.12.53" in rows["scifact@test"]["note"]


# --- bad input ------------------------------------------------------------------------------------------------


def copied_revision(tmp_path: Path) -> Path:
    folder = tmp_path / "published" / "results" / MINILM
    shutil.copytree(COMMITTED / "results" / MINILM, folder)
    return folder


@pytest.mark.parametrize("command", ["leaderboard", "compare", "report"])
def test_bad_published_input_is_one_line_naming_file_and_field(cli, command: str, tmp_path: Path) -> None:
    runs = reference_runs(tmp_path)
    args = {"leaderboard": ["leaderboard", runs], "compare": ["compare", runs / "minilm-l6"],
            "report": ["report", "--paper", runs]}[command]  # fmt: skip
    missing = cli(*args, "--published", tmp_path / "nowhere")
    assert missing.code in (1, 2) and str(tmp_path / "nowhere") in missing.error
    folder = copied_revision(tmp_path)
    torn = folder / "STS12.json"
    torn.write_text(torn.read_text()[:200])
    result = cli(*args, "--published", tmp_path / "published")
    assert result.code == 1 and result.error.startswith(f"{torn}: invalid JSON"), result.err
    shutil.copy(COMMITTED / "results" / MINILM / "STS12.json", torn)
    unscored = folder / "STS13.json"
    data = json.loads(unscored.read_text())
    del data["scores"]["test"][0]["main_score"]
    unscored.write_text(json.dumps(data))
    result = cli(*args, "--published", tmp_path / "published")
    assert (
        result.code == 1 and result.error == f"{unscored}: missing field 'main_score' in scores.test[hf_subset=default]"
    )


def test_an_empty_folder_and_a_misnamed_file_are_named(cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    empty = cli("compare", REFERENCE / "minilm-l6", "--published", tmp_path / "empty")
    assert empty.code == 1 and "no MTEB results found" in empty.error and str(tmp_path / "empty") in empty.error
    folder = copied_revision(tmp_path)
    shutil.copy(folder / "STS12.json", folder / "STS14.json")
    wrong = cli("compare", REFERENCE / "minilm-l6", "--published", tmp_path / "published")
    assert wrong.error == f"{folder / 'STS14.json'}: field 'task_name' is 'STS12'; the file name says 'STS14'"


def bridge_result(folder: Path, task: str, revision: str, score: float) -> None:
    """A result as the MTEB bridge files it (``mteb:<Task>``; MTEB's task and dataset revision as its identity)."""
    record = json.loads((REFERENCE / "minilm-l6" / "stsb@test.json").read_text())
    record["task"]["name"] = f"mteb:{task}"
    record["task"]["dataset"]["identity"] = {"mteb_task": task, "path": "mteb/x", "revision": revision, "mteb": "2.1.0"}
    record["main_score"] = record["metrics"]["cosine_spearman"] = score
    (folder / f"mteb_{task}@test.json").write_text(json.dumps(record))


def test_a_bridge_result_is_compared_with_the_published_file_of_its_task(cli, tmp_path: Path) -> None:
    """``mteb:STSBenchmark`` is mteb's own evaluation: paired with STSBenchmark.json when the dataset is the same."""
    folder = tmp_path / "run" / "minilm-l6"
    folder.mkdir(parents=True)
    published = COMMITTED / "results" / MINILM / "STSBenchmark.json"
    revision = json.loads(published.read_text())["dataset_revision"]
    bridge_result(folder, "STSBenchmark", revision, 0.8)
    bridge_result(folder, "STS12", "0" * 40, 0.7)  # another dataset revision than the published file's
    report = tmp_path / "compare.json"
    result = cli("compare", folder, "--published", COMMITTED, "--report", "json", report)
    assert result.code == 0, result.err
    rows = {row["task"]: row for row in json.loads(report.read_text())["tasks"]}
    same = rows["mteb:STSBenchmark@test"]
    assert same["published"] == published_value(published) and same["difference"] == pytest.approx(
        0.8 - same["published"]
    )
    assert rows["mteb:STS12@test"]["published"] is None
    assert (
        rows["mteb:STS12@test"]["note"]
        == f"not paired: dataset revision 00000000 here, {json.loads((COMMITTED / 'results' / MINILM / 'STS12.json').read_text())['dataset_revision'][:8]} published"
    )
