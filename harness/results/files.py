"""Result files: one JSON per (encoder, task, split), and a leaderboard per folder.

Files are written atomically (a temporary file in the same folder, fsync, rename),
so a run killed at any moment leaves either the old file or the new one, never a
torn one; a rerun finds finished pairs and skips them.  The format is versioned
and described by the JSON Schemas in ``harness/results/schemas``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import HarnessError
from harness.file_modes import file_mode

SCHEMA_VERSION = 1
LEADERBOARD_FILE = "leaderboard.json"
SCHEMA_DIR = Path(__file__).parent / "schemas"


def canonical_sha256(value: Any) -> str:
    """A stable hash of a JSON-serialisable value (sorted keys, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def slug(name: str) -> str:
    """A file-name-safe form of an encoder or task name; a hash keeps altered names unique."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "unnamed"
    if safe != name:
        safe = f"{safe[:80]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return safe


def result_path(out_dir: Path, encoder_name: str, task_name: str, split: str) -> Path:
    return out_dir / slug(encoder_name) / f"{slug(task_name)}@{slug(split)}.json"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


NUMBER_ARRAY = re.compile(r"\[\s*(-?[0-9][-+0-9.eE]*(?:,\s*-?[0-9][-+0-9.eE]*)*)\s*\]")


def write_json_atomic(path: Path, value: Any) -> None:
    """Write ``value`` as JSON to ``path`` so that readers see the old or the new file, never half of one.

    Indented for people, except arrays of numbers (per-example scores), which stay on one line each.
    """
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
    text = NUMBER_ARRAY.sub(lambda match: "[" + ", ".join(x.strip() for x in match.group(1).split(",")) + "]", text)
    write_text_atomic(path, text + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a synced temporary file and a rename.

    The file gets the mode a plain ``open()`` would give it (0644 under umask 022), not the private 0600 of
    the temporary: results, leaderboards, baselines and pages are meant to be shared.  A folder that cannot be
    written (read-only, full, a file in the way) is one :class:`HarnessError` naming it; the temporary file is
    removed and whatever ``path`` held before is left as it was.
    """
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """:func:`write_text_atomic` for bytes (a PNG beside its page): the same temporary, sync, rename and mode."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(
            "wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        )
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        with handle:
            os.chmod(handle.name, file_mode())
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException as exc:
        Path(handle.name).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from exc
        raise
    fsync_dir(path.parent)


def _write_error(path: Path, exc: OSError) -> HarnessError:
    reason = exc.strerror or type(exc).__name__
    return HarnessError(f"{path.parent}: cannot write {path.name} ({reason}); files already there are unchanged")


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(out_dir: Path) -> None:
    """Temporary files left by a killed run are never results; remove them."""
    if out_dir.is_dir():
        for stale in out_dir.rglob(".*.json.*.tmp"):
            with contextlib.suppress(OSError):  # a read-only folder is reported when the run writes to it
                stale.unlink(missing_ok=True)


class UnreadableResult(HarnessError):
    """A file named like a result (``TASK@SPLIT.json``) that cannot be used, and why: torn, not ours, incomplete."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: unreadable result ({reason})")


class UnreadableResultWarning(UserWarning):
    """An unreadable result left out of what was built from its folder; ``harness`` shows it as one warning line."""


RESULT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "main_score": (int, float),
    "metrics": dict,
    "n_examples": int,
    "date": str,
    "encoder": dict,
    "encoder.name": str,
    "encoder.fingerprint_sha256": str,
    "task": dict,
    "task.name": str,
    "task.split": str,
    "task.family": str,
    "task.main_metric": str,
    "task.dataset": dict,
    "task.dataset.sha256": str,
}
"""The fields the leaderboard, ``harness check`` and ``harness compare`` read, with their JSON types."""


def load_result(path: Path) -> dict[str, Any]:
    """A finished result; :class:`UnreadableResult` says why ``path`` is none (absent, torn, not of our schema)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UnreadableResult(path, f"cannot read it: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError as exc:
        raise UnreadableResult(path, f"not valid UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise UnreadableResult(path, f"invalid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise UnreadableResult(path, f"expected a JSON object, found {_json_type(type(record))}")
    if record.get("schema_version") != SCHEMA_VERSION:
        found = record.get("schema_version")
        raise UnreadableResult(path, f"schema_version {found!r}; this harness reads {SCHEMA_VERSION}")
    for name, kind in RESULT_FIELDS.items():
        problem = _field_problem(record, name, kind)
        if problem:
            raise UnreadableResult(path, problem)
    if not math.isfinite(record["main_score"]):
        raise UnreadableResult(path, f"field 'main_score' is {record['main_score']}, not a finite number")
    return record


def _field_problem(record: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> str:
    """What is wrong with the dotted field ``name`` of ``record`` (its parents already checked), or ``""``."""
    value: Any = record
    for part in name.split("."):
        if part not in value:
            return f"missing field {name!r}"
        value = value[part]
    expected = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, expected) or isinstance(value, bool):
        wanted = "a number" if expected == (int, float) else f"a {_json_type(expected[0])}"
        return f"field {name!r} must be {wanted}, found {_json_type(type(value))}"
    return ""


JSON_TYPES = {dict: "object", list: "array", str: "string", int: "integer", float: "number", bool: "boolean"}


def _json_type(kind: type) -> str:
    return "null" if kind is type(None) else JSON_TYPES.get(kind, kind.__name__)


def read_result(path: Path) -> dict[str, Any] | None:
    """A finished result, or None when the file is absent or unreadable (a run recomputes it)."""
    try:
        return load_result(path)
    except UnreadableResult:
        return None


def warn_unreadable(error: UnreadableResult, consequence: str = "skipped") -> None:
    """``<file>: unreadable result (<why>); <consequence>`` as a warning, which a library caller may filter."""
    warnings.warn(f"{error}; {consequence}", UnreadableResultWarning, stacklevel=2)


def _is_result_name(path: Path) -> bool:
    """Result files are named ``TASK@SPLIT.json``; other JSON beside them (a baseline, a report) is not one."""
    return "@" in path.stem


def iter_results(
    folder: Path, on_unreadable: Callable[[UnreadableResult], None] | None = None
) -> Iterable[tuple[Path, dict[str, Any]]]:
    """Every valid result file under ``folder`` (leaderboards and temporaries excluded).

    A file named like a result that cannot be used is handed to ``on_unreadable`` (by default a warning that
    it is left out), never silently dropped: a torn file must not look like a task that was never run.
    Other JSON files (baselines, reports) are not results and are passed over.
    """
    if not folder.is_dir():
        raise HarnessError(f"{folder}: results folder does not exist")
    for path in sorted(folder.rglob("*.json")):
        if path.name == LEADERBOARD_FILE or path.name.startswith("."):
            continue
        try:
            record = load_result(path)
        except UnreadableResult as error:
            if _is_result_name(path):
                (on_unreadable or warn_unreadable)(error)
            continue
        yield path, record


def build_leaderboard(folder: Path, on_unreadable: Callable[[UnreadableResult], None] | None = None) -> dict[str, Any]:
    """Aggregate a results folder: one row per result, and per encoder the mean main score per family.

    An unreadable result file goes to ``on_unreadable``, by default a warning that it is left out of the
    leaderboard (so the runner's leaderboard after each task says so too).
    """
    report = on_unreadable or (lambda error: warn_unreadable(error, "left out of the leaderboard"))
    rows = []
    for path, record in iter_results(folder, report):
        task = record["task"]
        rows.append(
            {
                "encoder": record["encoder"]["name"],
                "encoder_fingerprint_sha256": record["encoder"]["fingerprint_sha256"],
                "task": task["name"],
                "split": task["split"],
                "default_split": task.get("default_split", "test"),
                "family": task["family"],
                "main_metric": task["main_metric"],
                "main_score": record["main_score"],
                "n_examples": record["n_examples"],
                "dataset_sha256": task["dataset"]["sha256"],
                "file": path.relative_to(folder).as_posix(),
                "date": record["date"],
            }
        )
    rows.sort(key=lambda r: (r["encoder"], r["family"], r["task"], r["split"]))
    encoders: dict[str, dict[str, Any]] = {}
    counted: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        entry = encoders.setdefault(row["encoder"], {"scores": {}, "families": {}})
        entry["scores"][f"{row['task']}@{row['split']}"] = row["main_score"]
        key = (row["encoder"], row["task"])
        if key not in counted or row["split"] == row["default_split"]:
            counted[key] = row
    # A family average counts each task once, at its default split when it has that one
    # (SICK-R's 'test' and 'full' splits must not weigh twice; MS MARCO counts at 'dev').
    for (encoder, _task), row in sorted(counted.items()):
        encoders[encoder]["families"].setdefault(row["family"], []).append(row["main_score"])
    for entry in encoders.values():
        entry["families"] = {fam: sum(v) / len(v) for fam, v in sorted(entry["families"].items())}
    return {
        "schema_version": SCHEMA_VERSION,
        "harness_version": __version__,
        "generated": now_iso(),
        "results": rows,
        "encoders": encoders,
    }


def write_leaderboard(folder: Path) -> Path:
    path = folder / LEADERBOARD_FILE
    write_json_atomic(path, build_leaderboard(folder))
    return path
