"""Dataset files: embedded copies, --data-dir and $HARNESS_DATA_DIR, checksums."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from harness import DatasetFile
from harness.datafiles import EMBEDDED_ROOT, EMBEDDED_SUFFIX, DataLocator
from harness.errors import DataError
from harness.plugins.tasks.retrieval import SCIFACT_SHA256
from harness.plugins.tasks.sts import SICK_FILES, STSB_FILES

PINNED = [
    *STSB_FILES.values(),
    *SICK_FILES.values(),
    *(DatasetFile(f"scifact/{name}", sha) for name, sha in SCIFACT_SHA256.items()),
]


def test_every_embedded_file_decompresses_to_the_pinned_release() -> None:
    files = DataLocator().resolve(PINNED)
    assert files.sha256() == {f.path: f.sha256 for f in PINNED}


def test_embedded_data_stays_small() -> None:
    total = sum(p.stat().st_size for p in EMBEDDED_ROOT.rglob("*") if p.is_file())
    assert total < 12 * 1024 * 1024


def test_embedded_copies_equal_the_shared_data(shared_data: Path) -> None:
    for wanted in PINNED:
        assert hashlib.sha256((shared_data / wanted.path).read_bytes()).hexdigest() == wanted.sha256


def test_data_dir_wins_over_embedded_and_is_verified(tmp_path: Path) -> None:
    wanted = STSB_FILES["test"]
    copy = tmp_path / wanted.path
    copy.parent.mkdir(parents=True)
    copy.write_bytes(DataLocator().resolve([wanted])._resolved[wanted.path].data)
    files = DataLocator.from_settings(tmp_path).resolve([wanted])
    assert files.label(wanted.path) == str(copy)
    copy.write_bytes(copy.read_bytes() + b"extra\n")
    with pytest.raises(DataError, match="sts-test.csv: sha256 mismatch"):
        DataLocator.from_settings(tmp_path).resolve([wanted])


def test_environment_variable_points_at_a_data_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path))
    assert DataLocator.from_settings(None).data_dir == tmp_path.resolve()
    # Files absent there fall back to the embedded copy.
    files = DataLocator.from_settings(None).resolve([STSB_FILES["test"]])
    assert files.label(STSB_FILES["test"].path).startswith("<embedded>")


def test_missing_file_names_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"nowhere/x.tsv: dataset file not found \(looked in: .*nowhere/x.tsv, the embedded data\)"
    ):
        DataLocator.from_settings(tmp_path).resolve([DatasetFile("nowhere/x.tsv")])
    with pytest.raises(DataError, match="data directory does not exist"):
        DataLocator.from_settings(tmp_path / "absent")


def test_corrupt_embedded_copy_is_reported(tmp_path: Path, monkeypatch) -> None:
    fake_root = tmp_path / "embedded"
    shutil.copytree(EMBEDDED_ROOT / "stsb", fake_root / "stsb")
    (fake_root / (STSB_FILES["test"].path + EMBEDDED_SUFFIX)).write_bytes(b"not xz")
    monkeypatch.setattr("harness.datafiles.EMBEDDED_ROOT", fake_root)
    with pytest.raises(DataError, match="embedded copy is corrupt"):
        DataLocator().resolve([STSB_FILES["test"]])
