"""The dataset registry: what each dataset is, where it comes from, and the checksums that pin it.

The registry is data, not code: one TOML file per dataset family (``plugins/datasets/beir.toml``, ...), handed
to the harness through the ``harness_register_datasets`` hook, so a third-party plugin adds datasets exactly as
the built-ins do.  Each entry names its canonical download(s), the sha256 and/or the publisher's md5 and size of
each, how to unpack it, which files it provides (relative to a data root laid out like ``shared/data``, the
paths tasks ask for) with their sha256 where known, its licence and citation, and the tasks it backs.

A download with no published checksum is allowed only when every file it places is pinned by sha256, or when
the entry says why it cannot be pinned (``unverified = "..."``); ``harness data list`` shows which is which.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import DataError, UsageError

UNPACK_KINDS = ("zip", "tar", "tar.gz", "gzip", "none")
NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
HEX = {"sha256": re.compile(r"^[0-9a-f]{64}$"), "md5": re.compile(r"^[0-9a-f]{32}$")}
DATASET_KEYS = {"name", "title", "tasks", "license", "citation", "homepage", "sources", "files", "description"}
SOURCE_KEYS = {"url", "size", "sha256", "md5", "checksum_source", "unpack", "place", "unverified"}
FILE_KEYS = {"path", "sha256", "size"}


@dataclass(frozen=True)
class Source:
    """One download: the URL, what pins it, and where its contents go under the data root."""

    url: str
    unpack: str
    place: Mapping[str, str]
    """Archive member prefix -> data-root prefix (``{"scifact/": "scifact/"}``); ``{"": "path"}`` for one file."""
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    checksum_source: str = ""
    unverified: str = ""
    """Why no checksum pins this download (none was ever published); empty when one does."""

    @property
    def pinned(self) -> bool:
        return bool(self.sha256 or self.md5)

    @property
    def filename(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1] or "download"


@dataclass(frozen=True)
class DataFile:
    """A file the dataset provides, as tasks name it (``scifact/corpus.jsonl``)."""

    path: str
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Dataset:
    """One registry entry."""

    name: str
    family: str
    title: str
    sources: tuple[Source, ...]
    files: tuple[DataFile, ...]
    tasks: tuple[str, ...] = ()
    license: str = "unknown"
    citation: str = ""
    homepage: str = ""
    origin: str = ""
    """The registry file (or plugin) the entry came from, for error messages."""

    @property
    def size(self) -> int | None:
        """Bytes to download, or ``None`` when a source's size is not known."""
        sizes = [s.size for s in self.sources]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    @property
    def files_size(self) -> int | None:
        """Bytes of the listed files once unpacked, when every one's size is known."""
        sizes = [f.size for f in self.files]
        return None if not sizes or any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    @property
    def pinning(self) -> str:
        """How well the download is pinned: ``sha256``, ``md5`` (publisher's), ``files`` or ``unpinned``."""
        if all(s.sha256 for s in self.sources):
            return "sha256"
        if all(s.pinned for s in self.sources):
            return "md5"
        if all(s.pinned or _files_pinned(self, s) for s in self.sources):
            return "files"
        return "unpinned"

    def provides(self, path: str) -> bool:
        """Whether a task's relative ``path`` is one of this dataset's files, or lies in a folder it unpacks."""
        if any(f.path == path for f in self.files):
            return True
        folders = [t for s in self.sources if s.unpack not in ("none", "gzip") for t in s.place.values()]
        return any(t.endswith("/") and path.startswith(t) for t in folders)


def _files_pinned(dataset: Dataset, source: Source) -> bool:
    placed = [f for f in dataset.files if any(f.path.startswith(t) or f.path == t for t in source.place.values())]
    return bool(placed) and all(f.sha256 for f in placed)


def load_registry_file(path: Path, origin: str = "") -> list[Dataset]:
    """The datasets of one TOML registry file; any mistake is a :class:`DataError` naming the file and field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(path, f"cannot be read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, f"not valid TOML ({exc})") from None
    return parse_registry(data, str(path), origin or str(path))


def parse_registry(data: Mapping[str, Any], label: str, origin: str = "") -> list[Dataset]:
    """Registry entries from parsed TOML (``label`` names the file in errors)."""
    family = data.get("family")
    if not isinstance(family, str) or not NAME.match(family):
        raise DataError(label, "'family' must be a lowercase name")
    defaults = data.get("defaults", {})
    entries = data.get("datasets")
    if not isinstance(defaults, dict) or not isinstance(entries, list) or not entries:
        raise DataError(label, "expected a [defaults] table (optional) and at least one [[datasets]] entry")
    out = []
    for index, raw in enumerate(entries):
        if not isinstance(raw, dict):
            raise DataError(label, f"datasets[{index}] is not a table")
        where = f"datasets[{index}]" + (f" ({raw['name']})" if isinstance(raw.get("name"), str) else "")
        out.append(_dataset({**defaults, **raw}, family, f"{label}: {where}", origin or label))
    return out


def _dataset(raw: dict[str, Any], family: str, where: str, origin: str) -> Dataset:
    _no_unknown_keys(raw, DATASET_KEYS, where)
    name = _string(raw, "name", where)
    if not NAME.match(name):
        raise DataError(where, f"name {name!r} must be lowercase letters, digits, '.' and '-'")
    sources_raw = raw.get("sources")
    if not isinstance(sources_raw, list) or not sources_raw:
        raise DataError(where, "needs at least one [[datasets.sources]] entry")
    files = tuple(_file(item, f"{where} files[{i}]") for i, item in enumerate(_list(raw, "files", where)))
    dataset = Dataset(
        name=name,
        family=family,
        title=_string(raw, "title", where, default=name),
        sources=tuple(_source(item, f"{where} sources[{i}]") for i, item in enumerate(sources_raw)),
        files=files,
        tasks=tuple(_string_list(raw, "tasks", where)),
        license=_string(raw, "license", where, default="unknown"),
        citation=_string(raw, "citation", where, default=""),
        homepage=_string(raw, "homepage", where, default=""),
        origin=origin,
    )
    for i, source in enumerate(dataset.sources):
        if not source.pinned and not source.unverified and not _files_pinned(dataset, source):
            raise DataError(
                where,
                f"sources[{i}] ({source.url}) has no sha256 or md5, and not every file it places has a sha256 "
                '(pin it, or say why it cannot be pinned with unverified = "...")',
            )
    return dataset


def _source(raw: Any, where: str) -> Source:
    if not isinstance(raw, dict):
        raise DataError(where, "is not a table")
    _no_unknown_keys(raw, SOURCE_KEYS, where)
    url = _string(raw, "url", where)
    unpack = _string(raw, "unpack", where)
    if unpack not in UNPACK_KINDS:
        raise DataError(where, f"unpack {unpack!r} is not one of {', '.join(UNPACK_KINDS)}")
    place = raw.get("place")
    if not isinstance(place, dict) or not place or not all(isinstance(v, str) for v in place.values()):
        raise DataError(where, "place must be a table of archive prefix -> data-root prefix")
    if unpack in ("gzip", "none") and set(place) != {""}:
        raise DataError(where, f'unpack = "{unpack}" is one file: place must be {{"" = "relative/path"}}')
    for target in place.values():
        _safe_relative(target, where)
    return Source(
        url=url,
        unpack=unpack,
        place=dict(place),
        size=_size(raw, where),
        sha256=_digest(raw, "sha256", where),
        md5=_digest(raw, "md5", where),
        checksum_source=_string(raw, "checksum_source", where, default=""),
        unverified=_string(raw, "unverified", where, default=""),
    )


def _file(raw: Any, where: str) -> DataFile:
    if not isinstance(raw, dict):
        raise DataError(where, "is not a table")
    _no_unknown_keys(raw, FILE_KEYS, where)
    path = _string(raw, "path", where)
    _safe_relative(path, where)
    return DataFile(path=path, sha256=_digest(raw, "sha256", where), size=_size(raw, where))


def _safe_relative(path: str, where: str) -> None:
    parts = Path(path).parts
    if path.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise DataError(where, f"path {path!r} must be relative and stay inside the data root")


def _no_unknown_keys(raw: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise DataError(where, f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _string(raw: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or (default is None and not value):
        raise DataError(where, f"field {key!r} must be a non-empty string")
    return value


def _list(raw: dict[str, Any], key: str, where: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise DataError(where, f"field {key!r} must be a list")
    return value


def _string_list(raw: dict[str, Any], key: str, where: str) -> list[str]:
    value = _list(raw, key, where)
    if not all(isinstance(v, str) and v for v in value):
        raise DataError(where, f"field {key!r} must be a list of names")
    return value


def _size(raw: dict[str, Any], where: str) -> int | None:
    value = raw.get("size")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DataError(where, f"field 'size' must be a byte count, got {value!r}")
    return value


def _digest(raw: dict[str, Any], kind: str, where: str) -> str | None:
    value = raw.get(kind)
    if value is None:
        return None
    if not isinstance(value, str) or not HEX[kind].match(value):
        raise DataError(where, f"field {kind!r} must be {HEX[kind].pattern[2:-2]} hex digits, got {value!r}")
    return value


@dataclass
class DatasetRegistry:
    """Every registered dataset by name, plus which dataset provides each task file."""

    datasets: dict[str, Dataset] = field(default_factory=dict)

    def add(self, dataset: Dataset) -> None:
        existing = self.datasets.get(dataset.name)
        if existing is not None and existing.origin != dataset.origin:
            raise DataError(dataset.origin, f"dataset {dataset.name!r} is already registered by {existing.origin}")
        self.datasets[dataset.name] = dataset

    def extend(self, datasets: Iterable[Dataset]) -> None:
        for dataset in datasets:
            self.add(dataset)

    def get(self, name: str) -> Dataset:
        try:
            return self.datasets[name]
        except KeyError:
            close = difflib.get_close_matches(name, self.datasets, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else " (see 'harness data list')"
            raise UsageError(f"unknown dataset {name!r}{hint}") from None

    def pin(self, name: str, path: str) -> str | None:
        """The sha256 dataset ``name`` pins the task file ``path`` by: the one place a built-in pin is written.

        ``None`` when the dataset provides the file without a sha256 (it lies in a folder an archive unpacks,
        and the archive's checksum pins it).  A dataset no plugin registered, or one that does not provide
        ``path``, is a :class:`DataError` naming the file: a task that names the wrong dataset is a bug to
        report, not a file to read unverified.
        """
        dataset = self.datasets.get(name)
        if dataset is None:
            raise DataError(path, f"belongs to dataset {name!r}, which no plugin registered (see 'harness data list')")
        if not dataset.provides(path):
            raise DataError(path, f"is not a file of dataset {name!r} ({dataset.origin})")
        return next((f.sha256 for f in dataset.files if f.path == path), None)

    def providing(self, path: str) -> Dataset | None:
        """The dataset whose files include ``path`` (a task's relative file name), if any."""
        for dataset in self.datasets.values():
            if dataset.provides(path):
                return dataset
        return None
