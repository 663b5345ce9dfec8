"""``harness train --pairs`` over many files: JSON lines, gzip, Parquet, checked once and memory-mapped."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest

from harness.encoders.training.pair_store import open_pairs, pairs_cache_dir, resolve_pairs
from harness.home import harness_home

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()
TRAIN = ["--preset", "cpt-micro", "--steps", "4", "--batch-size", "16", "--lr", "3e-3", "--max-length", "32",
         "--seed", "3", "--save-every", "100"]  # fmt: skip


def records(n: int = 64) -> list[dict]:
    """Learnable pairs (as in test_training.py), each with a hard negative and its source."""
    out = []
    for i in range(n):
        key = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(3)]
        out.append({"x": " ".join(key), "y": f"about {key[2]}, {key[0]} and {key[1]}",
                    "negatives": [f"nothing on {key[1]}"], "source": f"demo:{i}"})  # fmt: skip
    return out


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def split_folder(folder: Path, rows: list[dict]) -> Path:
    """The rows over a.jsonl, b.jsonl.gz and c.parquet, whose sorted order is the rows' order."""
    folder.mkdir()
    (folder / "a.jsonl").write_text(jsonl(rows[:20]))
    with gzip.open(folder / "b.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(jsonl(rows[20:40]))
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows[40:]), folder / "c.parquet")
    (folder / "notes.txt").write_text("not pairs: a folder is searched for pairs files only\n")
    return folder


def losses(run: Path) -> list[float]:
    lines = (run / "train_log.jsonl").read_text().splitlines()
    return [record["loss"] for record in map(json.loads, lines) if "loss" in record]


def test_a_folder_of_jsonl_gzip_and_parquet_trains_exactly_like_one_file(cli, tmp_path: Path) -> None:
    rows = records()
    one = tmp_path / "one.jsonl"
    one.write_text(jsonl(rows))
    folder = split_folder(tmp_path / "pairs", rows)
    assert cli("train", *TRAIN, "--pairs", one, "--out", tmp_path / "run-one").code == 0
    result = cli("train", *TRAIN, "--pairs", folder, "--out", tmp_path / "run-folder")
    assert result.code == 0, result.err
    assert len(losses(tmp_path / "run-one")) == 4
    assert losses(tmp_path / "run-folder") == losses(tmp_path / "run-one")


def test_comma_separated_files_and_globs_name_the_same_pairs(tmp_path: Path) -> None:
    folder = split_folder(tmp_path / "pairs", records())
    by_folder = resolve_pairs(str(folder))
    assert [p.name for p in by_folder] == ["a.jsonl", "b.jsonl.gz", "c.parquet"]
    assert resolve_pairs(f"{folder}/*.jsonl*,{folder}/c.parquet") == by_folder
    assert resolve_pairs(f"{folder / 'a.jsonl'}, {folder / 'b.jsonl.gz'},{folder / 'c.parquet'}") == by_folder
    assert open_pairs(f"{folder}/*.jsonl*,{folder}/c.parquet").fingerprint == open_pairs(str(folder)).fingerprint


def test_the_store_is_memory_mapped_from_the_harness_home(tmp_path: Path) -> None:
    rows = records()
    store = open_pairs(str(split_folder(tmp_path / "pairs", rows)))
    assert store.cache_files, "the table sits in memory instead of being mapped from a file"
    assert all(
        Path(f).is_relative_to(harness_home() / "cache" / "pairs" / store.fingerprint) for f in store.cache_files
    )
    assert len(store) == 64
    picked = store.take([63, 0, 25])
    assert [(p.x, p.y, list(p.negatives), p.source) for p in picked] == [
        (r["x"], r["y"], r["negatives"], r["source"]) for r in (rows[63], rows[0], rows[25])
    ]


def test_a_bad_line_in_the_second_file_stops_before_step_1(cli, tmp_path: Path) -> None:
    folder = tmp_path / "pairs"
    folder.mkdir()
    (folder / "a.jsonl").write_text(jsonl(records()[:20]))
    bad = folder / "b.jsonl"
    bad.write_text(jsonl(records()[20:22]) + '{"x": "a", "negatives": ["n"]}\n')
    result = cli("train", *TRAIN, "--pairs", folder, "--out", tmp_path / "run")
    assert result.code == 1
    assert result.err.strip().endswith(f"{bad}:3: missing field 'y'") and result.err.count("\n") == 1
    assert not (tmp_path / "run" / "train_log.jsonl").exists()
    assert not [p for p in pairs_cache_dir().iterdir()], "a half-checked table was left in the cache"


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        ('{"x": "a", "y": "b"}\n', "field 'negatives': 0 hard negative(s), but {first}:1 has 1"),
        ("", "no pairs: the file is empty"),
        ("\xff\n", "not UTF-8"),
    ],
)
def test_the_files_must_agree_and_each_hold_pairs(cli, tmp_path: Path, second: str, expected: str) -> None:
    first, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(jsonl(records()[:20]))
    other.write_bytes(second.encode("latin-1"))
    result = cli("train", *TRAIN, "--pairs", f"{first},{other}", "--out", tmp_path / "run")
    assert result.code == 1 and f"{other}" in result.err and expected.format(first=first) in result.err


def test_a_bad_parquet_row_is_named_by_its_row(cli, tmp_path: Path) -> None:
    rows = records()[:20]
    rows[6] = {**rows[6], "y": "  "}
    path = tmp_path / "pairs.parquet"
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), path)
    result = cli("train", *TRAIN, "--pairs", path, "--out", tmp_path / "run")
    assert result.code == 1 and f"{path}:7: field 'y' is only whitespace" in result.err


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("absent.jsonl", "absent.jsonl: no such file"),
        ("empty-folder", "empty-folder: no pairs files in this folder"),
        ("*.nothing", "*.nothing: no file matches this pattern"),
    ],
)
def test_a_pairs_argument_naming_nothing_is_one_line(cli, tmp_path: Path, spec: str, expected: str) -> None:
    (tmp_path / "empty-folder").mkdir()
    result = cli("train", *TRAIN, "--pairs", tmp_path / spec, "--out", tmp_path / "run")
    assert result.code == 1 and expected in result.err and result.err.count("\n") == 1


def test_an_edited_file_rebuilds_the_table_and_an_unchanged_one_reuses_it(cli, tmp_path: Path) -> None:
    folder = split_folder(tmp_path / "pairs", records())
    assert cli("train", *TRAIN, "--steps", "1", "--pairs", folder, "--out", tmp_path / "run1").code == 0
    [table] = pairs_cache_dir().glob("*/pairs.arrow")
    built = table.stat().st_mtime_ns
    assert cli("train", *TRAIN, "--steps", "1", "--pairs", folder, "--out", tmp_path / "run2").code == 0
    assert list(pairs_cache_dir().glob("*/pairs.arrow")) == [table] and table.stat().st_mtime_ns == built
    edited = records()
    edited[3] = {**edited[3], "x": "an edited query"}
    (folder / "a.jsonl").write_text(jsonl(edited[:20]))
    assert cli("train", *TRAIN, "--steps", "1", "--pairs", folder, "--out", tmp_path / "run3").code == 0
    tables = list(pairs_cache_dir().glob("*/pairs.arrow"))
    assert len(tables) == 2
    assert open_pairs(str(folder)).take([3])[0].x == "an edited query"


def test_a_run_does_not_resume_on_edited_pairs(cli, tmp_path: Path) -> None:
    """The pairs' fingerprint is part of the run: the same --pairs path with other bytes is another run."""
    pairs, run = tmp_path / "pairs.jsonl", tmp_path / "run"
    pairs.write_text(jsonl(records()))
    short = [*TRAIN[:2], "--steps", "2", *TRAIN[4:]]
    assert cli("train", *short, "--pairs", pairs, "--out", run).code == 0
    saved = json.loads((run / "train_settings.json").read_text())
    assert len(saved["pairs_fingerprint"]) == 64
    pairs.write_text(jsonl(records()[::-1]))
    again = cli("train", *TRAIN, "--pairs", pairs, "--out", run)
    assert again.code == 1 and "holds a run with other settings (pairs_fingerprint: " in again.err
