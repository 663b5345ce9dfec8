"""The plugin host: pluggy, built-in plugins, and third-party plugins from entry points.

Built-in plugins are the modules named in ``harness.plugins.BUILTIN_PLUGINS`` and
are registered exactly as third-party ones are; third-party plugins are the entry
points of the ``harness`` group.  A plugin that fails to import, has a hook
implementation pluggy rejects (an argument the hook does not have), raises inside a
hook, implements a hook that does not exist (a misspelt name), registers a name
that is taken or a suite naming a task nobody registered is reported in one line
(``harness plugins`` shows it in the plugin's status) and everything else keeps
working.  Core modules that use the hooks themselves (``harness data``) are loaded
first, as ``CORE_PLUGINS``.

Environment variables:

* ``HARNESS_LOAD_PLUGINS``: comma-separated allow-list of external plugins (entry
  point names or distribution names); set but empty loads none.  A name that is no
  installed plugin is reported, with the installed ones.
* ``HARNESS_DISABLE_PLUGINS``: comma-separated block-list, applied after it.
* ``HARNESS_TRACE_PLUGINS=1``: print every hook call and its implementations.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pluggy

from harness import hookspecs
from harness.catalog import (
    Catalog,
    Command,
    CommandRegister,
    DatasetRegister,
    EncoderRegister,
    SuiteRegister,
    TaskRegister,
)
from harness.errors import one_line

ENTRY_POINT_GROUP = "harness"
LOAD_ENV = "HARNESS_LOAD_PLUGINS"
DISABLE_ENV = "HARNESS_DISABLE_PLUGINS"
TRACE_ENV = "HARNESS_TRACE_PLUGINS"

CORE_PLUGINS: tuple[str, ...] = ("harness.cli.data",)
"""Core modules that register through the hooks (the ``data`` command), loaded before the built-in plugins."""

HOOK_IN_MESSAGE = re.compile(r"\bhook '([^']+)'")
"""Where pluggy's validation messages name the hook (``Plugin 'x' for hook 'harness_register_suites'``)."""

STATUSES = ("ok", "warning", "hook failed", "failed to load")
"""A plugin's status, mildest first: a plugin shows the worst it has met."""


@dataclass
class PluginInfo:
    """One plugin as ``harness plugins`` shows it."""

    name: str
    version: str
    source: str
    hooks: list[str] = field(default_factory=list)
    status: str = "ok"
    notes: list[str] = field(default_factory=list)
    """Why the status is not ``ok``, one line each."""

    @property
    def error(self) -> str | None:
        return "; ".join(self.notes) or None

    def note(self, status: str, message: str) -> None:
        if STATUSES.index(status) > STATUSES.index(self.status):
            self.status = status
        if message not in self.notes:  # the catalogue may be rebuilt: the same problem, once
            self.notes.append(message)


class PluginHost:
    """Owns the pluggy manager and builds the :class:`Catalog` from every plugin's hooks."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self._catalog: Catalog | None = None
        self._load_problems: dict[str, list[str]] = {}
        self._environment_problems: list[str] = []
        self._command_problems: list[str] = []
        self.trace = bool(os.environ.get(TRACE_ENV))

    # -- loading -----------------------------------------------------------------
    def load_builtins(self) -> None:
        from harness.plugins import BUILTIN_PLUGINS

        version = _harness_version()
        for module_name in (*CORE_PLUGINS, *BUILTIN_PLUGINS):
            self._load(module_name, version, "builtin", partial(importlib.import_module, module_name))

    def load_entry_points(self) -> None:
        allow = _names_from_env(LOAD_ENV)
        block = _names_from_env(DISABLE_ENV) or set()
        entry_points = sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        if allow:
            self._environment_problems = self._not_installed(allow, entry_points)
        for ep in entry_points:
            dist_name = ep.dist.name if ep.dist else ""
            names = {ep.name, dist_name}
            if (allow is not None and not names & allow) or names & block:
                continue
            version = ep.dist.version if ep.dist else "?"
            source = f"entry point {ep.value}" + (f" in {dist_name}" if dist_name else "")
            self._load(ep.name, version, source, ep.load)

    def _not_installed(self, allow: set[str], entry_points: list[md.EntryPoint]) -> list[str]:
        """A line for each name in ``HARNESS_LOAD_PLUGINS`` that matches no entry point, distribution or built-in.

        Without it a misspelt name loads nothing and says nothing: the run goes on without the plugin's encoders.
        """
        installed = sorted({ep.name for ep in entry_points})
        known = {*installed, *(ep.dist.name for ep in entry_points if ep.dist), *self.infos}
        listing = ", ".join(installed) or "none"
        return [
            f"{LOAD_ENV} names {name!r}, which is not an installed plugin; "
            f"installed plugins (entry points of group {ENTRY_POINT_GROUP!r}): {listing}"
            for name in sorted(allow - known)
        ]

    def register(self, plugin: Any, name: str, version: str = "", source: str = "registered in-process") -> None:
        """Register an already imported plugin object (tests, notebooks)."""
        self._load(name, version, source, lambda: plugin)

    def unregister(self, name: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin, name=name)
        self.infos.pop(name, None)
        self._load_problems.pop(name, None)
        self._catalog = None

    def _load(self, name: str, version: str, source: str, loader: Callable[[], Any]) -> None:
        info = PluginInfo(name=name, version=version, source=source)
        self.infos[name] = info
        self._catalog = None
        try:
            plugin = loader()
            self.pm.register(plugin, name=name)
        except Exception as exc:
            error = self._load_error(exc)
            info.note("failed to load", error)
            self._load_problems[name] = [f"plugin {name!r} ({source}) failed to load: {error}"]
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            return
        callers = self._hookcallers_of(plugin)
        info.hooks = sorted(caller.name for caller in callers if caller.has_spec())
        unknown = self._unknown_hooks(plugin, callers)
        for message in unknown:
            info.note("warning", message)
        self._load_problems[name] = [f"plugin {name!r} {message}" for message in unknown]

    def _load_error(self, exc: Exception) -> str:
        """Why a plugin could not be loaded, in one line.

        pluggy's refusal of a hook implementation puts the plugin and hook on its first line and the reason (an
        argument the hook does not have, a wrapper that is no generator) on the next: all of it is kept, with
        the arguments the hook does take.
        """
        if not isinstance(exc, pluggy.PluginValidationError):
            return f"{type(exc).__name__}: {one_line(exc)}"
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        named = HOOK_IN_MESSAGE.search(str(exc))
        caller = getattr(self.pm.hook, named.group(1), None) if named else None
        spec = caller.spec if caller is not None else None
        takes = f"; hook {spec.name!r} takes ({', '.join(spec.argnames)})" if spec is not None else ""
        return f"{type(exc).__name__}: {'; '.join(lines)}{takes}"

    def _hookcallers_of(self, plugin: Any) -> list[Any]:
        return self.pm.get_hookcallers(plugin) or []

    def _unknown_hooks(self, plugin: Any, callers: list[Any]) -> list[str]:
        """pluggy's ``check_pending`` for one plugin: its hook implementations that match no hook specification.

        ``check_pending`` raises on the first one, for all plugins at once; this names each, with the closest hook.
        """
        known = sorted(
            name for name, caller in vars(self.pm.hook).items() if not name.startswith("_") and caller.has_spec()
        )
        messages = []
        for caller in callers:
            if caller.has_spec() or all(impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin):
                continue
            close = difflib.get_close_matches(caller.name, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"the hooks are {', '.join(known)}"
            messages.append(f"implements unknown hook {caller.name!r} ({hint})")
        return messages

    # -- the catalogue -----------------------------------------------------------
    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = self._build_catalog()
        return self._catalog

    def _build_catalog(self) -> Catalog:
        catalog = Catalog()
        registers: dict[str, Callable[[str], Any]] = {
            "harness_register_encoders": lambda plugin: EncoderRegister(catalog.encoders, plugin, catalog.problems),
            "harness_register_tasks": lambda plugin: TaskRegister(catalog.tasks, plugin, catalog.problems),
            "harness_register_suites": lambda plugin: SuiteRegister(catalog.suites, plugin, catalog.problems),
            "harness_register_datasets": lambda plugin: DatasetRegister(catalog.datasets, plugin, catalog.problems),
        }
        for hook_name, make_register in registers.items():
            self._call_hook(hook_name, make_register, catalog.problems)
        self._check_suites(catalog)
        return catalog

    def _check_suites(self, catalog: Catalog) -> None:
        """A suite naming a task that no plugin registered is its plugin's problem, reported when it is registered.

        Suites are checked once every plugin's tasks are in, since a suite may name another plugin's tasks.
        """
        for suite in catalog.suites.values():
            info = self.infos.get(suite.plugin)
            for message in catalog.suite_problems(suite):
                if info is not None:
                    info.note("warning", message)
                catalog.problems.append(f"plugin {suite.plugin!r} {message}")

    def commands(self, reserved: Iterable[str] = ()) -> dict[str, Command]:
        """Every plugin's ``harness`` subcommands; a name in ``reserved`` (the CLI's own commands) is refused."""
        table: dict[str, Command] = {}
        problems: list[str] = []
        core = frozenset(reserved)
        self._call_hook(
            "harness_register_commands", lambda plugin: CommandRegister(table, plugin, problems, core), problems
        )
        self._command_problems = problems
        return table

    def _call_hook(self, hook_name: str, make_register: Callable[[str], Any], problems: list[str]) -> None:
        """Call each plugin's implementation of ``hook_name`` with a ``register`` of its own.

        Each implementation runs on its own, so that one plugin raising cannot take the others down; a plugin's
        registrations are kept only if its hook finished.  Built-ins come first (they were registered first).
        """
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            register = make_register(impl.plugin_name)
            info = self.infos.get(impl.plugin_name)
            kwargs = {"register": register}
            try:
                impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception as exc:
                message = f"raised in {hook_name}: {type(exc).__name__}: {one_line(exc)}"
                if info is not None:
                    info.note("hook failed", message)
                problems.append(f"plugin {impl.plugin_name!r} {message}")
                continue
            before = len(problems)
            register.commit()
            if info is not None:
                for message in problems[before:]:  # names taken by another plugin or by the core
                    info.note("warning", message)
            if self.trace:
                names = ", ".join(register.pending) or "nothing"
                print(f"harness: trace: {hook_name} of {impl.plugin_name!r} registered {names}", file=sys.stderr)

    def problems(self) -> list[str]:
        """One line per problem: a plugin that failed to load, an unknown hook, a hook that raised, a name already
        taken, a suite naming an unknown task; a ``HARNESS_LOAD_PLUGINS`` name that is not installed."""
        lines = [line for plugin_lines in self._load_problems.values() for line in plugin_lines]
        return self._environment_problems + lines + self.catalog.problems + self._command_problems


def _names_from_env(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _harness_version() -> str:
    from harness import __version__

    return __version__


_host: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide host, with built-in and entry-point plugins loaded once."""
    global _host
    if _host is None:
        host = PluginHost()
        host.load_builtins()
        host.load_entry_points()
        _host = host
    return _host


def reset_host() -> None:
    """Forget the process-wide host (tests; after installing a plugin at run time)."""
    global _host
    _host = None
