"""``mteb:<Task>``: any MTEB 2.x task, evaluated by MTEB's own code, recorded as a harness result.

``harness run --tasks mteb:STSBenchmark`` builds a harness task whose
``evaluate`` wraps the ``encode`` function the runner hands it as an MTEB model
(:class:`harness.plugins.mteb.model.EncodeFnModel`) and calls ``mteb.evaluate``
on that one split: MTEB loads its data, runs its evaluator and computes its
metrics, so the number is MTEB's, while encoding goes through the harness
(deduplication, validation, timings) and the result lands in a harness result file.

Tasks come from MTEB's registry (``mteb.get_task``) or, for a task of one's own,
from an import path, ``mteb:package.module:ClassName`` (an ``AbsTask`` subclass
or instance): ``mteb.evaluate`` takes task objects, which is MTEB 2.x's way to
run a task it does not list.  Nothing is written to MTEB's result cache
(``cache=None``) and no prediction files are kept.

MTEB reads its datasets from the Hugging Face hub (or the local ``datasets``
cache when offline); the harness's ``--data-dir`` does not apply, so the task
declares no dataset files and records MTEB's dataset path and revision instead.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import os
import warnings
from collections.abc import Mapping
from typing import Any

from harness import DataFiles, DatasetFile, EncodeFn, Task, TaskOutput, TaskRegister, hookimpl
from harness.errors import HarnessError, UsageError, one_line
from harness.plugins.mteb.model import EncodeFnModel, require_mteb

SUPPORTED_TYPES: dict[str, str] = {
    "STS": "sts",
    "Retrieval": "retrieval",
    "Reranking": "retrieval",
    "Classification": "classification",
    "PairClassification": "classification",
}
"""MTEB task types the bridge runs, and the harness family each is filed under."""
CODE_DOMAINS = {"Programming"}


def family_for(metadata: Any) -> str:
    """The harness family of an MTEB task; retrieval over code is ``code-search``."""
    kind = str(metadata.type)
    if kind not in SUPPORTED_TYPES:
        raise UsageError(
            f"task 'mteb:{metadata.name}' is of MTEB type {kind!r}; the bridge supports {', '.join(SUPPORTED_TYPES)}"
        )
    if list(metadata.modalities) != ["text"]:
        raise UsageError(
            f"task 'mteb:{metadata.name}' uses modalities {', '.join(metadata.modalities)}; the bridge encodes text only"
        )
    family = SUPPORTED_TYPES[kind]
    if family == "retrieval" and _is_code(metadata):
        return "code-search"
    return family


def _is_code(metadata: Any) -> bool:
    domains = set(metadata.domains or [])
    languages = [lang for langs in _eval_langs(metadata) for lang in langs]
    return bool(domains & CODE_DOMAINS) or any(lang.endswith("-Code") for lang in languages)


def _eval_langs(metadata: Any) -> list[list[str]]:
    langs = metadata.eval_langs
    return list(langs.values()) if isinstance(langs, Mapping) else [list(langs)]


def load_mteb_task(argument: str) -> Any:
    """An MTEB task object: a registry name (``STSBenchmark``) or ``package.module:ClassName``."""
    mteb = require_mteb()
    if ":" in argument:
        return _import_task(argument)
    try:
        return mteb.get_task(argument)
    except KeyError as exc:
        hint = str(exc.args[0] if exc.args else exc).removeprefix("KeyError: ")
        raise UsageError(f"unknown MTEB task 'mteb:{argument}': {hint}") from None
    except Exception as exc:
        raise HarnessError(
            f"MTEB could not build task 'mteb:{argument}': {type(exc).__name__}: {one_line(exc)}"
        ) from None


def _import_task(argument: str) -> Any:
    from mteb import AbsTask

    module_name, _, attribute = argument.partition(":")
    where = f"task 'mteb:{argument}'"
    if not module_name or not attribute:
        raise UsageError(f"{where}: a custom MTEB task is named as package.module:ClassName")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module failing as it runs
        raise UsageError(f"{where}: cannot import {module_name!r}: {type(exc).__name__}: {one_line(exc)}") from None
    target = getattr(module, attribute, None)
    if target is None:
        raise UsageError(f"{where}: module {module_name!r} has no {attribute!r}")
    if isinstance(target, AbsTask):
        return target
    if not (isinstance(target, type) and issubclass(target, AbsTask)):
        raise UsageError(f"{where}: {attribute!r} is not an mteb AbsTask subclass")
    try:
        return target()
    except Exception as exc:
        raise HarnessError(f"{where}: building {attribute} failed: {type(exc).__name__}: {one_line(exc)}") from None


class MtebTask(Task):
    """One MTEB task; each harness split is one of its ``eval_splits``."""

    def __init__(self, argument: str, mteb_task: Any) -> None:
        metadata = mteb_task.metadata
        self.mteb_task = mteb_task
        self.name = f"mteb:{argument}"
        self.family = family_for(metadata)  # type: ignore[assignment]
        self.main_metric = str(metadata.main_score)
        self.splits = tuple(metadata.eval_splits)
        if not self.splits:
            raise HarnessError(f"task {self.name!r}: MTEB metadata lists no eval_splits")
        self.default_split = "test" if "test" in self.splits else self.splits[0]
        self.description = (
            f"MTEB {metadata.type} task {metadata.name} ({metadata.dataset.get('path', '?')}), evaluated by mteb"
        )

    def dataset_files(self, split: str) -> list[DatasetFile]:
        return []  # MTEB loads its own data: dataset_identity says which

    def dataset_identity(self, split: str) -> dict[str, str]:
        """MTEB's dataset path and revision, and mteb's version: a change in any of them reruns the task."""
        metadata = self.mteb_task.metadata
        return {
            "mteb_task": str(metadata.name),
            "path": str(metadata.dataset.get("path", "")),
            "revision": str(metadata.dataset.get("revision", "")),
            "mteb": str(require_mteb().__version__),
        }

    def evaluate(self, encode: EncodeFn, files: DataFiles, split: str) -> TaskOutput:
        mteb = require_mteb()
        task = self.mteb_task
        task.filter_eval_splits([split])
        model = EncodeFnModel.from_encode(encode)
        with _quiet_mteb():
            return self._evaluate(mteb, task, model, split)

    def _evaluate(self, mteb: Any, task: Any, model: EncodeFnModel, split: str) -> TaskOutput:
        self._load(task)
        try:
            n_examples = count_examples(task, split)
            result = mteb.evaluate(
                model,
                task,
                cache=None,
                co2_tracker=False,
                raise_error=True,
                overwrite_strategy="always",
                show_progress_bar=False,
                encode_kwargs={"batch_size": 32, "show_progress_bar": False},
            )
        except HarnessError:
            raise
        except Exception as exc:
            raise HarnessError(f"task {self.name!r}: mteb failed: {type(exc).__name__}: {one_line(exc)}") from None
        finally:
            task.unload_data()
        if result.exceptions:
            raise HarnessError(
                f"task {self.name!r}: mteb failed: {one_line(Exception(result.exceptions[0].exception))}"
            )
        return task_output(self.name, task, result.task_results[0], split, n_examples, str(mteb.__version__))

    def _load(self, task: Any) -> None:
        try:
            task.load_data()
        except HarnessError:
            raise
        except Exception as exc:
            dataset = task.metadata.dataset.get("path", "?")
            raise HarnessError(
                f"task {self.name!r}: MTEB could not load dataset {dataset!r} "
                f"(offline and not in the Hugging Face cache?): {type(exc).__name__}: {one_line(exc)}"
            ) from None


@contextlib.contextmanager
def _quiet_mteb() -> Any:
    """MTEB logs notices (superseded datasets, missing prompts) as warnings; a harness run shows its own lines only."""
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    logger = logging.getLogger("mteb")
    level = logger.level
    bars_were_off = are_progress_bars_disabled()
    if os.environ.get("TQDM_DISABLE"):  # the CLI's --no-progress (or a pipe): datasets' own bars too
        disable_progress_bars()
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
        if not bars_were_off:
            enable_progress_bars()


def count_examples(task: Any, split: str) -> int:
    """Test examples as the harness counts them: pairs (STS), judged queries (retrieval), rows otherwise."""
    total = 0
    dataset = task.dataset or {}
    for subset in task.hf_subsets or ["default"]:
        data = dataset[subset][split] if subset in dataset else dataset.get(split)
        if data is None:
            continue
        if isinstance(data, Mapping) and "relevant_docs" in data:
            total += len(data["relevant_docs"])
        elif isinstance(data, Mapping) and "queries" in data:
            total += len(data["queries"])
        else:
            total += len(data)
    return total


def flat_numbers(scores: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """MTEB's scores as ``{name: float}``: nested mappings joined with ``.``; lists, text and flags left out."""
    out: dict[str, float] = {}
    for key, value in scores.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_numbers(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
    return out


NOT_METRICS = {"main_score", "evaluation_time"}


def task_output(name: str, task: Any, result: Any, split: str, n_examples: int, version: str) -> TaskOutput:
    """A harness TaskOutput from MTEB's ``TaskResult`` for one split.

    One subset: its metrics as they are.  Several (multilingual tasks): per-subset
    metrics go to details and ``metrics`` holds each metric's mean over subsets,
    which for the main metric is MTEB's own aggregate (``TaskResult.get_score``).
    Non-finite values (a degenerate metric) are dropped and named in details.
    """
    metadata = task.metadata
    entries = result.scores.get(split, [])
    if not entries:
        raise HarnessError(f"task {name!r}: mteb returned no scores for split {split!r}")
    per_subset = {
        entry["hf_subset"]: {k: v for k, v in flat_numbers(entry).items() if k not in NOT_METRICS} for entry in entries
    }
    shared = set.intersection(*(set(m) for m in per_subset.values()))
    metrics = {k: sum(m[k] for m in per_subset.values()) / len(per_subset) for k in sorted(shared)}
    dropped = sorted(k for k, v in metrics.items() if not math.isfinite(v))
    metrics = {k: v for k, v in metrics.items() if math.isfinite(v)}
    main_score = float(result.get_score(splits=[split]))
    main_metric = str(metadata.main_score)
    if main_metric in metrics:
        metrics[main_metric] = main_score
    details: dict[str, Any] = {
        "mteb_version": version,
        "mteb_task": metadata.name,
        "mteb_type": str(metadata.type),
        "dataset": {"path": metadata.dataset.get("path"), "revision": metadata.dataset.get("revision")},
        "hf_subsets": list(per_subset),
    }
    if len(per_subset) > 1:
        details["per_subset"] = per_subset
    if dropped:
        details["non_finite_metrics_dropped"] = dropped
    if getattr(metadata, "superseded_by", None):
        details["superseded_by"] = metadata.superseded_by
    return TaskOutput(metrics=metrics, main_score=main_score, n_examples=n_examples, details=details)


def mteb_task(argument: str | None) -> MtebTask:
    if not argument:
        raise UsageError("task family 'mteb:' needs an MTEB task name, e.g. mteb:STSBenchmark")
    return MtebTask(argument, load_mteb_task(argument))


@hookimpl
def harness_register_tasks(register: TaskRegister) -> None:
    register(
        "mteb:",
        mteb_task,
        "any MTEB 2.x text task (STS, retrieval, reranking, classification), run by mteb: "
        "mteb:STSBenchmark or mteb:package.module:ClassName (needs cpt-harness[mteb])",
    )
