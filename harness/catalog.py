"""The catalogue of encoders, tasks, suites and datasets that plugins registered.

Plugins register factories under names.  A name ending in ``:`` is a *family*:
``sbert:`` answers to ``sbert:/path/to/model`` and hands the text after the colon
to its factory.  Tasks may be asked for with a split, ``sickr@full``.  An unknown
name is answered with the known names closest to it.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from harness.data.registry import Dataset, DatasetRegistry, load_registry_file
from harness.encoder import Encoder, EncoderSettings
from harness.errors import HarnessError, PluginError, UsageError, one_line
from harness.options import EncoderOptions, resolve_options
from harness.prompts import PromptOptions, check_names
from harness.task import FAMILIES, Task

EncoderFactory = Callable[[EncoderSettings], Encoder]
TaskFactory = Callable[..., Task]
"""``factory() -> Task`` for a plain name; ``factory(argument: str) -> Task`` for a family (``beir:``)."""


@dataclass(frozen=True)
class Registration:
    """One registered name: what builds it, and which plugin said so."""

    name: str
    factory: Callable[..., Any]
    description: str
    plugin: str
    options: type[EncoderOptions] = EncoderOptions
    """For an encoder: the schema of the options it reads (:mod:`harness.options`)."""

    @property
    def is_family(self) -> bool:
        return self.name.endswith(":")


@dataclass(frozen=True)
class Suite:
    name: str
    tasks: tuple[str, ...]
    description: str
    plugin: str
    average: bool = False
    """The leaderboard shows the mean of the suite's tasks as a column of their family's table (``NAME avg``)."""


@dataclass(frozen=True)
class TaskRef:
    """A task as a user names it: ``name``, ``family:argument`` and an optional ``@split``."""

    name: str
    split: str | None = None

    @classmethod
    def parse(cls, text: str) -> TaskRef:
        text = text.strip()
        # A split is the part after the last '@', unless that '@' is inside a family
        # argument that is a path (paths may contain '@' but rarely end with '@word').
        name, sep, split = text.rpartition("@")
        if sep and name and split and "/" not in split:
            return cls(name, split)
        return cls(text, None)

    def __str__(self) -> str:
        return f"{self.name}@{self.split}" if self.split else self.name


@dataclass
class Catalog:
    """Everything registered, plus the problems met while registering."""

    encoders: dict[str, Registration] = field(default_factory=dict)
    tasks: dict[str, Registration] = field(default_factory=dict)
    suites: dict[str, Suite] = field(default_factory=dict)
    datasets: DatasetRegistry = field(default_factory=DatasetRegistry)
    problems: list[str] = field(default_factory=list)

    # -- lookups -----------------------------------------------------------------
    def build_encoder(self, name: str, options: Mapping[str, Any] | None = None) -> Encoder:
        """Build encoder ``name`` with ``options`` (``{name: value}``) validated against its declared schema."""
        registration, argument = _lookup(self.encoders, name, "encoder")
        resolved = resolve_options(registration.options, options or {}, name)
        if isinstance(resolved, PromptOptions) and resolved.prompts:
            # Before the model loads: a name that no task, family or kind has would silently apply nothing.
            check_names(resolved.prompts, self.tasks, FAMILIES, name)
        encoder = _call_factory(registration, "encoder", name, EncoderSettings(resolved, argument))
        if not isinstance(encoder, Encoder):
            raise HarnessError(
                f"plugin {registration.plugin!r}: encoder factory for {name!r} returned "
                f"{type(encoder).__name__}, not a harness.Encoder"
            )
        encoder.name = name
        encoder.options = resolved
        return encoder

    def encoder_registration(self, name: str) -> Registration:
        """What registered encoder ``name`` (a family member answers with its family's registration)."""
        return _lookup(self.encoders, name, "encoder")[0]

    def task_registration(self, name: str) -> Registration:
        """What registered task ``name`` (a family member answers with its family's registration)."""
        return _lookup(self.tasks, name, "task")[0]

    def encoder_options(self, name: str) -> type[EncoderOptions]:
        """The option schema of encoder ``name``."""
        return self.encoder_registration(name).options

    def result_label(self, name: str, options: Mapping[str, Any] | None = None) -> str:
        """The name results are filed under: the encoder's, plus what its label-marked options add."""
        return name + resolve_options(self.encoder_options(name), options or {}, name).label_suffix()

    def build_task(self, ref: TaskRef) -> Task:
        registration, argument = _lookup(self.tasks, ref.name, "task")
        # A family's factory gets the text after the colon; a plain name's factory is called with nothing.
        task = _call_factory(registration, "task", ref.name, *(() if argument is None else (argument,)))
        if not isinstance(task, Task):
            raise HarnessError(
                f"plugin {registration.plugin!r}: task factory for {ref.name!r} returned "
                f"{type(task).__name__}, not a harness.Task"
            )
        task.name = ref.name
        if task.family not in FAMILIES:
            raise HarnessError(
                f"plugin {registration.plugin!r}: task {ref.name!r} has family {task.family!r}; "
                f"expected one of {', '.join(FAMILIES)}"
            )
        if ref.split is not None and ref.split not in task.splits:
            raise UsageError(f"task {ref.name!r} has no split {ref.split!r}; its splits: {', '.join(task.splits)}")
        return task

    def task_refs(self, tasks: Sequence[str] | None, suite: str | None) -> list[TaskRef]:
        """The task references a run asked for: a list, a suite, or the ``default`` suite."""
        if tasks and suite:
            raise UsageError("give either --tasks or --suite, not both")
        if tasks:
            return [TaskRef.parse(t) for t in tasks]
        name = suite or "default"
        if name not in self.suites:
            raise UsageError(f"unknown suite {name!r}{_suggest(name, self.suites)}")
        chosen = self.suites[name]
        problems = self.suite_problems(chosen)
        if problems:  # the plugin's mistake, not the user's: the whole suite or nothing, never a part of it
            raise PluginError(f"cannot run suite {name!r}: plugin {chosen.plugin!r} {problems[0]}")
        return [TaskRef.parse(t) for t in chosen.tasks]

    def suite_problems(self, suite: Suite) -> list[str]:
        """``registers suite 'S' naming unknown task 'T'; did you mean ...?``, for each task no plugin registered.

        Only names are checked (building every task of every suite would import the MTEB bridge and friends); a
        split the task does not have is refused when the suite runs, by :meth:`build_task`.
        """
        problems = []
        for ref in map(TaskRef.parse, suite.tasks):
            family, colon, argument = ref.name.partition(":")
            registration = self.tasks.get(ref.name)
            if registration is not None and registration.is_family:
                problem = f"task family {ref.name!r} without the text after its colon"
            elif registration is not None or (colon and argument and f"{family}:" in self.tasks):
                continue
            else:
                problem = f"unknown task {ref.name!r}{_suggest(ref.name, self.tasks)}"
            problems.append(f"registers suite {suite.name!r} naming {problem}")
        return problems

    def qualified(self, ref: TaskRef) -> str:
        """``name@split`` with the task's own default split when ``ref`` names none (``beir-msmarco@dev``)."""
        return str(ref) if ref.split else f"{ref.name}@{self.build_task(ref).default_split}"

    def leaderboard_order(self) -> list[str]:
        """Task references in the order the suites list them: leaderboard columns follow the paper's tables."""
        return [ref for suite in self.suites.values() for ref in suite.tasks]

    def leaderboard_averages(self) -> dict[str, tuple[str, ...]]:
        """``NAME avg`` -> the task references it averages, for every suite registered with ``average=True``."""
        return {f"{suite.name} avg": suite.tasks for suite in self.suites.values() if suite.average}


def _lookup(table: dict[str, Registration], name: str, what: str) -> tuple[Registration, str | None]:
    if name in table and not table[name].is_family:
        return table[name], None
    family, colon, argument = name.partition(":")
    if colon and f"{family}:" in table:
        if not argument:
            raise UsageError(f"{what} family {family + ':'!r} needs an argument after the colon")
        return table[f"{family}:"], argument
    raise UsageError(f"unknown {what} {name!r}{_suggest(name, table)}")


def _suggest(name: str, known: dict[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    if not close:
        close = [k for k in known if k.startswith(name[:3])][:3] if len(name) >= 3 else []
    if close:
        return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return f"; known: {', '.join(sorted(known)) or 'none'}"


def _call_factory(registration: Registration, what: str, name: str, *arguments: Any) -> Any:
    try:
        return registration.factory(*arguments)
    except HarnessError:
        raise
    except Exception as exc:  # a plugin's own failure, reported in one line
        raise HarnessError(
            f"plugin {registration.plugin!r} could not build {what} {name!r}: {type(exc).__name__}: {one_line(exc)}"
        ) from exc


_Item = TypeVar("_Item", bound="Registration | Suite | Command")
"""What one kind of ``register`` holds: every item has a ``name`` and the ``plugin`` that registered it."""


class _Register(Generic[_Item]):
    """The ``register`` callable handed to a hook; it knows which plugin is registering.

    Registrations are held back until the plugin's hook returns, so a hook that
    raises half-way registers nothing.
    """

    what = ""

    def __init__(self, table: dict[str, _Item], plugin: str, problems: list[str]) -> None:
        self._table: dict[str, _Item] = table
        self._plugin = plugin
        self._problems = problems
        self.pending: dict[str, _Item] = {}

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not name or name.strip() != name or " " in name:
            raise ValueError(f"{self.what} name must be a non-empty string without spaces, got {name!r}")

    def commit(self) -> None:
        for name, item in self.pending.items():
            existing = self._table.get(name)
            if existing is not None and existing.plugin != item.plugin:
                self._problems.append(
                    f"{self.what} {name!r} from plugin {item.plugin!r} ignored: already registered by {existing.plugin!r}"
                )
                continue
            self._table[name] = item


class _FactoryRegister(_Register[Registration]):
    def __call__(self, name: str, factory: Callable[..., Any], description: str = "") -> None:
        self._check_name(name)
        if not callable(factory):
            raise TypeError(f"{self.what} {name!r}: factory is not callable")
        self.pending[name] = Registration(name, factory, description, self._plugin)


class EncoderRegister(_FactoryRegister):
    """``register(name, factory, description="", options=EncoderOptions)`` with ``factory(settings) -> Encoder``.

    ``options`` is the pydantic schema of what the encoder reads (:mod:`harness.options`); the factory gets
    ``settings.options`` as a validated instance of it.
    """

    what = "encoder"

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any],
        description: str = "",
        options: type[EncoderOptions] = EncoderOptions,
    ) -> None:
        if not (isinstance(options, type) and issubclass(options, EncoderOptions)):
            raise TypeError(f"encoder {name!r}: options must be a harness.EncoderOptions subclass, got {options!r}")
        super().__call__(name, factory, description)
        self.pending[name] = dataclasses.replace(self.pending[name], options=options)


class TaskRegister(_FactoryRegister):
    """``register(name, factory, description="")``: ``factory() -> Task``; a family's ``factory(argument) -> Task``."""

    what = "task"


class SuiteRegister(_Register[Suite]):
    """``register(name, tasks, description="", average=False)``: a named list of task references.

    ``average=True`` asks the leaderboard for a column with the suite's mean (a paper table's "Avg"), shown
    for an encoder that has every task of the suite and blank for one that lacks any.
    """

    what = "suite"

    def __call__(self, name: str, tasks: Sequence[str], description: str = "", average: bool = False) -> None:
        self._check_name(name)
        if isinstance(tasks, str) or not all(isinstance(t, str) for t in tasks):
            raise TypeError(f"suite {name!r}: tasks must be a list of task names")
        if not isinstance(average, bool):
            raise TypeError(f"suite {name!r}: average must be True or False")
        self.pending[name] = Suite(name, tuple(tasks), description, self._plugin, average)


class DatasetRegister:
    """``register(path_or_dataset)``: a registry TOML file (or one :class:`Dataset`) from a plugin.

    A malformed file is a problem of that plugin (shown by ``harness plugins``), not a crash of the harness.
    """

    what = "dataset"

    def __init__(self, registry: DatasetRegistry, plugin: str, problems: list[str]) -> None:
        self._registry = registry
        self._plugin = plugin
        self._problems = problems
        self.pending: dict[str, Dataset] = {}

    def __call__(self, source: str | Path | Dataset) -> None:
        if isinstance(source, Dataset):
            datasets = [source]
        else:
            path = Path(source)
            datasets = load_registry_file(path, origin=f"{self._plugin}: {path.name}")
        for dataset in datasets:
            if dataset.name in self.pending:
                raise ValueError(f"dataset {dataset.name!r} registered twice by plugin {self._plugin!r}")
            self.pending[dataset.name] = dataset

    def commit(self) -> None:
        for dataset in self.pending.values():
            try:
                self._registry.add(dataset)
            except HarnessError as exc:
                self._problems.append(f"dataset {dataset.name!r} from plugin {self._plugin!r} ignored: {exc}")


CommandArguments = Callable[[argparse.ArgumentParser], None]
CommandHandler = Callable[[argparse.Namespace], int | None]


@dataclass(frozen=True)
class Command:
    """A ``harness NAME`` subcommand a plugin contributes."""

    name: str
    add_arguments: CommandArguments
    handler: CommandHandler
    help: str
    plugin: str


class CommandRegister(_Register[Command]):
    """``register(name, add_arguments, handler, help="")``: a subcommand of the ``harness`` command.

    ``add_arguments(parser)`` declares its options on the ``argparse`` subparser (called only when that
    subcommand is parsed or its help shown); ``handler(args) -> exit code`` runs it.  A name that a core
    command (``reserved``) or an earlier plugin already has is refused, as this plugin's problem.
    """

    what = "command"

    def __init__(
        self, table: dict[str, Command], plugin: str, problems: list[str], reserved: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(table, plugin, problems)
        self._reserved = reserved

    def __call__(self, name: str, add_arguments: CommandArguments, handler: CommandHandler, help: str = "") -> None:
        self._check_name(name)
        if name.startswith("-"):
            raise ValueError(f"command name must not start with '-', got {name!r}")
        for role, function in (("add_arguments", add_arguments), ("handler", handler)):
            if not callable(function):
                raise TypeError(f"command {name!r}: {role} is not callable")
        self.pending[name] = Command(name, add_arguments, handler, help, self._plugin)

    def commit(self) -> None:
        for name in [n for n in self.pending if n in self._reserved]:
            del self.pending[name]
            self._problems.append(
                f"command {name!r} from plugin {self._plugin!r} ignored: {name!r} is a core harness command"
            )
        super().commit()
