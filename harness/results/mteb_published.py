"""Published MTEB results (embeddings-benchmark/results) read, and paired with harness tasks.

The results repository's layout is ``results/<org>__<model>/<model revision>/<TaskName>.json``, one mteb
``TaskResult`` per file, with a ``model_meta.json`` beside them (its ``name`` and ``revision``; without it
the folder names say both).  A source may be the repository's root, its ``results/`` folder, one model's
folder or one revision's folder.

Two schema generations are read, as mteb's own loader reads them (embeddings-benchmark/mteb,
``mteb/results/task_result.py``: ``TaskResult.from_disk`` and ``_convert_from_before_v1_11_0``):

* mteb >= 1.11: ``{"task_name", "mteb_version", "dataset_revision", "scores": {split: [{"hf_subset",
  "main_score", metric: value, ...}]}}`` (2.x adds ``date`` and ``evaluation_phases``, and its
  ``mteb_version`` may be a range, ``"2.12.16-2.15.4"``, whose first version counts, as in
  ``_parse_mteb_version_min``);
* mteb < 1.11 (or no ``mteb_version``): ``{"mteb_dataset_name", "mteb_version", "dataset_revision", split:
  {metric: value} or {hf_subset: {metric: value}}}``, the similarity metrics nested (``"cos_sim":
  {"spearman": x}``, renamed ``cosine_spearman``) and ``main_score`` often absent, in which case the
  task's main metric (the pairing's ``mteb_metric``, mteb's ``TaskMetadata.main_score``) is read.

Which published scores are the same measurement as one of ours is data, ``published/mteb_tasks.toml``
(:func:`load_mapping`): only pairs of the same data, split, metric and protocol are made, and a published
file from an mteb release older than the pair's ``min_mteb_version`` is listed as not paired, with the reason.
Only the files of paired tasks are read.  A bad file or entry is one :class:`~harness.errors.DataError`
naming the file and the field.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from harness.errors import DataError

MAPPING_FILE = Path(__file__).parent / "published" / "mteb_tasks.toml"
MODEL_META = "model_meta.json"
SIMILARITIES = {"cos_sim": "cosine", "euclidean": "euclidean", "manhattan": "manhattan", "dot": "dot", "max": "max"}
"""mteb < 1.11's nested similarity groups and the prefix mteb >= 1.11 gives their metrics (``cos_sim.spearman``
is ``cosine_spearman``), as ``_convert_from_before_v1_11_0`` renames them."""


@dataclass(frozen=True)
class Pairing:
    """One MTEB (task, split, hf_subset, metric) that is our (task, split, metric)."""

    mteb_task: str
    mteb_split: str
    hf_subset: str
    mteb_metric: str
    task: str
    split: str
    metric: str
    checked: str
    min_mteb_version: str | None = None


@dataclass(frozen=True)
class Refusal:
    """A pairing deliberately not made, and why."""

    mteb_task: str
    task: str
    split: str
    reason: str


@dataclass(frozen=True)
class TaskMapping:
    pairs: tuple[Pairing, ...]
    refused: tuple[Refusal, ...]

    def mteb_tasks(self) -> set[str]:
        return {p.mteb_task for p in self.pairs}

    def refusal_for(self, task: str, split: str) -> Refusal | None:
        """The refusal recorded for our ``task`` at ``split`` (its ``task`` field may list several)."""
        for refusal in self.refused:
            if task in [name.strip() for name in refusal.task.split(",")] and refusal.split == split:
                return refusal
        return None


PAIR_FIELDS = {"mteb_task", "mteb_split", "hf_subset", "mteb_metric", "task", "split", "metric", "checked"}
REFUSED_FIELDS = {"mteb_task", "task", "split", "reason"}


def load_mapping(path: Path = MAPPING_FILE) -> TaskMapping:
    """The pairings of ``path`` (default: the packaged ``published/mteb_tasks.toml``), checked."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(path, f"cannot read the MTEB task mapping: {exc.strerror or type(exc).__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(path, f"invalid TOML: {exc}") from None
    unknown = sorted(set(data) - {"pair", "refused"})
    if unknown:
        raise DataError(path, f"unknown top-level key {unknown[0]!r}; expected [[pair]] and [[refused]] entries")
    pairs = [Pairing(**_entry(path, "pair", n, e, PAIR_FIELDS, {"min_mteb_version"})) for n, e in
             enumerate(data.get("pair", []), start=1)]  # fmt: skip
    refused = [Refusal(**_entry(path, "refused", n, e, REFUSED_FIELDS, set())) for n, e in
               enumerate(data.get("refused", []), start=1)]  # fmt: skip
    seen: dict[tuple[str, str, str], int] = {}
    ours: dict[tuple[str, str], int] = {}
    for number, pair in enumerate(pairs, start=1):
        key = (pair.mteb_task, pair.mteb_split, pair.hf_subset)
        if key in seen:
            raise DataError(path, f"[[pair]] {number}: {'/'.join(key)} is already paired by [[pair]] {seen[key]}")
        if (pair.task, pair.split) in ours:
            where = f"{pair.task}@{pair.split}"
            raise DataError(
                path, f"[[pair]] {number}: {where} is already paired by [[pair]] {ours[pair.task, pair.split]}"
            )
        if pair.min_mteb_version is not None:
            _version(path, f"[[pair]] {number}: field 'min_mteb_version'", pair.min_mteb_version)
        seen[key], ours[pair.task, pair.split] = number, number
    return TaskMapping(tuple(pairs), tuple(refused))


def _entry(path: Path, kind: str, number: int, entry: Any, required: set[str], optional: set[str]) -> dict[str, str]:
    where = f"[[{kind}]] {number}"
    if not isinstance(entry, dict):
        raise DataError(path, f"{where}: expected a table")
    for name in sorted(required - set(entry)):
        raise DataError(path, f"{where}: missing field {name!r}")
    for name in sorted(set(entry) - required - optional):
        raise DataError(path, f"{where}: unknown field {name!r}")
    for name, value in entry.items():
        if not isinstance(value, str) or not value.strip():
            raise DataError(path, f"{where}: field {name!r} must be a non-empty string")
    return dict(entry)


def _version(source: Path | str, where: str, text: str) -> Version:
    """An mteb version; a range ``A-B`` counts as its first version (mteb's ``_parse_mteb_version_min``)."""
    for candidate in (text, text.split("-", 1)[0]):
        try:
            return Version(candidate)
        except InvalidVersion:
            continue
    raise DataError(source, f"{where} is {text!r}, not a version")


@dataclass(frozen=True)
class TaskResult:
    """One published file, normalised: ``scores[split][hf_subset]`` is that subset's flat metric mapping."""

    path: Path
    task_name: str
    mteb_version: str | None
    dataset_revision: str | None
    scores: dict[str, dict[str, dict[str, Any]]]
    before_1_11: bool

    def value(self, split: str, hf_subset: str, metric: str) -> float:
        """The main score of ``split``/``hf_subset``, which must be ``metric``; a missing or odd one is a DataError."""
        if split not in self.scores:
            raise DataError(self.path, f"no scores for split {split!r} (field 'scores.{split}')")
        subsets = self.scores[split]
        if hf_subset not in subsets:
            found = ", ".join(sorted(subsets)) or "none"
            raise DataError(self.path, f"split {split!r} has no hf_subset {hf_subset!r} (found: {found})")
        scores = subsets[hf_subset]
        where = f"scores.{split}[hf_subset={hf_subset}]"
        named: Any = scores.get(metric)
        main: Any
        if "main_score" not in scores:
            if not self.before_1_11:
                raise DataError(self.path, f"missing field 'main_score' in {where}")
            main, field_name = named, metric  # mteb < 1.11 often wrote none: the task's main metric is it
        else:
            main, field_name = scores["main_score"], "main_score"
        if not _finite(main):
            shown = "missing" if main is None else f"{main!r}, not a finite number"
            raise DataError(self.path, f"field '{field_name}' in {where} is {shown}")
        if named is not None and (not _finite(named) or abs(float(named) - float(main)) > 1e-9):
            raise DataError(
                self.path, f"{where}: main_score {main} is not {metric} ({named}), the metric the pairing is for"
            )
        return float(main)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def read_task_result(path: Path) -> TaskResult:
    """One mteb TaskResult file of either schema generation (see the module docstring)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(path, f"cannot read it: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not valid UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DataError(path, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(path, "expected a JSON object (an mteb TaskResult)")
    version = data.get("mteb_version")
    if version is not None and not isinstance(version, str):
        raise DataError(path, "field 'mteb_version' must be a string")
    old = version is None or _version(path, "field 'mteb_version'", version) < Version("1.11.0")
    if "scores" in data or not old:
        return _read_current(path, data, version)
    return _read_before_1_11(path, data, version)


def _text_field(path: Path, data: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise DataError(path, f"missing field {name!r}" if value is None else f"field {name!r} must be a string")
    return value


def _read_current(path: Path, data: dict[str, Any], version: str | None) -> TaskResult:
    task_name = _text_field(path, data, "task_name")
    scores = data.get("scores")
    if not isinstance(scores, dict):
        raise DataError(path, "missing field 'scores'" if scores is None else "field 'scores' must be an object")
    normalised: dict[str, dict[str, dict[str, Any]]] = {}
    for split, entries in scores.items():
        if not isinstance(entries, list):
            raise DataError(path, f"field 'scores.{split}' must be a list of per-hf_subset scores")
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("hf_subset"), str):
                raise DataError(path, f"field 'scores.{split}[{index}].hf_subset' is missing or not a string")
            normalised.setdefault(split, {})[entry["hf_subset"]] = entry
    revision = _text_field(path, data, "dataset_revision", required=False)
    return TaskResult(path, str(task_name), version, revision, normalised, before_1_11=False)


def _read_before_1_11(path: Path, data: dict[str, Any], version: str | None) -> TaskResult:
    task_name = _text_field(path, data, "mteb_dataset_name")
    revision = _text_field(path, data, "dataset_revision", required=False)
    splits = {k: v for k, v in data.items() if k not in ("mteb_dataset_name", "mteb_version", "dataset_revision")}
    normalised: dict[str, dict[str, dict[str, Any]]] = {}
    for split, scores in splits.items():
        if not isinstance(scores, dict):
            raise DataError(path, f"field {split!r} must be an object of scores")
        # Scores per hf_subset when any value (other than a similarity group) is an object, as mteb decides.
        by_subset = any(isinstance(v, dict) and k not in SIMILARITIES and k != "v_measures" for k, v in scores.items())
        subsets = {k: v for k, v in scores.items() if isinstance(v, dict)} if by_subset else {"default": scores}
        for subset, values in subsets.items():
            normalised.setdefault(split, {})[subset] = _flatten_similarities(values)
    return TaskResult(path, str(task_name), version, revision, normalised, before_1_11=True)


def _flatten_similarities(scores: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in scores.items():
        if key in SIMILARITIES and isinstance(value, dict):
            flat.update({f"{SIMILARITIES[key]}_{name}": v for name, v in value.items()})
        else:
            flat[key] = value
    return flat


@dataclass(frozen=True)
class ModelRevision:
    """One ``<org>__<model>/<revision>/`` folder: the model's name and revision, from model_meta.json if there."""

    folder: Path
    model: str
    revision: str
    meta: dict[str, Any] | None

    @property
    def folder_name(self) -> str:
        return self.folder.parent.name


def model_revisions(source: Path) -> list[ModelRevision]:
    """Every revision folder under ``source`` (the repository root, ``results/``, a model or a revision folder)."""
    source = Path(source)
    if not source.is_dir():
        raise DataError(source, "no such folder (expected MTEB results: results/<org>__<model>/<revision>/<Task>.json)")
    if (source / "results").is_dir():
        source = source / "results"
    if _holds_json(source):
        folders = [source]
    elif any(_holds_json(child) for child in _subfolders(source)):
        folders = [child for child in _subfolders(source) if _holds_json(child)]
    else:
        folders = [rev for model in _subfolders(source) for rev in _subfolders(model) if _holds_json(rev)]
    if not folders:
        raise DataError(source, "no MTEB results found (expected results/<org>__<model>/<revision>/<Task>.json)")
    return [_model_revision(folder) for folder in folders]


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _holds_json(folder: Path) -> bool:
    return any(p.suffix == ".json" for p in folder.iterdir() if p.is_file())


def _model_revision(folder: Path) -> ModelRevision:
    meta_path = folder / MODEL_META
    meta: dict[str, Any] | None = None
    if meta_path.is_file():
        try:
            loaded = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(meta_path, f"unreadable model_meta.json: {type(exc).__name__}: {exc}") from None
        if not isinstance(loaded, dict):
            raise DataError(meta_path, "expected a JSON object")
        meta = loaded
    name = meta.get("name") if meta else None
    revision = meta.get("revision") if meta else None
    model = name if isinstance(name, str) and name else folder.parent.name.replace("__", "/", 1)
    return ModelRevision(folder, model, revision if isinstance(revision, str) and revision else folder.name, meta)


@dataclass(frozen=True)
class PublishedScore:
    """One published number paired with one of our tasks, and where it came from."""

    model: str
    revision: str
    mteb_version: str | None
    mteb_task: str
    mteb_split: str
    hf_subset: str
    task: str
    split: str
    metric: str
    value: float
    file: Path
    dataset_revision: str | None

    @property
    def ref(self) -> str:
        return f"{self.task}@{self.split}"

    def to_json(self, relative_to: Path | None = None) -> dict[str, Any]:
        data = asdict(self)
        file = self.file
        if relative_to is not None:
            try:
                file = self.file.relative_to(relative_to)
            except ValueError:
                pass
        data["file"] = file.as_posix()
        return data


@dataclass(frozen=True)
class NotPaired:
    """A published score of a paired task that is not used, and why (an mteb release with another protocol)."""

    model: str
    revision: str
    mteb_task: str
    mteb_split: str
    file: Path
    reason: str


@dataclass
class PublishedSet:
    """What a source gave: the paired scores, those not used and why, and the revision folders read."""

    source: Path
    scores: list[PublishedScore] = field(default_factory=list)
    not_paired: list[NotPaired] = field(default_factory=list)
    revisions: list[ModelRevision] = field(default_factory=list)

    def for_model(self, name: str) -> PublishedSet:
        """The part of the set for one model: its name (``org/model``), folder name (``org__model``) or last part."""
        wanted = [r for r in self.revisions if name in (r.model, r.folder_name, r.model.rsplit("/", 1)[-1])]
        folders = {r.folder for r in wanted}
        return PublishedSet(
            self.source,
            [s for s in self.scores if s.file.parent in folders],
            [n for n in self.not_paired if n.file.parent in folders],
            wanted,
        )


def read_published(source: Path, mapping: TaskMapping | None = None) -> PublishedSet:
    """Every paired score under ``source``, reading only the files of paired MTEB tasks."""
    mapping = mapping or load_mapping()
    published = PublishedSet(Path(source))
    by_task: dict[str, list[Pairing]] = {}
    for pair in mapping.pairs:
        by_task.setdefault(pair.mteb_task, []).append(pair)
    for revision in model_revisions(source):
        published.revisions.append(revision)
        for mteb_task, pairs in sorted(by_task.items()):
            path = revision.folder / f"{mteb_task}.json"
            if not path.is_file():
                continue
            result = read_task_result(path)
            if result.task_name != mteb_task:
                raise DataError(path, f"field 'task_name' is {result.task_name!r}; the file name says {mteb_task!r}")
            for pair in pairs:
                if pair.mteb_split not in result.scores:
                    continue  # that split was not evaluated
                reason = _protocol_difference(path, result, pair)
                if reason:
                    published.not_paired.append(
                        NotPaired(revision.model, revision.revision, mteb_task, pair.mteb_split, path, reason)
                    )
                    continue
                value = result.value(pair.mteb_split, pair.hf_subset, pair.mteb_metric)
                published.scores.append(
                    PublishedScore(
                        revision.model,
                        revision.revision,
                        result.mteb_version,
                        mteb_task,
                        pair.mteb_split,
                        pair.hf_subset,
                        pair.task,
                        pair.split,
                        pair.metric,
                        value,
                        path,
                        result.dataset_revision,
                    )  # fmt: skip
                )
    return published


def _protocol_difference(path: Path, result: TaskResult, pair: Pairing) -> str:
    if pair.min_mteb_version is None:
        return ""
    if result.mteb_version is None:
        return f"no mteb_version recorded; the pairing needs mteb >= {pair.min_mteb_version}"
    if _version(path, "field 'mteb_version'", result.mteb_version) < Version(pair.min_mteb_version):
        return (f"written by mteb {result.mteb_version}, whose protocol for {pair.mteb_task} is not ours "
                f"(the pairing needs mteb >= {pair.min_mteb_version})")  # fmt: skip
    return ""


def read_sources(sources: Iterable[Path], mapping: TaskMapping | None = None) -> list[PublishedSet]:
    mapping = mapping or load_mapping()
    return [read_published(source, mapping) for source in sources]
