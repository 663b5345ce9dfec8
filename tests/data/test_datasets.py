"""The dataset registry and ``harness data``: downloads from a local server only, never the internet."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dataserver import DataServer

from harness import hookimpl
from harness.catalog import TaskRef
from harness.cli import main
from harness.data.locate import DataLocator
from harness.data.mirrors import mirrored
from harness.data.registry import Dataset, DatasetRegistry, load_registry_file, parse_registry
from harness.data.store import DOWNLOADS, MANIFEST, DatasetStore
from harness.errors import DataError
from harness.pluginhost import get_host
from harness.plugins.datasets import REGISTRY_FILES
from harness.plugins.tasks.retrieval.tasks import BEIR_SETS
from harness.task import DatasetFile

UKP = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/"
BEIR_REGISTRY = next(p for p in REGISTRY_FILES if p.name == "beir.toml")


@pytest.fixture
def server() -> Iterator[DataServer]:
    running = DataServer().start()
    yield running
    running.stop()


def beir_zip(folder: str, split: str = "test", extra: dict[str, bytes] | None = None) -> bytes:
    """A tiny BEIR-layout zip: 4 documents, 2 judged queries."""
    corpus = [
        {"_id": "d1", "title": "Dogs", "text": "the dog runs in the park"},
        {"_id": "d2", "title": "Cats", "text": "the cat sleeps on the sofa"},
        {"_id": "d3", "title": "Music", "text": "a man plays the guitar"},
        {"_id": "d4", "title": "Rain", "text": "rain falls on the town"},
    ]
    queries = [{"_id": "q1", "text": "where does the dog run"}, {"_id": "q2", "text": "who plays guitar"}]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr(f"{folder}/corpus.jsonl", "".join(json.dumps(d) + "\n" for d in corpus))
        zipped.writestr(f"{folder}/queries.jsonl", "".join(json.dumps(q) + "\n" for q in queries))
        zipped.writestr(f"{folder}/qrels/{split}.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
        for name, data in (extra or {}).items():
            zipped.writestr(name, data)
    return buffer.getvalue()


def registry_toml(entries: list[dict[str, Any]], family: str = "testbeir") -> str:
    """A registry file in the built-in format, one BEIR-layout zip per entry."""
    lines = [f'family = "{family}"', 'description = "test"', "[defaults]", 'license = "CC0"', 'citation = "@misc{x}"']
    for entry in entries:
        folder, split = entry["folder"], entry.get("split", "test")
        lines += ["[[datasets]]", f'name = "{entry["name"]}"', f"tasks = {json.dumps(entry.get('tasks', []))}"]
        lines += ["  [[datasets.sources]]", f'  url = "{entry["url"]}"', '  unpack = "zip"']
        for key in ("sha256", "md5", "size"):
            if key in entry:
                value = entry[key]
                lines.append(f"  {key} = {json.dumps(value)}")
        lines += ["    [datasets.sources.place]", f'    "{folder}/" = "{folder}/"']
        for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
            lines += ["  [[datasets.files]]", f'  path = "{folder}/{name}"']
    return "\n".join(lines) + "\n"


def pinned(name: str, folder: str, url: str, body: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "folder": folder,
        "url": url,
        "sha256": hashlib.sha256(body).hexdigest(),
        "md5": hashlib.md5(body).hexdigest(),  # noqa: S324
        "size": len(body),
        **extra,
    }


def store_for(tmp_path: Path, entries: list[dict[str, Any]]) -> DatasetStore:
    registry_file = tmp_path / "registry.toml"
    registry_file.write_text(registry_toml(entries))
    registry = DatasetRegistry()
    registry.extend(load_registry_file(registry_file))
    return DatasetStore(registry, tmp_path / "home" / "data")


def downloads(store: DatasetStore) -> list[str]:
    """What the downloads folder holds besides the per-dataset lock files."""
    return sorted(p.name for p in (store.root / DOWNLOADS).iterdir() if p.suffix != ".lock")


def nothing_installed(store: DatasetStore, name: str) -> None:
    """No dataset folder, no half-unpacked staging folder: only (at most) the downloads folder."""
    assert not store.installed(name)
    leftovers = [p.name for p in store.root.iterdir()] if store.root.exists() else []
    assert set(leftovers) <= {DOWNLOADS}, leftovers


# -- the built-in registry -----------------------------------------------------------------------------------


PAPER_DATASETS = {
    "beir": {
        "trec-covid", "nfcorpus", "fiqa", "arguana", "touche2020", "dbpedia-entity", "quora", "scifact",
        "climate-fever", "fever", "hotpotqa", "nq", "msmarco",
    },
    "senteval": {"mr", "cr", "subj", "mpqa", "sst2", "trec", "mrpc"},
    "sts": {"sts12", "sts13", "sts14", "sts15", "sts16", "stsb", "sickr"},
    "codesearchnet": {f"codesearchnet-{lang}" for lang in ("go", "java", "javascript", "php", "python", "ruby")},
    "cosqa": {"cosqa"},
    "dpr": {"dpr-wikipedia", "dpr-nq-test", "dpr-trivia-test"},
    "msmarco": {"msmarco-passage"},
}  # fmt: skip


def test_every_dataset_of_the_paper_is_registered_with_source_licence_and_citation() -> None:
    catalog = get_host().catalog
    assert not catalog.problems
    datasets = catalog.datasets.datasets
    for family, names in PAPER_DATASETS.items():
        for name in names:
            dataset = datasets[name]
            assert dataset.family == family
            assert dataset.license and dataset.citation and dataset.sources, name
            assert all(s.url.startswith(("https://", "http://")) for s in dataset.sources), name
            assert dataset.pinning != "unpinned" or all(s.unverified for s in dataset.sources), name
    for name, dataset in datasets.items():  # every task a dataset names exists, and the dataset has its files
        for task_name in dataset.tasks:
            task = catalog.build_task(TaskRef(task_name))
            paths = {f.path for f in task.dataset_files(task.default_split)}
            assert all(dataset.provides(p) or catalog.datasets.providing(p) for p in paths), (name, task_name)


def test_beir_tasks_are_backed_by_registry_entries() -> None:
    registry = get_host().catalog.datasets
    for task_name, (folder, splits, _description) in BEIR_SETS.items():
        provider = registry.providing(f"{folder}/qrels/{splits[0]}.tsv")
        assert provider is not None and task_name in provider.tasks, task_name


def test_registry_pins_match_our_verified_copies(shared_data: Path) -> None:
    """Every file sha256 in the registry equals the file in the shared data folder, where we hold it."""
    checked = 0
    for dataset in get_host().catalog.datasets.datasets.values():
        for file in dataset.files:
            local = shared_data / file.path
            if file.sha256 and local.is_file():
                assert hashlib.sha256(local.read_bytes()).hexdigest() == file.sha256, file.path
                checked += 1
    assert checked > 100


def test_data_list_shows_size_and_licence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list", "--family", "beir"]) == 0
    out = capsys.readouterr().out
    assert "scifact" in out and "2.8 MB" in out and "CC BY-NC 2.0" in out
    assert "msmarco" in out and "1.1 GB" in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"name": "Bad Name"}, "must be lowercase"),
        ({"sources": []}, "at least one"),
    ],
)
def test_bad_registry_entries_name_the_file_and_dataset(change: dict[str, Any], message: str) -> None:
    entry = {
        "name": "x",
        "sources": [{"url": "https://e.invalid/x.zip", "unpack": "zip", "md5": "0" * 32, "place": {"x/": "x/"}}],
        **change,
    }
    with pytest.raises(DataError, match=message) as caught:
        parse_registry({"family": "f", "datasets": [entry]}, "reg.toml")
    assert str(caught.value).startswith("reg.toml: datasets[0]")


def test_a_download_without_any_checksum_is_refused_unless_said_why() -> None:
    source = {"url": "https://e.invalid/x.zip", "unpack": "zip", "place": {"x/": "x/"}}
    with pytest.raises(DataError, match="has no sha256 or md5"):
        parse_registry({"family": "f", "datasets": [{"name": "x", "sources": [source]}]}, "reg.toml")
    allowed = parse_registry(
        {"family": "f", "datasets": [{"name": "x", "sources": [{**source, "unverified": "none published"}]}]}, "r"
    )
    assert allowed[0].pinning == "unpinned"


# -- fetching ------------------------------------------------------------------------------------------------


def test_good_download_installs_verifies_and_removes(server: DataServer, tmp_path: Path, capsys) -> None:
    body = beir_zip("tiny")
    store = store_for(tmp_path, [pinned("tiny", "tiny", server.serve("tiny.zip", body), body)])
    folder = store.fetch("tiny", progress=False)
    assert (folder / "tiny" / "corpus.jsonl").is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert folder.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's private 0700: the home may be shared
    manifest = json.loads((folder / MANIFEST).read_text())
    assert set(manifest["files"]) == {"tiny/corpus.jsonl", "tiny/queries.jsonl", "tiny/qrels/test.tsv"}
    assert downloads(store) == []  # the verified archive is deleted once unpacked
    assert store.verify("tiny") == []
    (folder / "tiny" / "queries.jsonl").write_text("changed")
    recorded = manifest["files"]["tiny/queries.jsonl"][:16]
    assert store.verify("tiny") == [f"tiny/queries.jsonl: sha256 {_short('changed')}..., expected {recorded}..."]
    assert store.fetch("tiny") == folder  # installed: no second download
    assert len(server.log) == 1
    assert store.remove("tiny") and not folder.exists()


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_corrupted_download_fails_checksum_and_unpacks_nothing(server: DataServer, tmp_path: Path) -> None:
    body = beir_zip("tiny")
    url = server.serve("tiny.zip", body[:-10] + b"corrupted!")
    store = store_for(tmp_path, [pinned("tiny", "tiny", url, body)])
    with pytest.raises(DataError, match="failed verification .*sha256.*deleted, nothing unpacked"):
        store.fetch("tiny", progress=False)
    nothing_installed(store, "tiny")
    assert downloads(store) == []  # the bad bytes are not kept either


def test_interrupted_download_resumes_with_a_range_request(server: DataServer, tmp_path: Path) -> None:
    body = beir_zip("tiny", extra={"tiny/padding.bin": bytes(range(256)) * 400})
    url = server.serve("tiny.zip", body, fault="drop")  # the first response stops half-way
    store = store_for(tmp_path, [pinned("tiny", "tiny", url, body)])
    store.fetch("tiny", progress=False)
    assert store.verify("tiny") == []
    (first, first_range), (second, second_range) = server.log
    assert first == second == "/tiny.zip" and first_range is None
    assert second_range is not None and second_range.startswith("bytes=") and second_range != "bytes=0-"


def test_a_partial_file_left_by_an_earlier_run_is_resumed(server: DataServer, tmp_path: Path) -> None:
    body = beir_zip("tiny")
    store = store_for(tmp_path, [pinned("tiny", "tiny", server.serve("tiny.zip", body), body)])
    part = store.root / DOWNLOADS / "tiny-0-tiny.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(body[: len(body) // 2])
    store.fetch("tiny", progress=False)
    assert server.log == [("/tiny.zip", f"bytes={len(body) // 2}-")]
    assert store.verify("tiny") == []


def test_missing_file_on_the_server_is_a_404_error(server: DataServer, tmp_path: Path) -> None:
    store = store_for(tmp_path, [pinned("tiny", "tiny", server.url("nothing-here.zip"), b"x")])
    with pytest.raises(DataError, match=r"nothing-here\.zip: HTTP 404"):
        store.fetch("tiny", progress=False)
    nothing_installed(store, "tiny")


def test_slow_server_hits_the_timeout(server: DataServer, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_DOWNLOAD_TIMEOUT", "0.3")
    body = beir_zip("tiny")
    url = server.serve("tiny.zip", body, fault="slow", delay_s=2.0)
    store = store_for(tmp_path, [pinned("tiny", "tiny", url, body)])
    with pytest.raises(DataError, match=r"no response within 0\.3 s"):
        store.fetch("tiny", progress=False)
    nothing_installed(store, "tiny")


def test_zip_with_a_path_traversal_member_is_refused(server: DataServer, tmp_path: Path) -> None:
    body = beir_zip("tiny", extra={"../x": b"escaped", "tiny/../../y": b"escaped"})
    store = store_for(tmp_path, [pinned("tiny", "tiny", server.serve("tiny.zip", body), body)])
    with pytest.raises(DataError, match=r"refused: archive member '\.\./x' would be written outside"):
        store.fetch("tiny", progress=False)
    nothing_installed(store, "tiny")
    assert not list(tmp_path.rglob("x")) and not list(tmp_path.rglob("y"))


def test_tar_with_a_symlink_is_refused(server: DataServer, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("tiny/corpus.jsonl")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    body = buffer.getvalue()
    registry = DatasetRegistry()
    source = {"url": server.serve("t.tar.gz", body), "unpack": "tar.gz", "place": {"tiny/": "tiny/"}}
    source["sha256"] = hashlib.sha256(body).hexdigest()
    registry.extend(parse_registry({"family": "f", "datasets": [{"name": "tiny", "sources": [source]}]}, "r"))
    store = DatasetStore(registry, tmp_path / "data")
    with pytest.raises(DataError, match="is a link or special file"):
        store.fetch("tiny", progress=False)
    nothing_installed(store, "tiny")


def test_a_file_the_registry_pins_is_checked_after_unpacking(server: DataServer, tmp_path: Path) -> None:
    body = beir_zip("tiny")
    registry_file = tmp_path / "registry.toml"
    text = registry_toml([pinned("tiny", "tiny", server.serve("tiny.zip", body), body)])
    text = text.replace('path = "tiny/queries.jsonl"', f'path = "tiny/queries.jsonl"\n  sha256 = "{"a" * 64}"')
    registry_file.write_text(text)
    registry = DatasetRegistry()
    registry.extend(load_registry_file(registry_file))
    store = DatasetStore(registry, tmp_path / "data")
    with pytest.raises(DataError, match=r"tiny: tiny/queries\.jsonl: sha256 .* nothing installed"):
        store.fetch("tiny", progress=False)
    nothing_installed(store, "tiny")


# -- mirrors -------------------------------------------------------------------------------------------------


def test_mirrors_rewrite_the_longest_matching_prefix(monkeypatch, tmp_path: Path) -> None:
    table = {"https://a.org/data/": "http://mirror.local/a/", "https://a.org/": "http://other/"}
    assert mirrored("https://a.org/data/x.zip", table) == "http://mirror.local/a/x.zip"
    assert mirrored("https://a.org/y.zip", table) == "http://other/y.zip"
    assert mirrored("https://b.org/z.zip", table) == "https://b.org/z.zip"
    assert mirrored("https://a.org/data/x.zip", {"https://a.org/data": str(tmp_path)}) == (tmp_path / "x.zip").as_uri()
    monkeypatch.setenv("HARNESS_DATA_MIRRORS", "https://a.org/=http://env/;")
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "mirrors.toml").write_text(
        '[mirrors]\n"https://a.org/" = "http://file/"\n"https://c/" = "http://c2/"\n'
    )
    assert mirrored("https://a.org/q") == "http://env/q"  # the environment wins over the file
    assert mirrored("https://c/q") == "http://c2/q"
    monkeypatch.setenv("HARNESS_DATA_MIRRORS", "no-equals-sign")
    with pytest.raises(DataError, match="HARNESS_DATA_MIRRORS: entry 1 'no-equals-sign' is not PREFIX=REPLACEMENT"):
        mirrored("https://a.org/q")


def test_a_local_folder_mirror_serves_an_air_gapped_site(tmp_path: Path, monkeypatch) -> None:
    body = beir_zip("tiny")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny.zip").write_bytes(body)
    monkeypatch.setenv("HARNESS_DATA_MIRRORS", f"https://canonical.invalid/beir/={mirror}")
    store = store_for(tmp_path, [pinned("tiny", "tiny", "https://canonical.invalid/beir/tiny.zip", body)])
    store.fetch("tiny", progress=False)
    assert store.verify("tiny") == []


# -- tasks find datasets -------------------------------------------------------------------------------------


def test_offline_error_names_dataset_files_places_and_command(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    locator = DataLocator.from_settings(None, get_host().catalog.datasets, download=False)
    with pytest.raises(DataError) as caught:
        locator.resolve([DatasetFile("nfcorpus/corpus.jsonl")])
    message = str(caught.value)
    assert "looked in: the embedded data, the datasets installed in" in message
    assert "dataset 'nfcorpus'" in message and "nfcorpus/qrels/test.tsv" in message
    assert "harness data fetch nfcorpus" in message and "--download" in message


def test_embedded_data_comes_before_the_harness_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    locator = DataLocator.from_settings(None, get_host().catalog.datasets, download=True)
    files = locator.resolve([DatasetFile("scifact/queries.jsonl")])  # no download: the embedded copy is used
    assert files.label("scifact/queries.jsonl").startswith("<embedded>")
    assert not (tmp_path / "data").exists()


class _TestBeir:
    def __init__(self, path: Path, *datasets: Dataset) -> None:
        self.path = path
        self.datasets = datasets

    @hookimpl
    def harness_register_datasets(self, register: Any) -> None:
        register(self.path)
        for dataset in self.datasets:
            register(dataset)


def test_beir_suite_runs_end_to_end_with_download(server: DataServer, tmp_path: Path, monkeypatch) -> None:
    """``harness run --suite beir --download``: the registry's canonical URLs, mirrored to the local server."""
    entries = []
    for task_name, (folder, splits, _description) in BEIR_SETS.items():
        body = beir_zip(folder, splits[0])
        server.serve(f"{folder}.zip", body)
        name = task_name.removeprefix("beir-")  # the registry's name, which the task's files name
        entries.append(pinned(name, folder, f"{UKP}{folder}.zip", body, split=splits[0], tasks=[task_name]))
    registry_file = tmp_path / "beir.toml"
    registry_file.write_text(registry_toml(entries, family="beir"))
    host = get_host()
    host.unregister("harness.plugins.datasets")  # the real entries pin the real archives' checksums
    # scifact runs from the embedded copy, pinned by its real entry.
    real_scifact = next(d for d in load_registry_file(BEIR_REGISTRY) if d.name == "scifact")
    host.register(_TestBeir(registry_file, real_scifact), name="test-beir-registry")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_DATA_MIRRORS", f"{UKP}={server.url('')}")
    out = tmp_path / "results"
    args = ["run", "--encoder", "hash-bow", "--suite", "beir", "--out", str(out), "--no-progress", "--no-cache"]
    assert main(args) != 0  # without --download nothing is fetched: 12 tasks fail, scifact (embedded) runs
    assert not server.log
    assert main([*args, "--download"]) == 0
    results = sorted(p.stem.split("@")[0] for p in (out / "hash-bow").glob("*.json"))
    assert results == sorted([*BEIR_SETS, "scifact"])
    assert len(server.log) == len(BEIR_SETS)
    nq = json.loads(next((out / "hash-bow").glob("beir-nq@*.json")).read_text())
    assert nq["main_score"] > 0  # hash-bow finds the dog document for the dog query
    assert main(["data", "verify", "nq", "msmarco"]) == 0
