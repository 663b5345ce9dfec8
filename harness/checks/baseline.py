"""``harness check``: guard an encoder's scores in CI against a committed baseline.

A baseline is a JSON file of (encoder, task, split) entries: main score, every
metric, the encoder fingerprint and the dataset hash.  Checking compares fresh
results with it, comparability first: a result made from other dataset files or
by a differently configured encoder is *incomparable*, never a regression, because
its score answers a different question.  A comparable score that drops by more
than the tolerance is a regression; one that rises by more is an improvement,
reported and never failing.

Tolerances are absolute (score units, e.g. 0.005 = half a point of Spearman x 100)
with per-family and per-task overrides.  Tasks with a random element (linear
probes over seeds) record their seed spread in the baseline; the noise-aware
tolerance is then ``max(tolerance, noise_sigmas * seed std)``.

Exit codes (most severe first): 2 usage or input error, 4 run error (a task failed
or a result is missing), 1 regression, 3 incomparable, 0 pass.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import HarnessError, UsageError
from harness.results.files import (
    UnreadableResult,
    iter_results,
    now_iso,
    result_path,
    warn_unreadable,
    write_json_atomic,
)

BASELINE_KIND = "harness-baseline"
BASELINE_VERSION = 1

EXIT_PASS = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2
EXIT_INCOMPARABLE = 3
EXIT_RUN_ERROR = 4

DEFAULT_TOLERANCE = 0.005
DEFAULT_NOISE_SIGMAS = 3.0
NOT_SCORES = ("penalty", "_std", "_seed_")
"""Metric names that are settings or spreads, not higher-is-better scores; ``--all-metrics`` skips them."""


@dataclass
class Tolerances:
    default: float = DEFAULT_TOLERANCE
    family: dict[str, float] = field(default_factory=dict)
    task: dict[str, float] = field(default_factory=dict)
    """Keyed by ``task@split`` or by task name (any split)."""
    noise_aware: bool = True
    noise_sigmas: float = DEFAULT_NOISE_SIGMAS

    @classmethod
    def load(cls, path: Path | None, default: float | None = None) -> Tolerances:
        """From a TOML or JSON file (``[tolerance]`` table: default, noise_aware, noise_sigmas, family, task)."""
        tolerances = cls()
        if path is not None:
            data = _read_config(path)
            section = data.get("tolerance", data)
            try:
                tolerances = cls(
                    default=float(section.get("default", DEFAULT_TOLERANCE)),
                    family={str(k): float(v) for k, v in section.get("family", {}).items()},
                    task={str(k): float(v) for k, v in section.get("task", {}).items()},
                    noise_aware=bool(section.get("noise_aware", True)),
                    noise_sigmas=float(section.get("noise_sigmas", DEFAULT_NOISE_SIGMAS)),
                )
            except (TypeError, ValueError, AttributeError) as exc:
                raise UsageError(f"{path}: invalid tolerance settings: {exc}") from None
        if default is not None:
            tolerances.default = default
        for name, value in [("default", tolerances.default), *tolerances.family.items(), *tolerances.task.items()]:
            if value < 0:
                raise UsageError(f"tolerance {name!r} is negative ({value})")
        return tolerances

    def for_entry(self, entry: dict[str, Any]) -> tuple[float, str]:
        """The absolute tolerance for a baseline entry, and where it came from."""
        ref = f"{entry['task']}@{entry['split']}"
        if ref in self.task:
            base, source = self.task[ref], f"task {ref}"
        elif entry["task"] in self.task:
            base, source = self.task[entry["task"]], f"task {entry['task']}"
        elif entry.get("family") in self.family:
            base, source = self.family[entry["family"]], f"family {entry['family']}"
        else:
            base, source = self.default, "default"
        spread = entry.get("seed_std")
        if self.noise_aware and spread:
            noise = self.noise_sigmas * float(spread)
            if noise > base:
                return noise, f"{self.noise_sigmas:g} x seed std"
        return base, source


def _read_config(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the check config ({exc.strerror})") from None
    try:
        return json.loads(text) if str(path).endswith(".json") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: invalid {'JSON' if str(path).endswith('.json') else 'TOML'}: {exc}") from None


@dataclass
class Finding:
    encoder: str
    task: str
    metric: str
    status: str
    """``ok``, ``improved``, ``regression``, ``incomparable`` or ``missing``."""
    baseline: float | None = None
    current: float | None = None
    tolerance: float | None = None
    tolerance_source: str = ""
    reason: str = ""

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "delta": self.delta}


@dataclass
class CheckReport:
    findings: list[Finding]
    run_errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        statuses = {f.status for f in self.findings}
        if self.run_errors or "missing" in statuses:
            return EXIT_RUN_ERROR
        if "regression" in statuses:
            return EXIT_REGRESSION
        if "incomparable" in statuses:
            return EXIT_INCOMPARABLE
        return EXIT_PASS

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.findings)

    def summary(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in ("regression", "incomparable", "missing", "improved", "ok")]
        errors = f", {len(self.run_errors)} run error(s)" if self.run_errors else ""
        return f"{', '.join(p for p in parts if not p.startswith('0 '))}{errors} (exit {self.exit_code})"

    def to_json(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "summary": self.summary(),
            "findings": [f.to_json() for f in self.findings],
            "run_errors": self.run_errors,
        }


# -- baselines -----------------------------------------------------------------------------------------


def entry_from_record(record: dict[str, Any]) -> dict[str, Any]:
    """A baseline entry for one result file."""
    task = record["task"]
    metrics = record["metrics"]
    return {
        "encoder": record["encoder"]["name"],
        "task": task["name"],
        "split": task["split"],
        "family": task.get("family"),
        "main_metric": task["main_metric"],
        "main_score": record["main_score"],
        "metrics": metrics,
        "seed_std": metrics.get(f"{task['main_metric']}_std"),
        "fingerprint_sha256": record["encoder"]["fingerprint_sha256"],
        "dataset_sha256": task["dataset"]["sha256"],
        "n_examples": record["n_examples"],
    }


def read_baseline(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: baseline not found (create one with --update)") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable baseline ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != BASELINE_KIND:
        raise UsageError(f'{path}: not a harness baseline (no "kind": "{BASELINE_KIND}")')
    if data.get("schema_version") != BASELINE_VERSION:
        raise UsageError(
            f"{path}: baseline schema {data.get('schema_version')!r}; this harness reads {BASELINE_VERSION}"
        )
    entries = data.get("entries")
    required = ("encoder", "task", "split", "main_score", "fingerprint_sha256", "dataset_sha256")
    if not isinstance(entries, list):
        raise UsageError(f"{path}: field 'entries' must be a list")
    for index, entry in enumerate(entries):
        missing = [name for name in required if not isinstance(entry, dict) or name not in entry]
        if missing:
            raise UsageError(f"{path}: entries[{index}] lacks {', '.join(missing)}")
    return entries


def write_baseline(path: Path, entries: Iterable[dict[str, Any]]) -> int:
    ordered = sorted(entries, key=lambda e: (e["encoder"], e["task"], e["split"]))
    write_json_atomic(
        Path(path),
        {
            "kind": BASELINE_KIND,
            "schema_version": BASELINE_VERSION,
            "harness_version": __version__,
            "created": now_iso(),
            "entries": ordered,
        },
    )
    return len(ordered)


@dataclass
class CurrentResults:
    """A results folder as a check reads it: its results by (encoder, task, split), and the files it could not read."""

    records: dict[tuple[str, str, str], dict[str, Any]]
    unreadable: list[UnreadableResult]

    def unreadable_file(self, encoder: str, task: str, split: str) -> UnreadableResult | None:
        """The unreadable file that is where the result of (encoder, task, split) would be, if there is one."""
        expected = result_path(Path(), encoder, task, split).parts  # (encoder folder, TASK@SPLIT.json)
        return next((e for e in self.unreadable if e.path.parts[-len(expected) :] == expected), None)


def current_results(folder: Path) -> CurrentResults:
    unreadable: list[UnreadableResult] = []
    try:
        records = {
            (r["encoder"]["name"], r["task"]["name"], r["task"]["split"]): r
            for _path, r in iter_results(Path(folder), unreadable.append)
        }
    except HarnessError as exc:
        raise UsageError(str(exc)) from None
    return CurrentResults(records, unreadable)


def update_baseline(
    path: Path, folder: Path, encoder: str | None = None, tasks: set[str] | None = None
) -> tuple[int, int]:
    """Write ``path`` from the results in ``folder`` (entries of other encoders/tasks in an old baseline are kept).

    Returns (entries written from results, entries in the file).
    """
    old = read_baseline(path) if Path(path).is_file() else []
    results = current_results(folder)
    for error in results.unreadable:
        warn_unreadable(error, "left out of the baseline")
    fresh = {
        key: entry_from_record(record)
        for key, record in results.records.items()
        if (encoder is None or key[0] == encoder) and (tasks is None or f"{key[1]}@{key[2]}" in tasks)
    }
    if not fresh:
        raise UsageError(
            f"{folder}: no results to make a baseline from" + (f" for encoder {encoder!r}" if encoder else "")
        )
    merged = {(e["encoder"], e["task"], e["split"]): e for e in old}
    merged.update(fresh)
    return len(fresh), write_baseline(path, merged.values())


# -- checking --------------------------------------------------------------------------------------------


def check(
    baseline: list[dict[str, Any]],
    results: CurrentResults,
    tolerances: Tolerances,
    *,
    all_metrics: bool = False,
    run_errors: list[str] | None = None,
) -> CheckReport:
    """Judge every baseline entry against ``results``; an unreadable result file is named where it is missing."""
    findings: list[Finding] = []
    claimed: list[UnreadableResult] = []
    for entry in baseline:
        key = (entry["encoder"], entry["task"], entry["split"])
        ref = f"{entry['task']}@{entry['split']}"
        metric = entry.get("main_metric", "main score")
        record = results.records.get(key)
        if record is None:
            unreadable = results.unreadable_file(*key)
            reason = "no result"
            if unreadable is not None:
                claimed.append(unreadable)
                reason = f"unreadable result file {unreadable.path}: {unreadable.reason}"
            findings.append(Finding(entry["encoder"], ref, metric, "missing", entry["main_score"], reason=reason))
            continue
        reason = _incomparable(entry, record)
        if reason:
            findings.append(
                Finding(entry["encoder"], ref, metric, "incomparable", entry["main_score"], record["main_score"],
                        reason=reason)
            )  # fmt: skip
            continue
        tolerance, source = tolerances.for_entry(entry)
        findings.append(
            _judge(entry["encoder"], ref, metric, entry["main_score"], record["main_score"], tolerance, source)
        )
        if all_metrics:
            for name, value in sorted(entry.get("metrics", {}).items()):
                if name == metric or any(marker in name for marker in NOT_SCORES):
                    continue
                now = record["metrics"].get(name)
                if now is None:
                    findings.append(
                        Finding(entry["encoder"], ref, name, "missing", value, reason="metric not reported")
                    )
                    continue
                findings.append(_judge(entry["encoder"], ref, name, value, now, tolerances.default, "default"))
    for error in results.unreadable:
        if error not in claimed:
            warn_unreadable(error, "left out of the check")
    return CheckReport(findings, list(run_errors or []))


def _incomparable(entry: dict[str, Any], record: dict[str, Any]) -> str:
    if record["task"]["dataset"]["sha256"] != entry["dataset_sha256"]:
        return "dataset files differ from the baseline's"
    if record["encoder"]["fingerprint_sha256"] != entry["fingerprint_sha256"]:
        return "encoder fingerprint differs from the baseline's (another model or configuration)"
    return ""


def _judge(
    encoder: str, task: str, metric: str, baseline: float, current: float, tolerance: float, source: str
) -> Finding:
    delta = current - baseline
    status = "regression" if delta < -tolerance else "improved" if delta > tolerance else "ok"
    return Finding(encoder, task, metric, status, baseline, current, tolerance, source)


# -- output --------------------------------------------------------------------------------------------


def markdown_report(report: CheckReport) -> str:
    """A table for a pull-request comment."""
    marks = {"regression": "❌", "incomparable": "⚠️", "missing": "❌", "improved": "✅", "ok": "✔️"}
    lines = [
        f"**harness check**: {report.summary()}",
        "",
        "| | encoder | task | metric | baseline | current | delta | tolerance | note |",
        "|---|---|---|---|---:|---:|---:|---:|---|",
    ]
    for f in report.findings:
        lines.append(
            f"| {marks.get(f.status, '')} {f.status} | {f.encoder} | {f.task} | {f.metric} | {_num(f.baseline)} | "
            f"{_num(f.current)} | {_num(f.delta, signed=True)} | {_num(f.tolerance)} | {f.reason or f.tolerance_source} |"
        )
    for error in report.run_errors:
        lines.append(f"\nrun error: `{error}`")
    return "\n".join(lines) + "\n"


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return ""
    return f"{value:+.4f}" if signed else f"{value:.4f}"
