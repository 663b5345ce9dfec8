"""The hooks a plugin can implement: the whole extension API of the harness.

Built-in encoders, tasks and suites (``harness.plugins``) use exactly these hooks,
so what works for them works for a third-party package that declares an entry
point in the ``harness`` group::

    [project.entry-points.harness]
    my_plugin = "my_package.harness_plugin"

Each hook receives a ``register`` callable.  Registration is by *factory*, not by
instance, because building an encoder usually loads model weights: the host only
calls the factory for the encoder the user asked for.  A hook implementation may
accept fewer arguments than the specification lists (pluggy's rule), so new
arguments never break old plugins; one with an argument the specification does not
list (``registr``) is refused by pluggy, and the plugin fails to load with pluggy's
reason and the arguments the hook takes.  A hook implementation whose name matches
no hook here (a typo: ``harness_register_encoder``) is reported as that plugin's
problem, with the closest hook name.

The ``register`` types are exported by :mod:`harness` for annotations:
``def harness_register_encoders(register: harness.EncoderRegister) -> None``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from harness.catalog import CommandRegister, DatasetRegister, EncoderRegister, SuiteRegister, TaskRegister

PROJECT_NAME = "harness"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def harness_register_encoders(register: EncoderRegister) -> None:
    """Register encoders: ``register(name, factory, description="", options=EncoderOptions)``.

    ``factory(settings: EncoderSettings) -> Encoder`` is called only when the
    encoder is used.  ``options`` is the pydantic schema of the options the encoder
    reads (:mod:`harness.options`); ``settings.options`` is a validated instance of
    it, and an option the schema does not declare is refused before the factory
    runs.  A *name* ending in ``:`` registers a family: ``sbert:`` matches
    ``sbert:/any/path`` and the factory finds the text after the colon in
    ``settings.argument``.
    """


@hookspec
def harness_register_tasks(register: TaskRegister) -> None:
    """Register tasks: ``register(name, factory, description="")``.

    ``factory() -> Task``, called with no argument.  As for encoders, a name ending
    in ``:`` registers a family, whose factory receives the text after the colon:
    ``factory(argument: str) -> Task`` (``beir:`` takes a folder).  A task may be
    asked for with a split, ``name@split``; the task says which splits it has.
    Base classes that bring a family's metrics are in :mod:`harness.tasks`.
    """


@hookspec
def harness_register_suites(register: SuiteRegister) -> None:
    """Register suites, named lists of tasks: ``register(name, tasks, description="", average=False)``.

    ``tasks`` are task references as a user would type them (``sickr@full``), and may name other plugins' tasks.
    ``average=True`` adds a ``NAME avg`` column to the leaderboard table of the suite's family: the mean of the
    suite's tasks, for an encoder that has them all (a paper table's "Avg", such as CodeSearchNet's six languages).
    A task name that no plugin registered is this plugin's problem, reported once every plugin's tasks are in;
    running that suite is refused, naming it, rather than running part of it.
    """


@hookspec
def harness_register_datasets(register: DatasetRegister) -> None:
    """Register datasets for ``harness data`` and ``--download``: ``register(path_to_toml_file)``.

    The file is registry data (one per dataset family; see ``harness.data.registry`` and the built-in files
    in ``harness/plugins/datasets/``): canonical URLs, checksums, sizes, licence, citation and the tasks each
    dataset backs.  A :class:`harness.data.registry.Dataset` may be passed instead of a path.
    """


@hookspec
def harness_register_commands(register: CommandRegister) -> None:
    """Add subcommands to the ``harness`` command: ``register(name, add_arguments, handler, help="")``.

    ``add_arguments(parser: argparse.ArgumentParser)`` declares the subcommand's options (it may set
    ``parser.description``); it is called only when that subcommand is used or its ``--help`` shown, so heavy
    imports belong inside it and the handler, not at the plugin module's top.  ``handler(args) -> int`` runs the
    command and returns its exit code (``None`` is 0); a :class:`harness.HarnessError` it raises ends in one line,
    ``harness: error: ...``.  A handler that needs the catalogue takes it from
    ``harness.pluginhost.get_host().catalog``.  A name that a core command or an earlier plugin already has is
    refused and reported as this plugin's problem.
    """
