"""Dataset files: embedded copies, --data-dir and $HARNESS_DATA_DIR, checksums."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from harness import DatasetFile
from harness.catalog import TaskRef
from harness.data.locate import EMBEDDED_ROOT, EMBEDDED_SUFFIX, DataLocator
from harness.data.registry import DatasetRegistry
from harness.errors import DataError
from harness.pluginhost import get_host
from harness.plugins.tasks.retrieval.tasks import BEIR_SETS, scifact
from harness.plugins.tasks.sts.tasks import SICK_FILES, STSB_FILES
from harness.running.runner import _is_same_work
from helpers import REPO

REFERENCE = REPO / "results" / "reference"

# The embedded files, with the sha256 the dataset registry pins them by.
PINNED = DataLocator().pinned([*STSB_FILES.values(), *SICK_FILES.values(), *scifact().dataset_files("test")])

UNPINNED_TASKS = frozenset(BEIR_SETS) | {"nq-open", "triviaqa-open", "msmarco-passage", "csn-python"}
"""Built-in tasks whose files the registry lists without a sha256, deliberately: they come from BEIR's zips,
which the publisher's md5 pins at download (plugins/datasets/beir.toml), or from DPR's and MS MARCO's downloads
(plugins/datasets/dpr.toml, msmarco.toml: an md5 where one was published, else marked unverified), or, for
csn-python, from a copy of CodeXGLUE's Python test.jsonl for which no published digest could be found
(plugins/datasets/codesearchnet.toml, marked unverified); we hold no verified copy to hash."""


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
    monkeypatch.setattr("harness.data.locate.EMBEDDED_ROOT", fake_root)
    with pytest.raises(DataError, match="embedded copy is corrupt"):
        DataLocator().resolve([STSB_FILES["test"]])


def builtin_task_files() -> list[tuple[str, str, DatasetFile]]:
    """(task, split, file) for every split of every built-in task with a fixed name."""
    catalog = get_host().catalog
    out = []
    for name, registration in catalog.tasks.items():
        if registration.is_family or not registration.plugin.startswith("harness.plugins."):
            continue
        task = catalog.build_task(TaskRef(name))
        out += [(name, split, f) for split in task.splits for f in task.dataset_files(split)]
    return out


def test_every_builtin_task_file_is_pinned_by_the_registry_or_listed_as_unpinned() -> None:
    """The registry (plugins/datasets/*.toml) is the one place a pin is written; every task file finds its own."""
    files = builtin_task_files()
    assert len({name for name, _, _ in files}) >= 29
    locator = DataLocator(datasets=get_host().catalog.datasets)
    pinned = 0
    for name, split, wanted in files:
        assert wanted.dataset is not None and wanted.sha256 is None, (name, wanted.path)  # named, not written
        (resolved,) = locator.pinned([wanted])
        if name in UNPINNED_TASKS:
            assert resolved.sha256 is None, (name, wanted.path)
        else:
            assert resolved.sha256 is not None and len(resolved.sha256) == 64, (name, split, wanted.path)
            pinned += 1
    # As many pinned (task, split, file) as when each task wrote its own sha256, plus csn-go, -java, -javascript
    # and -php (four splits each) and the Table 3 variants (zero-shot, prompted, k-NN) of MR, CR, SUBJ, MPQA (two
    # files each), SST-2 (three) and TREC (two), which read their probe's files.
    assert pinned == 80 + 4 * 4 + 3 * (4 * 2 + 3 + 2)


def test_committed_results_are_still_the_same_work() -> None:
    """Every reference result records exactly the file hashes the registry pins: a rerun skips it."""
    catalog = get_host().catalog
    locator = DataLocator(datasets=catalog.datasets)
    records = [json.loads(p.read_text()) for p in sorted(REFERENCE.glob("*/*@*.json"))]
    assert len(records) > 50
    for record in records:
        task = catalog.build_task(TaskRef(record["task"]["name"], record["task"]["split"]))
        declared = locator.pinned(task.dataset_files(record["task"]["split"]))
        assert all(f.sha256 for f in declared)
        data_now = locator.current_sha256(declared)
        same = _is_same_work(record, record["encoder"], data_now, task.dataset_identity(record["task"]["split"]))
        assert same, record["task"]["name"]


def test_a_file_naming_an_unknown_dataset_or_a_file_it_lacks_is_refused() -> None:
    with pytest.raises(DataError, match=r"sts-test.csv: belongs to dataset 'stsb', which no plugin registered"):
        DataLocator(datasets=DatasetRegistry()).resolve([STSB_FILES["test"]])
    with pytest.raises(DataError, match=r"sickr/other.txt: is not a file of dataset 'sickr'"):
        DataLocator().pinned([DatasetFile("sickr/other.txt", dataset="sickr")])
    with pytest.raises(DataError, match="the registry is the one place for a dataset's pins"):
        DataLocator().pinned([DatasetFile(STSB_FILES["test"].path, "0" * 64, dataset="stsb")])
