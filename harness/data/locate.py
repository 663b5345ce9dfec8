"""Finding, verifying and reading dataset files.

A task names its files relative to a data directory laid out like ``shared/data``.
They are looked for, in order, in the ``--data-dir`` folder (or
``$HARNESS_DATA_DIR``), in the copy embedded in this package (compressed
with xz, so the default suite runs offline from a fresh install), in the datasets
installed in the harness home (``harness data fetch``), and last, only when the user
allows it (``--download`` or ``$HARNESS_DOWNLOAD=1``), by fetching the registry
dataset that provides the file.  Every file with a known sha256 is checked before a
task sees it: a score is only comparable if the data is the same.  The sha256 comes
from the dataset registry, looked up by the dataset a task's file names
(:meth:`DataLocator.pinned`); the registry is the only place it is written.

A file found as ``NAME.gz`` where the task asks for ``NAME`` (BEIR's
``corpus.jsonl.gz``, as HF datasets ship it) is read decompressed; its identity
is its content's, so the same data gzipped or not is the same data.

What identifies a task's data is its files' names relative to their dataset root
and their contents (:func:`identity_names`), never where they lie: the same
bytes under another checkout, install or machine are the same dataset.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from harness.data.file_hashes import content_sha256
from harness.errors import DataError

if TYPE_CHECKING:
    from harness.data.registry import DatasetRegistry
    from harness.data.store import DatasetStore
    from harness.task import DatasetFile

DATA_DIR_ENV = "HARNESS_DATA_DIR"
DOWNLOAD_ENV = "HARNESS_DOWNLOAD"
EMBEDDED_ROOT = Path(__file__).parent / "embedded"
EMBEDDED_SUFFIX = ".xz"
GZIP_SUFFIX = ".gz"
BOM = "\ufeff"

Packing = Literal["xz", "gz"]


class ResolvedFile:
    """A located, verified file; its bytes are read once, when it is resolved."""

    def __init__(self, label: str, data: bytes, sha256: str) -> None:
        self.label = label
        self.data = data
        self.sha256 = sha256

    def text(self) -> str:
        """The UTF-8 text, without a leading byte-order mark (Windows editors write one; JSON forbids it)."""
        try:
            return self.data.decode("utf-8").removeprefix(BOM)
        except UnicodeDecodeError as exc:
            line = self.data[: exc.start].count(b"\n") + 1
            raise DataError(self.label, f"not valid UTF-8 (byte {exc.start})", line=line) from None


class DataFiles:
    """Read access to a task's files, resolved and checksum-verified by the harness.

    Tasks read through this object rather than opening paths, so that embedded
    compressed copies, data directories and absolute user paths look the same, and
    every error message names the file as the user knows it.
    """

    def __init__(self, resolved: dict[str, ResolvedFile]) -> None:
        self._resolved = resolved

    def text(self, path: str) -> str:
        """The file's text (UTF-8, a leading byte-order mark dropped); a decoding error names the file and line."""
        return self._resolved[path].text()

    def data(self, path: str) -> bytes:
        """The file's bytes, for formats that are not UTF-8 (SentEval's latin-1 files)."""
        return self._resolved[path].data

    def lines(self, path: str) -> list[str]:
        """The file's lines without their line endings: split at ``\n`` only, a ``\r`` before it dropped.

        As BEIR, MTEB and the ``csv`` module read JSON-lines and TSV files.  Not
        ``str.splitlines()``, which also breaks at U+0085, U+2028, U+2029, form
        feeds and \\x1c-\\x1e: MS MARCO's passages hold raw U+0085 inside JSON
        strings.  (SentEval's latin-1 files keep SentEval's own rule, in their reader.)
        """
        text = self.text(path)
        if not text:
            return []
        lines = text.removesuffix("\n").split("\n")
        return [line.removesuffix("\r") for line in lines]

    def label(self, path: str) -> str:
        """How error messages name the file."""
        return self._resolved[path].label

    def sha256(self) -> dict[str, str]:
        """The sha256 of every file read, keyed by the task's path for it."""
        return {p: f.sha256 for p, f in self._resolved.items()}


@dataclass(frozen=True)
class DataLocator:
    """Where dataset files are looked for, in order (see the module's docstring)."""

    data_dir: Path | None = None
    use_embedded: bool = True
    datasets: DatasetRegistry | None = None
    """The dataset registry: finds installed datasets, says which one provides a missing file, fetches it."""
    download: bool = False
    """Fetch a missing file's dataset (``--download``, ``$HARNESS_DOWNLOAD=1``)."""
    data_home: Path | None = None
    """Where installed datasets live (default: ``$HARNESS_HOME/data``)."""

    @classmethod
    def from_settings(
        cls,
        data_dir: str | Path | None,
        datasets: DatasetRegistry | None = None,
        download: bool | None = None,
    ) -> DataLocator:
        """``--data-dir`` wins over ``$HARNESS_DATA_DIR``; then the embedded copy, installed datasets, a fetch."""
        if download is None:
            download = os.environ.get(DOWNLOAD_ENV, "").lower() in ("1", "true", "yes", "on")
        chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
        if chosen is None:
            return cls(datasets=datasets, download=download)
        folder = Path(chosen).expanduser()
        if not folder.is_dir():
            raise DataError(folder, "data directory does not exist (from --data-dir or $HARNESS_DATA_DIR)")
        return cls(data_dir=folder.resolve(), datasets=datasets, download=download)

    def resolve(self, files: Iterable[DatasetFile]) -> DataFiles:
        """Find, read and verify ``files`` (against the sha256 :meth:`pinned` gives each)."""
        return DataFiles({f.path: self._resolve_one(f) for f in self.pinned(files)})

    def pinned(self, files: Iterable[DatasetFile]) -> list[DatasetFile]:
        """``files`` with the sha256 the dataset registry pins each by, for those that name their dataset.

        The registry is the one place a dataset file's sha256 is written; tasks name the dataset, and this
        looks the pin up.  The runner uses the same answer to verify the files and to decide whether a stored
        result was made on the same data.  Without a registry of its own, the locator asks the plugin host's
        (every plugin's datasets), so no code path reads a pinned file unverified.
        """
        registry = self.datasets
        out = []
        for wanted in files:
            if wanted.dataset is not None:
                if registry is None:
                    registry = _host_registry()
                pin = registry.pin(wanted.dataset, wanted.path)
                if wanted.sha256 is not None and pin is not None and wanted.sha256 != pin:
                    raise DataError(
                        wanted.path,
                        f"the task pins sha256 {wanted.sha256[:16]}... but dataset {wanted.dataset!r} "
                        f"pins {pin[:16]}...; the registry is the one place for a dataset's pins",
                    )
                wanted = replace(wanted, sha256=wanted.sha256 or pin)
            out.append(wanted)
        return out

    def _store(self) -> DatasetStore | None:
        if self.datasets is None:
            return None
        from harness.data.store import DatasetStore

        return DatasetStore(self.datasets, self.data_home)

    def current_sha256(self, files: Sequence[DatasetFile]) -> dict[str, str] | None:
        """Each file's content sha256 as the data stands now, without reading what is pinned.

        A pinned file is its pin (it is checked against it whenever it is read); any other is hashed, through
        :mod:`harness.data.file_hashes` so that an unchanged file is not read again.  ``None`` when a file is
        not at hand (a result can then not be confirmed; the run looks again, fetching if allowed).
        """
        hashes = {}
        for wanted in files:
            if wanted.sha256 is not None:
                hashes[wanted.path] = wanted.sha256
                continue
            try:
                found = self._locate(wanted, fetch=False)
                hashes[wanted.path] = content_sha256(found.path, found.packing)
            except (DataError, OSError, EOFError, lzma.LZMAError, zlib.error, gzip.BadGzipFile):
                return None
        return hashes

    def _resolve_one(self, wanted: DatasetFile) -> ResolvedFile:
        found = self._locate(wanted, fetch=True)
        return _verified(found.label, found.read(), wanted.sha256)

    def _locate(self, wanted: DatasetFile, fetch: bool) -> LocatedFile:
        """Where ``wanted`` is, in the order of the module's docstring; fetched first when ``fetch`` allows."""
        looked: list[str] = []
        if os.path.isabs(wanted.path):
            candidates = [Path(wanted.path)]
        else:
            candidates = [self.data_dir / wanted.path] if self.data_dir else []
        for path in candidates:
            looked.append(str(path))
            found = _on_disk(path)
            if found is not None:
                return found
        if os.path.isabs(wanted.path):
            raise DataError(wanted.path, "dataset file not found (looked in: " + ", ".join(looked) + ")")
        if self.use_embedded:
            packed = EMBEDDED_ROOT / (wanted.path + EMBEDDED_SUFFIX)
            looked.append("the embedded data")
            if packed.is_file():
                return LocatedFile(f"<embedded>/{wanted.path}", packed, "xz")
        store = self._store()
        if store is not None:
            looked.append(f"the datasets installed in {store.root}")
            for root in store.installed_roots():
                found = _on_disk(root / wanted.path)
                if found is not None:
                    return found
            provider = store.registry.providing(wanted.path)
            if provider is not None and self.download and fetch:
                path = store.fetch(provider.name) / wanted.path
                found = _on_disk(path)
                if found is None:
                    raise DataError(wanted.path, f"not in dataset {provider.name!r} (fetched to {path.parent})")
                return found
            if provider is not None:
                expected = ", ".join(f.path for f in provider.files)
                raise DataError(
                    wanted.path,
                    f"dataset file not found (looked in: {', '.join(looked)}); it belongs to dataset "
                    f"{provider.name!r} ({provider.title}; files: {expected}): fetch it with "
                    f"'harness data fetch {provider.name}', or rerun with --download, or point --data-dir at a copy",
                )
        hint = "" if self.data_dir else "; point --data-dir or $HARNESS_DATA_DIR at a copy"
        raise DataError(wanted.path, "dataset file not found (looked in: " + ", ".join(looked) + ")" + hint)


@dataclass(frozen=True)
class LocatedFile:
    """A found file: how messages name it, where it lies, and how it is packed (``None``: plain)."""

    label: str
    path: Path
    packing: Packing | None = None

    def read(self) -> bytes:
        """The content, decompressed; a damaged archive is a :class:`DataError` naming it."""
        data = _read(self.path)
        if self.packing is None:
            return data
        try:
            return lzma.decompress(data) if self.packing == "xz" else gzip.decompress(data)
        except (lzma.LZMAError, OSError, EOFError, zlib.error) as exc:
            what = "embedded copy" if self.packing == "xz" else "gzip file"
            raise DataError(self.label, f"{what} is corrupt ({exc})") from None


def _on_disk(path: Path) -> LocatedFile | None:
    """``path`` itself, else ``path.gz`` beside it (read decompressed), else ``None``."""
    if path.is_file():
        return LocatedFile(str(path), path)
    if path.exists():
        raise DataError(path, "is not a file")
    packed = path.with_name(path.name + GZIP_SUFFIX)
    if packed.is_file():
        return LocatedFile(str(packed), packed, "gz")
    return None


def identity_names(paths: Sequence[str]) -> dict[str, str]:
    """Each path's name in a dataset identity: relative paths as they are, absolute ones from their common folder.

    ``/home/me/sets/mine/corpus.jsonl`` and ``/home/me/sets/mine/qrels/test.tsv`` are ``corpus.jsonl`` and
    ``qrels/test.tsv``; a single absolute file is its file name.
    """
    absolute = [p for p in paths if os.path.isabs(p)]
    root = os.path.commonpath([os.path.dirname(p) for p in absolute]) if absolute else ""
    return {p: PurePosixPath(Path(p).relative_to(root)).as_posix() if os.path.isabs(p) else p for p in paths}


def _host_registry() -> DatasetRegistry:
    """The datasets every loaded plugin registered (imported late: the host imports this module's users)."""
    from harness.pluginhost import get_host

    return get_host().catalog.datasets


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(path, f"cannot be read ({exc.strerror})") from None


def _verified(label: str, data: bytes, expected: str | None) -> ResolvedFile:
    digest = hashlib.sha256(data).hexdigest()
    if expected is not None and digest != expected:
        raise DataError(
            label,
            f"sha256 mismatch: expected {expected[:16]}..., found {digest[:16]}... "
            "(a different version of the dataset; scores would not be comparable)",
        )
    return ResolvedFile(label, data, digest)
