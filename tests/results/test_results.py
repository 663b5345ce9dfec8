"""Result files: schema, atomic writes, resume semantics."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from fakes import FakePlugin
from harness.cli import main
from harness.results.files import result_path, slug, write_json_atomic
from helpers import schema_validator


def run(tmp_path: Path, *extra: str) -> int:
    return main(["run", "--encoder", "hashing", "--tasks", "stsb,sickr@full", "--out", str(tmp_path), *extra])


def test_results_and_leaderboard_follow_the_schemas(fake_plugin, tmp_path: Path) -> None:
    assert run(tmp_path) == 0
    result_validator = schema_validator("result.schema.json")
    records = [json.loads(p.read_text()) for p in (tmp_path / "hashing").glob("*.json")]
    assert len(records) == 2
    for record in records:
        result_validator.validate(record)
        assert record["main_score"] == record["metrics"][record["task"]["main_metric"]]
        assert record["timings"]["encode_seconds"] > 0
    full = next(r for r in records if r["task"]["split"] == "full")
    assert full["n_examples"] == 9927 and len(full["task"]["dataset"]["files"]) == 3
    assert full["timings"]["texts_encoded"] < full["timings"]["texts_requested"]  # SICK repeats sentences
    schema_validator("leaderboard.schema.json").validate(json.loads((tmp_path / "leaderboard.json").read_text()))


def test_schema_rejects_a_broken_record(fake_plugin, tmp_path: Path) -> None:
    assert main(["run", "--encoder", "hashing", "--tasks", "stsb", "--out", str(tmp_path)]) == 0
    record = json.loads(next((tmp_path / "hashing").glob("*.json")).read_text())
    del record["encoder"]["fingerprint_sha256"]
    with pytest.raises(jsonschema.ValidationError):
        schema_validator("result.schema.json").validate(record)


def test_rerun_skips_finished_pairs_and_force_recomputes(fake_plugin, tmp_path: Path, capsys) -> None:
    assert run(tmp_path) == 0
    path = result_path(tmp_path, "hashing", "stsb", "test")
    first = json.loads(path.read_text())
    capsys.readouterr()
    assert run(tmp_path) == 0
    assert capsys.readouterr().out.count("skipped") == 2
    assert json.loads(path.read_text())["date"] == first["date"]
    assert FakePlugin.encoders["hashing"].calls == []  # nothing was encoded
    assert run(tmp_path, "--force") == 0
    assert "skipped" not in capsys.readouterr().out


def test_a_changed_encoder_fingerprint_is_recomputed(fake_plugin, tmp_path: Path, monkeypatch, capsys) -> None:
    assert run(tmp_path) == 0
    capsys.readouterr()
    import fakes

    monkeypatch.setattr(fakes.HashingEncoder, "fingerprint", lambda self: {"kind": "hashing", "version": 2})
    assert run(tmp_path) == 0
    assert "skipped" not in capsys.readouterr().out


def test_a_corrupt_result_file_is_recomputed(fake_plugin, tmp_path: Path, capsys) -> None:
    assert run(tmp_path) == 0
    path = result_path(tmp_path, "hashing", "stsb", "test")
    path.write_text('{"schema_version": 1, "main_sc')
    capsys.readouterr()
    assert run(tmp_path) == 0
    assert capsys.readouterr().out.count("skipped") == 1
    json.loads(path.read_text())


def test_atomic_write_leaves_old_file_when_serialisation_fails(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(ValueError):
        write_json_atomic(path, {"a": float("nan")})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_slugs_are_safe_and_distinct() -> None:
    assert slug("minilm-l6") == "minilm-l6"
    a, b = slug("sbert:/models/a"), slug("sbert:/models_a")
    assert "/" not in a and a != b


def test_family_average_counts_each_task_once(fake_plugin, tmp_path: Path) -> None:
    assert main(["run", "--encoder", "hashing", "--tasks", "stsb,sickr,sickr@full", "--out", str(tmp_path)]) == 0
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    scores = board["encoders"]["hashing"]["scores"]
    assert set(scores) == {"stsb@test", "sickr@test", "sickr@full"}
    assert board["encoders"]["hashing"]["families"]["sts"] == pytest.approx(
        (scores["stsb@test"] + scores["sickr@test"]) / 2
    )


def test_number_arrays_stay_on_one_line_and_round_trip(tmp_path) -> None:
    from harness.results.files import write_json_atomic

    value = {"per_example": {"values": {"score": [0.5, -1e-05, 3]}, "ids": ["q1", "q2", "q3"]}, "empty": []}
    path = tmp_path / "r.json"
    write_json_atomic(path, value)
    text = path.read_text()
    assert '"score": [0.5, -1e-05, 3]' in text
    assert json.loads(text) == value


def test_family_average_is_blank_for_an_encoder_missing_a_task() -> None:
    from harness.results.tables import family_grids

    def row(encoder: str, task: str, split: str = "test") -> dict:
        return {"encoder": encoder, "task": task, "split": split, "family": "sts"}

    board = {
        "results": [row("a", "stsb"), row("a", "sickr"), row("a", "sickr", "full"), row("b", "stsb")],
        "encoders": {
            "a": {"scores": {"stsb@test": 0.8, "sickr@test": 0.7, "sickr@full": 0.75}, "families": {"sts": 0.75}},
            "b": {"scores": {"stsb@test": 0.9}, "families": {"sts": 0.9}},
        },
    }
    (grid,) = family_grids(board, ["stsb", "sickr"])
    assert grid.columns == ["stsb", "sickr", "sickr@full"]
    assert grid.rows == [("a", [0.8, 0.7, 0.75], 0.75), ("b", [0.9, None, None], None)]
