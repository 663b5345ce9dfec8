"""Fetched datasets in the harness home: ``$HARNESS_HOME/data/NAME/``, each a data root of its own.

``NAME/`` holds the dataset's files at the paths tasks ask for (``scifact/scifact/corpus.jsonl``: the folder
is a valid ``--data-dir``) and a manifest, ``.harness-dataset.json``, with the sha256 of every file.  A fetch
downloads into ``.downloads/``, verifies, unpacks into a hidden ``.NAME.partial-*`` folder, checks every pinned
file there, writes the manifest, and only then renames the folder to ``NAME``: a folder under its final name is
always complete and verified, whatever interrupted a fetch before.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from harness.data.download import Expected, download
from harness.data.mirrors import mirrored
from harness.data.registry import Dataset, DatasetRegistry
from harness.data.unpack import unpack
from harness.digests import file_sha256
from harness.errors import DataError
from harness.file_modes import relax_modes
from harness.home import harness_home, remove_stale_partials

MANIFEST = ".harness-dataset.json"
DOWNLOADS = ".downloads"


def data_home() -> Path:
    """Where fetched datasets live: ``$HARNESS_HOME/data``."""
    return harness_home() / "data"


class DatasetStore:
    """Install, find, verify and remove registry datasets under one folder."""

    def __init__(self, registry: DatasetRegistry, root: Path | None = None) -> None:
        self.registry = registry
        self.root = root if root is not None else data_home()

    def folder(self, name: str) -> Path:
        return self.root / name

    def installed(self, name: str) -> bool:
        return (self.folder(name) / MANIFEST).is_file()

    def installed_roots(self) -> list[Path]:
        """The data roots of every installed dataset, in name order."""
        if not self.root.is_dir():
            return []
        return [p for p in sorted(self.root.iterdir()) if not p.name.startswith(".") and (p / MANIFEST).is_file()]

    def fetch(self, name: str, *, force: bool = False, progress: bool | None = None) -> Path:
        """Download, verify and unpack ``name`` unless it is installed; return its folder."""
        dataset = self.registry.get(name)
        final = self.folder(dataset.name)
        if self.installed(dataset.name) and not force:
            return final
        (self.root / DOWNLOADS).mkdir(parents=True, exist_ok=True)
        with _exclusive(self.root / DOWNLOADS / f"{dataset.name}.lock"):
            if self.installed(dataset.name) and not force:  # another process fetched it while we waited
                return final
            return self._install(dataset, final, progress)

    def _install(self, dataset: Dataset, final: Path, progress: bool | None) -> Path:
        remove_stale_partials(final)
        archives = [self._download(dataset, index, progress) for index in range(len(dataset.sources))]
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=self.root))
        try:
            placed: set[str] = set()
            for source, archive in zip(dataset.sources, archives, strict=True):
                label = f"{dataset.name}: {source.filename}"
                placed.update(unpack(archive, source.unpack, source.place, staging, label))
            manifest = _checked_manifest(dataset, staging, placed)
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            relax_modes(staging)
            if final.exists():  # --force: the old copy goes only once the new one is complete
                _remove(final)
            os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        for archive in archives:  # verified and unpacked: the archive is not needed again
            with contextlib.suppress(OSError):
                archive.unlink()
        return final

    def _download(self, dataset: Dataset, index: int, progress: bool | None) -> Path:
        source = dataset.sources[index]
        destination = self.root / DOWNLOADS / f"{dataset.name}-{index}-{source.filename}"
        url = mirrored(source.url)
        if urlscheme(url) not in ("http", "https", "file"):
            raise DataError(url, "only http(s):// and file:// downloads are supported")
        # An unpinned source's size comes from a third party: shown by `harness data list`, not enforced.
        size = source.size if source.pinned else None
        expected = Expected(size=size, sha256=source.sha256, md5=source.md5)
        return download(url, destination, expected, progress=progress, label=f"{dataset.name} {source.filename}")

    def verify(self, name: str) -> list[str]:
        """Problems with the installed copy of ``name`` (empty: every file matches its manifest and the registry)."""
        dataset = self.registry.get(name)
        folder = self.folder(dataset.name)
        if not self.installed(dataset.name):
            raise DataError(folder, f"dataset {dataset.name!r} is not installed (harness data fetch {dataset.name})")
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        pinned = {f.path: f.sha256 for f in dataset.files if f.sha256}
        problems = []
        for path, recorded in manifest.get("files", {}).items():
            file = folder / path
            if not file.is_file():
                problems.append(f"{path}: missing")
                continue
            actual = file_sha256(file)
            expected = pinned.get(path, recorded)
            if actual != expected:
                problems.append(f"{path}: sha256 {actual[:16]}..., expected {expected[:16]}...")
        return problems

    def remove(self, name: str) -> bool:
        """Delete the installed copy of ``name``; ``False`` if there was none."""
        folder = self.folder(self.registry.get(name).name)
        if not folder.exists():
            return False
        _remove(folder)
        return True


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One fetch of a dataset at a time across processes (two would write the same ``.part`` file)."""
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def urlscheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def _checked_manifest(dataset: Dataset, staging: Path, placed: Iterable[str]) -> dict[str, object]:
    """Every listed file present and matching its pinned sha256; the manifest records them all."""
    placed = set(placed)
    for wanted in dataset.files:
        file = staging / wanted.path
        if not file.is_file():
            raise DataError(
                f"{dataset.name}: {wanted.path}",
                "not in the download (the registry entry's 'place' or 'files' is wrong)",
            )
    recorded = {}
    for path in sorted(placed | {f.path for f in dataset.files}):
        digest = file_sha256(staging / path)
        recorded[path] = digest
    for wanted in dataset.files:
        if wanted.sha256 and recorded[wanted.path] != wanted.sha256:
            raise DataError(
                f"{dataset.name}: {wanted.path}",
                f"sha256 {recorded[wanted.path][:16]}..., expected {wanted.sha256[:16]}...; nothing installed",
            )
    return {
        "dataset": dataset.name,
        "family": dataset.family,
        "sources": [{"url": s.url, "sha256": s.sha256, "md5": s.md5, "size": s.size} for s in dataset.sources],
        "files": recorded,
        "fetched": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _remove(folder: Path) -> None:
    """Rename first (the dataset disappears at once), then delete."""
    trash = folder.with_name(f".{folder.name}.removing-{os.getpid()}")
    os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)
