"""The plugin host: pluggy, built-in plugins, and third-party plugins from entry points.

Built-in plugins are the modules named in ``harness.plugins.BUILTIN_PLUGINS`` and
are registered exactly as third-party ones are; third-party plugins are the entry
points of the ``harness`` group.  A plugin that fails to import, raises inside a
hook, implements a hook that does not exist (a misspelt name) or registers a name
that is taken is reported in one line (``harness plugins`` shows it in the
plugin's status) and everything else keeps working.  Core modules that use the
hooks themselves (``harness data``) are loaded first, as ``CORE_PLUGINS``.

Environment variables:

* ``HARNESS_LOAD_PLUGINS``: comma-separated allow-list of external plugins (entry
  point names or distribution names); set but empty loads none.
* ``HARNESS_DISABLE_PLUGINS``: comma-separated block-list, applied after it.
* ``HARNESS_TRACE_PLUGINS=1``: print every hook call and its implementations.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import os
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
        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist_name = ep.dist.name if ep.dist else ""
            names = {ep.name, dist_name}
            if (allow is not None and not names & allow) or names & block:
                continue
            version = ep.dist.version if ep.dist else "?"
            source = f"entry point {ep.value}" + (f" in {dist_name}" if dist_name else "")
            self._load(ep.name, version, source, ep.load)

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
            error = f"{type(exc).__name__}: {one_line(exc)}"
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
        return catalog

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
        """One line per problem of a plugin: failed to load, unknown hook, hook raised, name already taken."""
        lines = [line for plugin_lines in self._load_problems.values() for line in plugin_lines]
        return lines + self.catalog.problems + self._command_problems


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
