"""Never a stale or silently wrong score: unreadable result files are named, files the harness writes get
ordinary permissions, bad option values are usage errors, a corrupt cache index can be cleared, ``harness
compare`` says what to do, and SIGTERM ends a run as cleanly as Ctrl-C.

Each test drives the real ``harness`` command (in-process through ``harness.cli.main``, or a subprocess
where a signal is sent).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import hookimpl
from harness.plugins.tasks.sts.tasks import user_sts
from helpers import TESTS, CliResult

Cli = Callable[..., CliResult]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def sts_file(folder: Path, name: str, words: str = "") -> Path:
    """A small valid ``sts:`` file; ``words`` makes its texts differ from other files'."""
    rows = [
        {"sentence1": f"a cat sits {words}", "sentence2": f"a cat sat {words}", "score": 4.5},
        {"sentence1": f"a dog runs {words}", "sentence2": "the stock fell", "score": 0.5},
        {"sentence1": f"rain today {words}", "sentence2": "it rains", "score": 3.0},
    ]
    return write(folder / name, jsonl(rows))


def beir_folder(folder: Path, words: str = "") -> Path:
    """A small valid ``beir:`` folder (a retrieval task: its corpus vectors go to a scratch folder)."""
    texts = [f"alpha beta {words}", f"gamma delta {words}", f"eta zeta {words}"]
    write(folder / "corpus.jsonl", jsonl([{"_id": f"d{i}", "title": "", "text": t} for i, t in enumerate(texts)]))
    write(folder / "queries.jsonl", jsonl([{"_id": f"q{i}", "text": t} for i, t in enumerate(texts)]))
    write(folder / "qrels/test.tsv", "query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\nq2\td2\t1\n")
    return folder


def warnings_of(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("harness: warning: ")]


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def umask() -> Iterator[Callable[[int], int]]:
    """``os.umask`` for the test: the umask the test started with comes back after it."""
    before = os.umask(0o022)
    yield os.umask
    os.umask(before)


# -- unreadable result files ------------------------------------------------------------------------

TORN = '{"schema_version": 1, "main_sc'

UNREADABLE = {
    "torn": (TORN, "invalid JSON: Unterminated string starting at: line 1 column 23 (char 22)"),
    "not-an-object": ("[0.5]", "expected a JSON object, found array"),
    "other-schema": ('{"schema_version": 2, "main_score": 0.5}', "schema_version 2; this harness reads 1"),
    "no-main-score": (None, "missing field 'main_score'"),
    "nan-main-score": (None, "field 'main_score' is nan, not a finite number"),
    "wrong-type": (None, "field 'task.family' must be a string, found integer"),
}


def spoil(path: Path, how: str) -> None:
    """Make the result file ``path`` unreadable in the way ``how`` names (see ``UNREADABLE``)."""
    text, _ = UNREADABLE[how]
    if text is None:
        record = json.loads(path.read_text())
        if how == "no-main-score":
            del record["main_score"]
        elif how == "nan-main-score":
            record["main_score"] = float("nan")
        else:
            record["task"]["family"] = 3
        text = json.dumps(record)
    path.write_text(text)


def two_results(cli: Cli, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A results folder with the hashing encoder's results of two tasks: (folder, first file, second file)."""
    out = tmp_path / "results"
    tasks = f"sts:{sts_file(tmp_path / 'data', 'a.jsonl', 'one')},sts:{sts_file(tmp_path / 'data', 'b.jsonl', 'two')}"
    result = cli("run", "--encoder", "hashing", "--tasks", tasks, "--out", out, "--no-cache")
    assert result.code == 0, result.err
    first, second = sorted((out / "hashing").glob("*@*.json"))
    return out, first, second


@pytest.mark.parametrize("how", list(UNREADABLE))
def test_leaderboard_names_an_unreadable_result_and_leaves_it_out(
    cli: Cli, fake_plugin, tmp_path: Path, how: str
) -> None:
    out, first, second = two_results(cli, tmp_path)
    spoil(second, how)
    page = tmp_path / "board.html"
    result = cli("leaderboard", out, "--html", page, "--markdown", tmp_path / "board.md")
    assert result.code == 0, result.err
    _, reason = UNREADABLE[how]
    expected = f"harness: warning: {second}: unreadable result ({reason}); left out of the leaderboard"
    assert warnings_of(result.err) == [expected]  # once, though the page reads the folder again
    board = json.loads((out / "leaderboard.json").read_text())
    assert [row["file"] for row in board["results"]] == [first.relative_to(out).as_posix()]


def test_the_leaderboard_a_run_writes_names_an_unreadable_result(cli: Cli, fake_plugin, tmp_path: Path) -> None:
    """The run recomputes its own torn file (no warning: it is whole again) and names another task's once."""
    out, first, second = two_results(cli, tmp_path)
    spoil(first, "torn")
    spoil(second, "torn")
    task = f"sts:{tmp_path / 'data' / 'a.jsonl'}"
    other = f"sts:{tmp_path / 'data' / 'c.jsonl'}"
    sts_file(tmp_path / "data", "c.jsonl", "three")
    result = cli("run", "--encoder", "hashing", "--tasks", f"{task},{other}", "--out", out, "--no-cache")
    assert result.code == 0, result.err
    json.loads(first.read_text())  # recomputed
    reason = UNREADABLE["torn"][1]
    assert warnings_of(result.err) == [
        f"harness: warning: {second}: unreadable result ({reason}); left out of the leaderboard"
    ]
    board = json.loads((out / "leaderboard.json").read_text())
    assert second.relative_to(out).as_posix() not in {row["file"] for row in board["results"]}
    assert len(board["results"]) == 2


def test_other_json_beside_results_is_not_reported(cli: Cli, fake_plugin, tmp_path: Path) -> None:
    """A baseline or a report in the results folder is no result: no warning for it."""
    out, _, _ = two_results(cli, tmp_path)
    write(out / "baseline.json", '{"kind": "harness-baseline"}')
    write(out / "notes.json", "not json")
    result = cli("leaderboard", out)
    assert result.code == 0 and warnings_of(result.err) == [], result.err


def test_check_names_the_unreadable_result_file(cli: Cli, fake_plugin, tmp_path: Path) -> None:
    out, first, second = two_results(cli, tmp_path)
    baseline = tmp_path / "baseline.json"
    assert cli("check", "--baseline", baseline, "--results", out, "--update").code == 0
    spoil(second, "torn")
    report = tmp_path / "report.json"
    result = cli("check", "--baseline", baseline, "--results", out, "--report", "json", report)
    assert result.code == 4, result.err  # as for a missing result: the check cannot vouch for that task
    findings = {f["status"]: f for f in json.loads(report.read_text())["findings"]}
    assert set(findings) == {"ok", "missing"}
    assert findings["missing"]["reason"] == f"unreadable result file {second}: {UNREADABLE['torn'][1]}"
    assert warnings_of(result.err) == []  # the finding says it

    result = cli("check", "--baseline", tmp_path / "new.json", "--results", out, "--update")
    assert result.code == 0, result.err
    assert warnings_of(result.err) == [
        f"harness: warning: {second}: unreadable result ({UNREADABLE['torn'][1]}); left out of the baseline"
    ]
    assert len(json.loads((tmp_path / "new.json").read_text())["entries"]) == 1


# -- permissions of the files the harness writes -------------------------------------------------------


@pytest.mark.parametrize("mask", [0o022, 0o027], ids=["umask-022", "umask-027"])
def test_written_files_get_the_mode_the_umask_gives(
    cli: Cli, fake_plugin, tmp_path: Path, umask: Callable[[int], int], mask: int
) -> None:
    umask(mask)
    out = tmp_path / "results"
    task = f"sts:{sts_file(tmp_path / 'data', 'a.jsonl')}"
    assert cli("run", "--encoder", "hashing", "--tasks", task, "--out", out, "--no-cache").code == 0
    assert cli("run", "--encoder", "hashing", "--tasks", task, "--out", out, "--no-cache", "--label", "b").code == 0
    baseline, report = tmp_path / "baseline.json", tmp_path / "check.md"
    assert cli("check", "--baseline", baseline, "--results", out, "--update").code == 0
    assert cli("check", "--baseline", baseline, "--results", out, "--report", "md", report).code == 0
    html, markdown = tmp_path / "board.html", tmp_path / "board.md"
    assert cli("leaderboard", out, "--html", html, "--markdown", markdown).code == 0
    compared = tmp_path / "compare.json"
    assert cli("compare", out / "hashing", out / "b", "--report", "json", compared).code == 0
    written = [*out.rglob("*.json"), baseline, report, html, markdown, compared]
    assert len(written) == 8
    assert {str(path): mode(path) for path in written} == {str(path): 0o666 & ~mask for path in written}


# -- option values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["--batch-size", "0"], "option batch_size: Input should be greater than or equal to 1 (got 0)"),
        (["--batch-size", "-3"], "option batch_size: Input should be greater than or equal to 1 (got -3)"),
        (["-o", "batch_size=0"], "option batch_size: Input should be greater than or equal to 1 (got '0')"),
        (["-o", "batch-size=many"], "option batch_size: Input should be a valid integer"),
        (["--batch-tokens", "0"], "option batch_tokens: Input should be greater than or equal to 1 (got 0)"),
    ],
    ids=["flag-zero", "flag-negative", "option-zero", "option-not-a-number", "batch-tokens-zero"],
)
@pytest.mark.parametrize("command", ["run", "check"])
def test_an_invalid_option_value_is_a_usage_error(
    cli: Cli, fake_plugin, tmp_path: Path, given: list[str], message: str, command: str
) -> None:
    out = tmp_path / "results"
    task = f"sts:{sts_file(tmp_path / 'data', 'a.jsonl')}"
    if command == "run":
        result = cli("run", "--encoder", "hashing", "--tasks", task, "--out", out, *given)
    else:
        baseline = tmp_path / "baseline.json"
        result = cli("check", "--baseline", baseline, "--run", "--encoder", "hashing", "--tasks", task,
                     "--results", out, *given)  # fmt: skip
    assert result.code == 2, result.err
    assert result.error.startswith(f"encoder 'hashing': {message}")
    assert not out.exists()  # refused before anything ran


# -- a corrupt embedding cache index ----------------------------------------------------------------


@pytest.mark.parametrize("damage", ["garbage", "malformed"])
def test_cache_clear_empties_a_cache_whose_index_is_corrupt(cli: Cli, fake_plugin, tmp_path: Path, damage: str) -> None:
    cache, out = tmp_path / "cache", tmp_path / "results"
    run = ["run", "--encoder", "hashing", "--tasks", f"sts:{sts_file(tmp_path / 'data', 'a.jsonl')}",
           "--out", out, "--cache", cache, "--force"]  # fmt: skip
    assert cli(*run).code == 0
    index = cache / "index.sqlite"
    for extra in cache.glob("index.sqlite-*"):
        extra.unlink()
    if damage == "garbage":
        index.write_bytes(os.urandom(3000))
    else:  # a valid header, damaged pages: SQLite opens it and fails on reading
        data = bytearray(index.read_bytes())
        data[100:] = b"\xab" * (len(data) - 100)
        index.write_bytes(bytes(data))
    reason = "file is not a database" if damage == "garbage" else "database disk image is malformed"
    remedy = f"'harness cache clear --cache {cache}' empties the cache (--no-cache runs without it)"
    expected = f"embedding cache {cache}: its index {index} is unreadable ({reason}); {remedy}"

    failed = cli(*run)
    assert failed.code == 1 and expected in failed.lines[-1] and "Traceback" not in failed.err, failed.err
    assert cli("cache", "info", "--cache", cache).error == expected

    picky = cli("cache", "clear", "--cache", cache, "--encoder", "hashing")
    assert picky.code == 1 and "(without --encoder) empties the whole cache" in picky.error
    cleared = cli("cache", "clear", "--cache", cache)
    assert cleared.code == 0, cleared.err
    assert cleared.out.strip() == f"removed 1 shard(s) and the unreadable index from {cache}"
    assert not list((cache / "shards").iterdir())

    again = cli(*run)
    assert again.code == 0, again.err
    info = cli("cache", "info", "--cache", cache)
    assert info.code == 0 and "in 1 shards" in info.out


# -- harness compare ---------------------------------------------------------------------------------


def test_compare_suggests_the_folders_that_exist(cli: Cli, fake_plugin, tmp_path: Path) -> None:
    out = tmp_path / "results"
    task = f"sts:{sts_file(tmp_path / 'data', 'a.jsonl')}"
    for label in ("hashing", "team:model/v2"):  # the second one's folder is its label made file-safe
        assert cli("run", "--encoder", "hashing", "--tasks", task, "--out", out, "--label", label).code == 0
    result = cli("compare", out, out / "hashing")
    assert result.code == 2
    folders = sorted(path for path in out.iterdir() if path.is_dir())
    assert len(folders) == 2 and folders[1].name.startswith("team_model_v2-")
    assert result.error == f"{out} holds results of 2 encoders; give one folder: {folders[0]}, {folders[1]}"
    assert cli("compare", *folders).code == 0  # what it suggests works


def test_compare_says_a_run_without_per_example_scores_needs_rerunning(cli: Cli, fake_plugin, tmp_path: Path) -> None:
    sts = f"sts:{sts_file(tmp_path / 'data', 'a.jsonl')}"
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    assert cli("run", "--encoder", "hashing", "--tasks", sts, "--out", out_a).code == 0
    assert cli("run", "--encoder", "hashing", "-o", "salt=x", "--tasks", sts, "--out", out_b, "--label", "salted",
               "--no-per-example").code == 0  # fmt: skip
    report = tmp_path / "compare.json"
    assert cli("compare", out_a / "hashing", out_b / "salted", "--report", "json", report).code == 0
    (row,) = json.loads(report.read_text())["tasks"]
    assert (
        row["note"] == "the salted run has no per-example scores (it was made with --no-per-example; rerun without it)"
    )
    assert row["low"] is None

    board = out_b / "leaderboard.json"
    assert cli("compare", out_a / "hashing", board, "--report", "json", report).code == 0
    (row,) = json.loads(report.read_text())["tasks"]
    assert row["note"] == f"{board} is a leaderboard: scores only, no intervals (compare result folders)"


class BareStsPlugin:
    """``bare-sts:FILE``: the ``sts:`` task, answering without per-example scores (as a plugin's task may)."""

    @hookimpl
    def harness_register_tasks(self, register: Any) -> None:
        def bare(argument: str) -> Any:
            task = user_sts(argument)
            evaluate = task.evaluate
            task.evaluate = lambda *args: dataclasses.replace(evaluate(*args), per_example=None)  # type: ignore[method-assign]
            return task

        register("bare-sts:", bare, "sts: without per-example scores (tests)")


def test_compare_says_which_task_records_no_per_example_scores(cli: Cli, fake_plugin, tmp_path: Path) -> None:
    """A task that records no per-example scores has no interval, and no rerun would give one."""
    fake_plugin.register(BareStsPlugin(), name="bare-sts")
    bare = sts_file(tmp_path / "data", "bare.jsonl", "bare")
    tasks = f"sts:{sts_file(tmp_path / 'data', 'a.jsonl')},bare-sts:{bare}"
    out = tmp_path / "results"
    for label, salt in (("plain", ""), ("salted", "x")):
        result = cli("run", "--encoder", "hashing", "-o", f"salt={salt}", "--tasks", tasks, "--out", out,
                     "--label", label)  # fmt: skip
        assert result.code == 0, result.err
    report = tmp_path / "compare.json"
    assert cli("compare", out / "plain", out / "salted", "--report", "json", report).code == 0
    notes = {Path(row["task"]).name: row["note"] for row in json.loads(report.read_text())["tasks"]}
    assert notes == {
        "a.jsonl@test": "",
        "bare.jsonl@test": "no per-example scores in plain's result of this task (the task records none): no interval",
    }


# -- SIGTERM -----------------------------------------------------------------------------------------

SLOW_HARNESS = """\
import os, sys, time
from fakes import HashingEncoder
from harness import hookimpl
from harness.cli import main
from harness.pluginhost import get_host


class SlowEncoder(HashingEncoder):
    def fingerprint(self):
        return {"kind": "slow-hashing"}

    def encode(self, texts, kind):
        time.sleep(float(os.environ["SLOW_SECONDS"]))
        return super().encode(texts, kind)


class SlowPlugin:
    @hookimpl
    def harness_register_encoders(self, register):
        register("slow", lambda settings: SlowEncoder(), "sleeps before each call (tests)")


get_host().register(SlowPlugin(), name="slow-plugin")
sys.exit(main(sys.argv[1:]))
"""


def slow_harness(tmp_path: Path, args: list[str], seconds: float, scratch: Path) -> subprocess.Popen[str]:
    """The real command line in a subprocess, with an encoder that sleeps ``seconds`` per call."""
    script = write(tmp_path / "slow_harness.py", SLOW_HARNESS)
    env = dict(os.environ, PYTHONPATH=str(TESTS), SLOW_SECONDS=str(seconds), HARNESS_LOAD_PLUGINS="",
               HARNESS_SCRATCH=str(scratch))  # fmt: skip
    return subprocess.Popen([sys.executable, str(script), *args], env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def test_sigterm_ends_a_run_like_ctrl_c(tmp_path: Path) -> None:
    """SIGTERM in a retrieval task: one line, exit 143, the finished result whole, no temporary or scratch folder."""
    out, scratch = tmp_path / "results", tmp_path / "scratch"
    scratch.mkdir()
    tasks = f"sts:{sts_file(tmp_path / 'data', 'a.jsonl')},beir:{beir_folder(tmp_path / 'beir')}"
    args = ["run", "--encoder", "slow", "--tasks", tasks, "--out", str(out), "--no-cache"]
    proc = slow_harness(tmp_path, args, seconds=1.0, scratch=scratch)
    deadline = time.monotonic() + 180
    while not list(scratch.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the first task is done and the second is embedding its corpus
    (first,) = (out / "slow").glob("*@*.json")
    kept = first.read_bytes()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)

    assert proc.returncode == 143, err
    assert err.splitlines() == ["harness: error: terminated (SIGTERM); finished tasks are saved, rerun to resume"]
    assert list(scratch.iterdir()) == []
    assert sorted(out.rglob("*@*.json")) == [first] and first.read_bytes() == kept
    assert not [path for path in out.rglob("*") if path.name.endswith(".tmp")]

    rerun = slow_harness(tmp_path, args, seconds=0, scratch=scratch)
    stdout, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert stdout.splitlines()[0].endswith("(skipped: already done, --force reruns it)")
    assert first.read_bytes() == kept and len(list(out.rglob("*@*.json"))) == 2
