"""Running one encoder over a list of tasks and writing a result file per task.

The runner knows no concrete encoder or task: it builds them through the
catalogue, hands each task an :class:`EncodingSession`, and writes what the task
returns.  A pair (encoder, task@split) whose result file already exists for the
same encoder fingerprint (and the same dataset, where the task pins it) is
skipped, so a run that was interrupted resumes where it stopped.  "The same dataset" is
decided by content: every file the task reads has the sha256 it had (its pin,
or its bytes hashed now, through a cache keyed by path, size and mtime), under
the same name relative to its dataset root; an edited file is rerun.  Vectors go
through the embedding cache (:mod:`harness.running.embedding_cache`), so a task rerun with
``--force``, or another task with the same texts, does not embed them again.

Under torchrun every rank runs this same loop over the same tasks
(:mod:`harness.running.world`): each builds the encoder on its own device and
encodes its shard of each task's texts; rank 0 decides what is already done
(the others follow its answer), and only rank 0 writes result files and the
leaderboard.  A task that fails on any rank fails on all, with one message.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from harness import __version__
from harness.catalog import Catalog, TaskRef
from harness.data.locate import DataLocator, identity_names
from harness.encoder import Capability, Encoder
from harness.environment import device_description, software_versions
from harness.errors import EncoderRaised, HarnessError, one_line
from harness.prompts import TaskContext
from harness.results.files import (
    SCHEMA_VERSION,
    canonical_sha256,
    now_iso,
    read_result,
    remove_stale_temporaries,
    result_path,
    write_json_atomic,
    write_leaderboard,
)
from harness.running.embedding_cache import EmbeddingCache
from harness.running.session import EncodingSession
from harness.running.world import World, current_world
from harness.task import PerExample, Task, TaskOutput


@dataclass(frozen=True)
class RunOptions:
    out_dir: Path = Path("results")
    force: bool = False
    encoder_options: Mapping[str, Any] = field(default_factory=dict)
    """The encoder's options by name (``device``, ``batch_size``, ``precision``, ...), validated against the schema
    it declares (:mod:`harness.options`): the same path ``harness run -o`` and its flags take."""
    download: bool | None = None
    """Fetch registry datasets a task needs and the harness cannot find (``None``: ``$HARNESS_DOWNLOAD``)."""
    data_dir: str | Path | None = None
    progress: bool | None = None
    """True/False forces progress bars on/off; None shows them on a terminal only."""
    label: str | None = None
    """Record results under this name instead of the one derived from the encoder and its options."""
    per_example: bool = True
    """Store per-example scores (for ``harness compare``'s confidence intervals); off keeps files small."""
    cache: bool = True
    """Reuse vectors embedded before for the same encoder fingerprint, and keep new ones (:mod:`harness.running.embedding_cache`)."""
    cache_dir: Path | None = None
    """The embedding cache's folder (default ``$HARNESS_CACHE_DIR`` or ``$HARNESS_HOME/cache/embeddings``)."""


@dataclass
class TaskOutcome:
    ref: str
    status: str  # "done", "skipped" (done before), "not-applicable" (encoder cannot serve the task) or "failed"
    path: Path | None = None
    main_score: float | None = None
    main_metric: str = ""
    error: str | None = None
    seconds: float = 0.0
    traceback: str | None = None
    """For a plugin's exception: its traceback, which ``harness run`` prints under ``HARNESS_DEBUG=1``."""


@dataclass
class RunReport:
    encoder: str
    outcomes: list[TaskOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def not_applicable(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.status == "not-applicable"]


def run(
    catalog: Catalog,
    encoder_name: str,
    refs: list[TaskRef],
    options: RunOptions,
    on_outcome: Callable[[TaskOutcome], None] | None = None,
) -> RunReport:
    """Evaluate ``encoder_name`` on every task of ``refs``; return what happened to each.

    Results are filed under ``options.label``, else under :meth:`Catalog.result_label` (the encoder's name plus
    what its label-marked options add), the one rule for every front end.
    """
    label = options.label or catalog.result_label(encoder_name, options.encoder_options)  # bad options fail here
    tasks = [(ref, catalog.build_task(ref)) for ref in refs]  # unknown names fail before any model loads
    plugins = {ref.name: catalog.task_registration(ref.name).plugin for ref in refs}
    encoder_plugin = catalog.encoder_registration(encoder_name).plugin
    locator = DataLocator.from_settings(options.data_dir, catalog.datasets, options.download)
    world = current_world()
    encoder = catalog.build_encoder(encoder_name, options.encoder_options)
    encoder.name = label
    encoder_block = _encoder_block(encoder)
    embeds = Capability.VECTORS in EncodingSession(encoder).capabilities
    cache = EmbeddingCache(options.cache_dir) if options.cache and embeds else None
    if world.is_main:
        remove_stale_temporaries(options.out_dir)
    report = RunReport(encoder=encoder_name)
    quiet = not world.is_main or (options.progress is False)
    bar = tqdm(tasks, desc="tasks", unit="task", disable=True if quiet else None if options.progress is None else False)
    for ref, task in bar:
        bar.set_postfix_str(str(ref))
        split = ref.split or task.default_split
        blame = Blame(encoder_plugin, plugins[ref.name])
        outcome = _run_one(task, split, encoder, encoder_block, locator, options, cache, blame, world)
        report.outcomes.append(outcome)
        if outcome.status == "done" and world.is_main:
            write_leaderboard(options.out_dir)
        if on_outcome is not None:
            on_outcome(outcome)
    return report


def _run_one(
    task: Task,
    split: str,
    encoder: Encoder,
    encoder_block: dict[str, Any],
    locator: DataLocator,
    options: RunOptions,
    cache: EmbeddingCache | None,
    blame: Blame,
    world: World,
) -> TaskOutcome:
    ref = f"{task.name}@{split}"
    path = result_path(options.out_dir, encoder.name, task.name, split)
    try:
        declared = locator.pinned(task.dataset_files(split))  # sha256 from the dataset registry
        identity = task.dataset_identity(split)
    except HarnessError as exc:  # e.g. a bad setting the task reads from the environment
        return TaskOutcome(ref, "failed", error=str(exc))
    names = identity_names([f.path for f in declared])
    done = None
    if world.is_main and not options.force:
        done = _done_before(path, encoder_block, locator, declared, names, identity)
    done = world.broadcast(done)  # rank 0's answer for every rank: the ranks must run the same tasks
    if done is not None:
        return TaskOutcome(ref, "skipped", path, done, task.main_metric)
    if not task.uses & EncodingSession(encoder).capabilities:
        return TaskOutcome(ref, "not-applicable", error=_capability_mismatch(task, encoder))
    started = time.perf_counter()
    record: dict[str, Any] = {}
    error: Exception | None = None
    try:
        files = locator.resolve(declared)
        session = EncodingSession(
            encoder,
            progress=options.progress,
            cache=cache,
            fingerprint_sha256=_cache_namespace(encoder_block),
            world=world,
            task=TaskContext(task.name, task.family),
        )
        output = task.evaluate(session, files, split)
        session.settle()
        total = time.perf_counter() - started
        file_hashes = {names[p]: sha for p, sha in files.sha256().items()}
        checked = _checked_output(task, output, blame.task)
        record = _record(task, split, encoder_block, checked, file_hashes, session, total, options)
    except Exception as exc:  # every rank hears of it: the task fails on all of them, with one message
        error = exc
    try:
        world.agree(error)
    except EncoderRaised as exc:  # the encoder plugin's own exception, inside encode or rank
        return TaskOutcome(
            ref,
            "failed",
            error=f"plugin {blame.encoder!r}: {exc}",
            seconds=time.perf_counter() - started,
            traceback=_traceback(exc.__cause__ or exc),
        )
    except HarnessError as exc:
        return TaskOutcome(ref, "failed", error=str(exc), seconds=time.perf_counter() - started)
    except Exception as exc:  # a bug in the task's plugin: one line naming it, the run goes on
        return TaskOutcome(
            ref,
            "failed",
            error=f"plugin {blame.task!r}: task {task.name!r} raised {type(exc).__name__}: {one_line(exc)}",
            seconds=time.perf_counter() - started,
            traceback=_traceback(exc),
        )
    if world.is_main:
        write_json_atomic(path, record)
    return TaskOutcome(
        ref, "done", path, record["main_score"], task.main_metric, seconds=record["timings"]["total_seconds"]
    )


def _done_before(
    path: Path,
    encoder_block: dict[str, Any],
    locator: DataLocator,
    declared: list[Any],
    names: dict[str, str],
    identity: dict[str, str],
) -> float | None:
    """The main score of a finished result of the same work at ``path``, or None (run the task)."""
    existing = read_result(path)
    if existing is None:
        return None
    current = locator.current_sha256(declared)
    data_now = None if current is None else {names[p]: sha for p, sha in current.items()}
    return float(existing["main_score"]) if _is_same_work(existing, encoder_block, data_now, identity) else None


@dataclass(frozen=True)
class Blame:
    """The plugins behind a task's run, named when their code raises or answers wrongly."""

    encoder: str
    task: str


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip()


def _cache_namespace(encoder_block: dict[str, Any]) -> str:
    """What cached vectors are keyed by: the encoder's fingerprint, and the harness and library versions.

    The versions are there because a fingerprint names the model, not the code
    around it: after an upgrade (a tokenizer fix, a new pooling default), vectors
    are computed afresh rather than trusted from before.
    """
    return canonical_sha256(
        {"fingerprint": encoder_block["fingerprint_sha256"], "harness": __version__, "software": software_versions()}
    )


def _capability_mismatch(task: Task, encoder: Encoder) -> str:
    has = ", ".join(sorted(EncodingSession(encoder).capabilities))
    needs = " or ".join(sorted(task.uses))
    return f"{task.name} needs {needs}; encoder {encoder.name!r} offers {has}"


def _is_same_work(
    existing: dict[str, Any], encoder_block: dict[str, Any], data_now: dict[str, str] | None, identity: dict[str, str]
) -> bool:
    """Whether ``existing`` was made by this encoder on these bytes (``data_now``: name -> sha256; None: unknown)."""
    try:
        if existing["encoder"]["fingerprint_sha256"] != encoder_block["fingerprint_sha256"]:
            return False
        recorded = existing["task"]["dataset"]["files"]
        if existing["task"]["dataset"].get("identity", {}) != identity:
            return False
    except (KeyError, TypeError, AttributeError):
        return False
    return data_now is not None and recorded == data_now


def _encoder_block(encoder: Encoder) -> dict[str, Any]:
    try:
        fingerprint = encoder.fingerprint()
        metadata = encoder.metadata()
        dim = None if encoder.dim is None else int(encoder.dim)
        fingerprint_sha = canonical_sha256(fingerprint)
    except Exception as exc:
        raise HarnessError(
            f"encoder {encoder.name!r} failed to describe itself: {type(exc).__name__}: {one_line(exc)}"
        ) from exc
    return {
        "name": encoder.name,
        "dim": dim,
        "fingerprint": fingerprint,
        "fingerprint_sha256": fingerprint_sha,
        "metadata": metadata,
        "options": encoder.options.to_record(),
    }


def _checked_output(task: Task, output: TaskOutput, plugin: str) -> TaskOutput:
    """``output`` with plain floats, or a :class:`HarnessError` naming the task's plugin and what is wrong."""
    if not isinstance(output, TaskOutput):
        raise HarnessError(f"plugin {plugin!r}: task {task.name!r} returned {type(output).__name__}, not a TaskOutput")
    if task.main_metric not in output.metrics:
        found = ", ".join(sorted(output.metrics)[:8]) or "none"
        raise HarnessError(
            f"plugin {plugin!r}: task {task.name!r} returned metrics without its main metric "
            f"{task.main_metric!r} (metrics: {found})"
        )
    metrics = {}
    for key, value in output.metrics.items():
        number = float(value)
        if not math.isfinite(number):
            raise HarnessError(f"task {task.name!r}: metric {key!r} is {number} (degenerate embeddings?)")
        metrics[key] = number
    main = float(output.main_score)
    if not math.isfinite(main):
        raise HarnessError(f"task {task.name!r}: main score is {main} (degenerate embeddings?)")
    per_example = output.per_example
    if per_example is not None and not isinstance(per_example, PerExample):
        raise HarnessError(f"task {task.name!r}: per_example is {type(per_example).__name__}, not a PerExample")
    return TaskOutput(
        metrics=metrics,
        main_score=main,
        n_examples=int(output.n_examples),
        details=output.details,
        per_example=per_example,
    )


def _record(
    task: Task,
    split: str,
    encoder_block: dict[str, Any],
    output: TaskOutput,
    file_hashes: dict[str, str],
    session: EncodingSession,
    total_seconds: float,
    options: RunOptions,
) -> dict[str, Any]:
    applied = encoder_block["options"]
    return {
        "schema_version": SCHEMA_VERSION,
        "harness_version": __version__,
        "encoder": encoder_block,
        "task": {
            "name": task.name,
            "family": task.family,
            "split": split,
            "default_split": task.default_split,
            "main_metric": task.main_metric,
            "description": task.description,
            "dataset": {
                "files": file_hashes,
                "sha256": canonical_sha256(file_hashes),
                **({"identity": identity} if (identity := task.dataset_identity(split)) else {}),
            },
        },
        "main_score": output.main_score,
        "metrics": output.metrics,
        "n_examples": output.n_examples,
        "details": output.details,
        # Only the prompts applied, by text kind: none (no key) for an encoder without prompts.
        **(
            {"prompts": {kind: p.to_record() for kind, p in sorted(session.prompts_applied.items())}}
            if session.prompts_applied
            else {}
        ),
        **({"per_example": output.per_example.to_json()} if output.per_example and options.per_example else {}),
        "timings": {
            "encode_seconds": round(session.seconds, 4),
            "evaluate_seconds": round(max(total_seconds - session.seconds, 0.0), 4),
            "total_seconds": round(total_seconds, 4),
            "texts_requested": session.texts_requested,
            "texts_encoded": session.texts_encoded,
            "texts_from_cache": session.texts_from_cache,
        },
        "environment": {
            "software": software_versions(),
            "device": device_description(str(applied.get("device", "cpu"))),
            **({"batch_size": applied["batch_size"]} if "batch_size" in applied else {}),
            **({"batch_tokens": applied["batch_tokens"]} if "batch_tokens" in applied else {}),
        },
        "date": now_iso(),
    }
