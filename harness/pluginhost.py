"""The plugin host: pluggy, built-in plugins, and third-party plugins from entry points.

Built-in plugins are the modules named in ``harness.plugins.BUILTIN_PLUGINS`` and
are registered exactly as third-party ones are; third-party plugins are the entry
points of the ``harness`` group.  A plugin that fails to import or raises inside a
hook is reported in one line (``harness plugins`` lists it) and everything else
keeps working.

Environment variables:

* ``HARNESS_LOAD_PLUGINS``: comma-separated allow-list of external plugins (entry
  point names or distribution names); set but empty loads none.
* ``HARNESS_DISABLE_PLUGINS``: comma-separated block-list, applied after it.
* ``HARNESS_TRACE_PLUGINS=1``: print every hook call and its implementations.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from harness import hookspecs
from harness.errors import one_line
from harness.registry import Catalog, DatasetRegister, EncoderRegister, SuiteRegister, TaskRegister

ENTRY_POINT_GROUP = "harness"
LOAD_ENV = "HARNESS_LOAD_PLUGINS"
DISABLE_ENV = "HARNESS_DISABLE_PLUGINS"
TRACE_ENV = "HARNESS_TRACE_PLUGINS"


@dataclass
class PluginInfo:
    """One plugin as ``harness plugins`` shows it."""

    name: str
    version: str
    source: str
    hooks: list[str] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None


class PluginHost:
    """Owns the pluggy manager and builds the :class:`Catalog` from every plugin's hooks."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self._catalog: Catalog | None = None
        self.trace = bool(os.environ.get(TRACE_ENV))

    # -- loading -----------------------------------------------------------------
    def load_builtins(self) -> None:
        from harness.plugins import BUILTIN_PLUGINS

        version = _harness_version()
        for module_name in BUILTIN_PLUGINS:
            self._load(module_name, version, "builtin", lambda m=module_name: importlib.import_module(m))

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
        self._catalog = None

    def _load(self, name: str, version: str, source: str, loader: Callable[[], Any]) -> None:
        info = PluginInfo(name=name, version=version, source=source)
        self.infos[name] = info
        self._catalog = None
        try:
            plugin = loader()
            self.pm.register(plugin, name=name)
        except Exception as exc:
            info.status = "failed to load"
            info.error = f"{type(exc).__name__}: {one_line(exc)}"
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            return
        info.hooks = sorted(impl.name for impl in self._hookcallers_of(plugin))

    def _hookcallers_of(self, plugin: Any) -> list[Any]:
        return self.pm.get_hookcallers(plugin) or []

    # -- the catalogue -----------------------------------------------------------
    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = self._build_catalog()
        return self._catalog

    def _build_catalog(self) -> Catalog:
        catalog = Catalog()
        hooks = [
            ("harness_register_encoders", lambda plugin: EncoderRegister(catalog.encoders, plugin, catalog.problems)),
            ("harness_register_tasks", lambda plugin: TaskRegister(catalog.tasks, plugin, catalog.problems)),
            ("harness_register_suites", lambda plugin: SuiteRegister(catalog.suites, plugin, catalog.problems)),
            ("harness_register_datasets", lambda plugin: DatasetRegister(catalog.datasets, plugin, catalog.problems)),
        ]
        for hook_name, make_register in hooks:
            caller = getattr(self.pm.hook, hook_name)
            # Call each implementation on its own so that one plugin raising cannot
            # take the others down; keep a plugin's registrations only if its hook
            # finished.  Built-ins come first (they were registered first).
            for impl in caller.get_hookimpls():
                register = make_register(impl.plugin_name)
                kwargs = {"register": register}
                try:
                    impl.function(**{k: kwargs[k] for k in impl.argnames})
                except Exception as exc:
                    message = f"raised in {hook_name}: {type(exc).__name__}: {one_line(exc)}"
                    info = self.infos.get(impl.plugin_name)
                    if info is not None:
                        info.status = "hook failed"
                        info.error = message
                    catalog.problems.append(f"plugin {impl.plugin_name!r} {message}")
                    continue
                register.commit()
                if self.trace:
                    names = ", ".join(register.pending) or "nothing"
                    print(f"harness: trace: {hook_name} of {impl.plugin_name!r} registered {names}", file=sys.stderr)
        return catalog

    def problems(self) -> list[str]:
        """One line per plugin that failed to load or whose hook raised."""
        lines = [
            f"plugin {info.name!r} ({info.source}) failed to load: {info.error}"
            for info in self.infos.values()
            if info.status == "failed to load"
        ]
        return lines + self.catalog.problems


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
