"""Training pairs at scale: many files, checked once, memory-mapped thereafter.

``harness train --pairs`` names one pairs file, several comma-separated ones, a
folder (every ``*.jsonl``, ``*.jsonl.gz``, ``*.jsonl.xz``, ``*.jsonl.zst`` and
``*.parquet`` directly inside, sorted by name) or a glob.  Reading them into a
list of Python objects, as :func:`.pairs.read_pairs` does, costs a few hundred
bytes per pair and the whole parse on every start: fine for a mined sample, not
for the hundreds of millions of pairs of the paper's pre-training.

So the files are read once, line by line (Parquet row batch by row batch), every
record checked by the rules of :func:`.pairs.pair_from_record` (an error names the
file and line, or the Parquet row, before step 1), and written as one Arrow table
(columns ``x``, ``y``, ``negatives``, ``source``) with Hugging Face ``datasets``'
writer.  ``datasets`` then memory-maps that table: the process holds pages the OS
can drop, not objects, and ranks of one machine share the page cache.

The table lives in ``$HARNESS_HOME/cache/pairs/<fingerprint>``, the fingerprint a
sha256 over the input files' content hashes (:func:`harness.data.file_hashes.content_sha256`,
which remembers them by size and mtime) in order, so an edited, added or removed
file builds a new table and an unchanged set reuses the old one.  It is built in a
hidden partial folder and renamed into place, so concurrent ranks or runs see no
table or a whole one.

The data order is untouched: :class:`.schedule.PairOrder` still permutes
``range(len(store))`` as a pure function of (seed, step), the files' pairs are
numbered in the order above, and each rank looks up only its share of each batch
(:meth:`PairStore.take`), so resuming stays exact and a folder of files trains
exactly like the same pairs concatenated into one file.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import importlib
import io
import json
import lzma
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.data.file_hashes import content_sha256
from harness.data.jsonlines import utf8_lines
from harness.encoders.training.pairs import Pair, _ragged, pair_from_record
from harness.errors import DataError, HarnessError
from harness.home import harness_home, remove_stale_partials

FORMAT_VERSION = 1
"""Part of every fingerprint; raise it when the cached table's layout changes."""

SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.xz", ".jsonl.zst", ".parquet")
"""What a folder given to ``--pairs`` is searched for."""

TABLE_FILE = "pairs.arrow"


def pairs_cache_dir() -> Path:
    return harness_home() / "cache" / "pairs"


class PairStore:
    """The pairs of one ``--pairs`` argument, looked up by index in a memory-mapped Arrow table."""

    def __init__(self, dataset: Any, fingerprint: str) -> None:
        self._dataset = dataset
        self.fingerprint = fingerprint

    def __len__(self) -> int:
        return len(self._dataset)

    @property
    def cache_files(self) -> list[str]:
        """The Arrow files the table is mapped from (empty would mean it sits in memory)."""
        return [entry["filename"] for entry in self._dataset.cache_files]

    def __getitem__(self, index: int) -> Pair:
        """One pair, as a list of pairs would give it (the memory plan reads pair 0's negatives)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"pair index {index} out of range for {len(self)} pairs")
        return self.take([index % len(self)])[0]

    def take(self, indices: Sequence[int]) -> list[Pair]:
        """The pairs at ``indices``, in that order; only these rows are read from the table."""
        rows = self._dataset[list(indices)]
        return [
            Pair(x, y, tuple(negatives), source)
            for x, y, negatives, source in zip(rows["x"], rows["y"], rows["negatives"], rows["source"], strict=True)
        ]


def open_pairs(spec: str) -> PairStore:
    """The store for ``--pairs spec``: checked and built on first use, reused while the files are unchanged."""
    files = resolve_pairs(spec)
    fingerprint = pairs_fingerprint(files)
    folder = pairs_cache_dir() / fingerprint
    if not (folder / TABLE_FILE).is_file():
        _build(files, folder)
    return PairStore(_datasets().Dataset.from_file(str(folder / TABLE_FILE)), fingerprint)


def resolve_pairs(spec: str) -> list[Path]:
    """The files ``spec`` names, in training order: comma-separated files, folders or globs."""
    files = [path for part in spec.split(",") if part.strip() for path in _resolve_part(part.strip())]
    if not files:
        raise DataError(spec, "no pairs files given")
    return files


def _resolve_part(part: str) -> list[Path]:
    path = Path(part).expanduser()
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and _listed(p))
        if not found:
            raise DataError(part, f"no pairs files in this folder (looked for {', '.join('*' + s for s in SUFFIXES)})")
        return found
    if path.exists() or not glob.has_magic(part):
        if not path.is_file():
            raise DataError(part, "no such file")
        return [path]
    matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if not matches:
        raise DataError(part, "no file matches this pattern")
    return matches


def _listed(path: Path) -> bool:
    return path.name.endswith(SUFFIXES)


def pairs_fingerprint(files: Sequence[Path]) -> str:
    """sha256 over the files' kinds and content hashes, in order: what the cached table is built from."""
    digest = hashlib.sha256(f"cpt-harness pairs v{FORMAT_VERSION}\n".encode())
    for path in files:
        try:
            content = content_sha256(path)
        except OSError as exc:
            raise DataError(path, f"cannot read: {exc.strerror or exc}") from None
        digest.update(f"{_kind(path)} {content}\n".encode())
    return digest.hexdigest()


def _kind(path: Path) -> str:
    """``parquet``, or the packing of a JSON-lines file (any other name is plain JSON lines, as before)."""
    if path.name.endswith(".parquet"):
        return "parquet"
    return next((s for s in ("gz", "xz", "zst") if path.name.endswith("." + s)), "jsonl")


def _datasets() -> Any:
    """``datasets``, imported when a table is needed (it takes a second or two)."""
    try:
        import datasets
    except ImportError:
        raise HarnessError("harness train needs the 'datasets' package for its pairs: pip install datasets") from None
    return datasets


def _build(files: Sequence[Path], folder: Path) -> None:
    """Check every pair and write the table into a partial folder, then rename it to ``folder``."""
    datasets = _datasets()
    from datasets.arrow_writer import ArrowWriter

    features = datasets.Features(
        {
            "x": datasets.Value("string"),
            "y": datasets.Value("string"),
            "negatives": datasets.List(datasets.Value("string")),
            "source": datasets.Value("string"),
        }
    )
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(folder)
    partial = folder.parent / f".{folder.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    try:
        with ArrowWriter(features=features, path=str(partial / TABLE_FILE)) as writer:
            for pair in checked_pairs(files):
                writer.write({"x": pair.x, "y": pair.y, "negatives": list(pair.negatives), "source": pair.source})
            writer.finalize()
        try:
            os.rename(partial, folder)
        except OSError:
            if not (folder / TABLE_FILE).is_file():  # not merely another rank having finished first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def checked_pairs(files: Sequence[Path]) -> Iterator[Pair]:
    """Every pair of ``files`` in order, checked as :func:`.pairs.read_pairs` checks one file.

    The number of hard negatives must agree across all files, since any two
    pairs may share a batch; every file must hold at least one pair.
    """
    first: tuple[str, int, int] | None = None  # file, line and hard-negative count of the first pair
    for path in files:
        label, count = str(path), 0
        for line, record in _records(path):
            try:
                pair = pair_from_record(record)
            except ValueError as exc:
                raise DataError(label, str(exc), line) from None
            if first is None:
                first = (label, line, len(pair.negatives))
            elif len(pair.negatives) != first[2]:
                where = f"line {first[1]}" if first[0] == label else f"{first[0]}:{first[1]}"
                raise DataError(label, _ragged(len(pair.negatives), first[2], where), line)
            count += 1
            yield pair
        if count == 0:
            raise DataError(label, "no pairs: the file is empty")


def _records(path: Path) -> Iterator[tuple[int, Any]]:
    return _parquet_records(path) if _kind(path) == "parquet" else _jsonl_records(path)


def _jsonl_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) for each non-blank line; bad bytes, JSON or packing are ``DataError``."""
    label = str(path)
    try:
        with _open_binary(path) as handle:
            for number, line in utf8_lines(handle, label):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(label, f"invalid JSON ({exc.msg} at column {exc.colno})", number) from None
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise DataError(label, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def _open_binary(path: Path) -> io.BufferedIOBase:
    kind = _kind(path)
    if kind == "gz":
        return gzip.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    if kind == "zst":
        try:
            zstandard = importlib.import_module("zstandard")  # optional, and without type stubs
        except ImportError:
            raise DataError(path, "reading .zst files needs the 'zstandard' package: pip install zstandard") from None
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True))
    return open(path, "rb")


def _parquet_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(row number, row as a dict) for each row, a row batch at a time; the row stands in for the line."""
    pyarrow = importlib.import_module("pyarrow")  # comes with datasets; imported so for want of type stubs
    parquet = importlib.import_module("pyarrow.parquet")
    row = 0
    try:
        for batch in parquet.ParquetFile(path).iter_batches(batch_size=1024):
            for record in batch.to_pylist():
                row += 1
                yield row, record
    except (pyarrow.ArrowException, OSError) as exc:
        raise DataError(path, f"cannot read as Parquet: {exc}") from None
