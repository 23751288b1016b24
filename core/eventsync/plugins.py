"""The plugin manager: built-ins plus the `eventsync` entry-point group, one distribution at a time.

Nothing here runs at import. `load_plugins()` builds a fresh manager each call, so tests get
isolation for free and `--help` stays fast. A plugin that fails to import, misspells a hook or
registers a colliding name is reported (one line on stderr, and in `eventsync plugins`) and the
rest keeps working — including the command that uninstalls it. `EVENTSYNC_STRICT_PLUGINS=1` turns
every such report into an error, for plugin development.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from eventsync import hookspecs
from eventsync.errors import PluginError
from eventsync.receivers import DeliveryReceiver, check_receiver_class

ENTRY_POINT_GROUP = "eventsync"
BUILTIN_MODULES = ("eventsync_builtins.retention", "eventsync_builtins.migration")
REGISTRY_HOOKS = {
    "receivers": "register_receivers",
    "retention_policies": "register_retention_policies",
    "migration_sources": "register_migration_sources",
}


@dataclass
class PluginInfo:
    """One row of `eventsync plugins`."""

    name: str
    version: str | None
    builtin: bool
    hooks: list[str] = field(default_factory=list)
    receivers: list[str] = field(default_factory=list)
    retention_policies: list[str] = field(default_factory=list)
    migration_sources: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "builtin": self.builtin,
            "hooks": sorted(self.hooks), "receivers": sorted(self.receivers),
            "retention_policies": sorted(self.retention_policies),
            "migration_sources": sorted(self.migration_sources), "error": self.error,
        }


@dataclass(frozen=True)
class Registered:
    """An item a plugin registered, and who registered it."""

    item: Any
    plugin: str


def normalise_dist(name: str) -> str:
    """PEP 503 normalisation, so `eventsync_stub` and `EventSync-Stub` name one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def allowed_distributions(environ: dict[str, str] | None = None) -> set[str] | None:
    """`EVENTSYNC_LOAD_PLUGINS`: None = all, else the normalised names allowed (maybe none)."""
    env = os.environ if environ is None else environ
    raw = env.get("EVENTSYNC_LOAD_PLUGINS")
    if raw is None:
        return None
    return {normalise_dist(part.strip()) for part in raw.split(",") if part.strip()}


def strict_mode(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("EVENTSYNC_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


class Plugins:
    """A typed facade over one fresh pluggy manager and the registries it filled."""

    def __init__(self, *, environ: dict[str, str] | None = None, warn: Callable[[str], None] | None
                 = None, entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager("eventsync")
        self.pm.add_hookspecs(hookspecs)
        self.strict = strict_mode(environ)
        self._warn = warn or _stderr_warning
        self.infos: dict[str, PluginInfo] = {}
        self._versions: dict[str, str | None] = {}  # a metadata search costs ~2 ms: one each
        self._owner: dict[str, str] = {}
        self.registries: dict[str, dict[str, Registered]] = {k: {} for k in REGISTRY_HOOKS}
        self.conflicts: dict[str, dict[str, str]] = {k: {} for k in REGISTRY_HOOKS}
        if entry_points:
            self._load_entry_points(allowed_distributions(environ))
        for module_name in BUILTIN_MODULES:
            self._register_module(importlib.import_module(module_name), module_name, builtin=True)
        for kind in REGISTRY_HOOKS:
            self._collect(kind)

    def register_plugin(self, module: Any, name: str) -> None:
        """Register an in-process plugin object (tests, embedding applications).

        Only the new plugin's hooks run: calling everyone's again would repeat their entries in
        the listing and their warnings.
        """
        self._register_module(module, name, builtin=False)
        for kind in REGISTRY_HOOKS:
            self._collect(kind, only=name)

    def receiver_types(self) -> dict[str, Registered]:
        return dict(sorted(self.registries["receivers"].items()))

    def receiver_class(self, type_name: str) -> type[DeliveryReceiver]:
        """The receiver class for `type_name`, or a one-line error listing what is installed."""
        self._refuse_conflict("receivers", type_name, "receiver type")
        found = self.registries["receivers"].get(type_name)
        if found is None:
            installed = ", ".join(sorted(self.registries["receivers"])) or "none"
            raise PluginError(
                f"no receiver plugin provides type {type_name!r} (installed types: {installed})"
            )
        return found.item

    def retention_policy(self, name: str) -> type:
        self._refuse_conflict("retention_policies", name, "retention policy")
        return self._lookup("retention_policies", name, "retention policy")

    def migration_source(self, name: str) -> type:
        self._refuse_conflict("migration_sources", name, "migration source")
        return self._lookup("migration_sources", name, "migration source")

    def add_commands(self, cli: Any) -> None:
        """Let each plugin add its commands; a failing plugin is reported, not fatal."""
        for impl in self.pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli=cli)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a plugin's bug (even sys.exit) must not end the CLI
                plugin = self._owner.get(impl.plugin_name, impl.plugin_name)
                self._fail(plugin, f"register_commands failed: {_describe(exc)}")

    def listing(self, *, include_builtins: bool = False) -> list[PluginInfo]:
        infos = [i for i in self.infos.values() if include_builtins or not i.builtin]
        return sorted(infos, key=lambda info: info.name)

    def _lookup(self, kind: str, name: str, label: str) -> type:
        found = self.registries[kind].get(name)
        if found is None:
            names = ", ".join(sorted(self.registries[kind])) or "none"
            raise PluginError(f"unknown {label} {name!r} (available: {names})")
        return found.item

    def _refuse_conflict(self, kind: str, name: str, label: str) -> None:
        if name in self.conflicts[kind]:
            raise PluginError(self.conflicts[kind][name])

    def _load_entry_points(self, allowed: set[str] | None) -> None:
        by_dist: dict[str, list[md.EntryPoint]] = {}
        for ep in md.entry_points(group=ENTRY_POINT_GROUP):
            # one metadata read gives the name and the version; a distribution pip is
            # installing or removing right now may have no name yet: go by the entry point's
            metadata = ep.dist.metadata if ep.dist is not None else None
            dist = (metadata["Name"] if metadata is not None else None) or ep.name
            if metadata is not None:
                self._versions.setdefault(dist, metadata["Version"])
            by_dist.setdefault(dist, []).append(ep)
        for dist in sorted(by_dist):
            if allowed is not None and normalise_dist(dist) not in allowed:
                continue
            if any(info.name == dist for info in self.infos.values()):
                continue
            for ep in by_dist[dist]:
                self._load_one(dist, ep)

    def _load_one(self, dist: str, ep: md.EntryPoint) -> None:
        try:
            module = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # an import error, or sys.exit() at import: the plugin's
            self.infos[dist] = PluginInfo(dist, self._version(dist), builtin=False)
            self._fail(dist, f"failed to load: {_describe(exc)}")
            return
        self._register_module(module, dist, builtin=False, entry_point=ep.name)

    def _register_module(self, module: Any, name: str, *, builtin: bool,
                         entry_point: str | None = None) -> None:
        """Register one module; a distribution's second entry point gets its own pluggy name
        (pluggy refuses a name twice) but is still listed and blamed as that distribution."""
        version = self._version("eventsync" if builtin else name)
        info = self.infos.setdefault(name, PluginInfo(name, version, builtin))
        pluggy_name = name
        if entry_point is not None and self.pm.has_plugin(name):
            pluggy_name = f"{name}:{entry_point}"
        self._owner[pluggy_name] = name
        try:
            self.pm.register(module, name=pluggy_name)
            self.pm.check_pending()
        except (ValueError, pluggy.PluginValidationError) as exc:
            if self.pm.is_registered(module):
                self.pm.unregister(module)
            self._fail(name, f"invalid hook implementation: {_describe(exc)}")
            return
        hooks = {caller.name for caller in self.pm.get_hookcallers(module) or []}
        info.hooks = sorted(set(info.hooks) | hooks)

    def _collect(self, kind: str, only: str | None = None) -> None:
        hook = getattr(self.pm.hook, REGISTRY_HOOKS[kind])
        for impl in reversed(hook.get_hookimpls()):
            plugin = self._owner.get(impl.plugin_name, impl.plugin_name)
            if only is not None and plugin != only:
                continue

            def register(item: Any, _plugin: str = plugin) -> None:
                self._add(kind, item, _plugin)

            try:
                impl.function(register=register)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # report and keep every other plugin working
                self._fail(plugin, f"{REGISTRY_HOOKS[kind]} failed: {_describe(exc)}")

    def _add(self, kind: str, item: Any, plugin: str) -> None:
        key = _item_key(kind, item)
        existing = self.registries[kind].get(key)
        if existing is not None and existing.plugin != plugin:
            label = kind.rstrip("s").replace("_", " ")
            message = (f"{label} {key!r} is registered by both {existing.plugin} and {plugin};"
                       f" uninstall one of the two (eventsync plugins uninstall "
                       f"{existing.plugin}, or {plugin})")
            self.conflicts[kind][key] = message
            self._mark(existing.plugin, message)  # both rows of `eventsync plugins` say so
            self._fail(plugin, message)
            return
        self.registries[kind][key] = Registered(item, plugin)
        getattr(self.infos[plugin], kind).append(key)

    def _mark(self, plugin: str, message: str) -> None:
        info = self.infos.get(plugin)
        if info is None:
            info = self.infos[plugin] = PluginInfo(plugin, self._version(plugin), builtin=False)
        info.error = message if info.error is None else f"{info.error}; {message}"

    def _version(self, dist: str) -> str | None:
        if dist not in self._versions:
            self._versions[dist] = _version(dist)
        return self._versions[dist]

    def _fail(self, plugin: str, message: str) -> None:
        self._mark(plugin, message)
        if self.strict:
            raise PluginError(f"plugin {plugin}: {message}")
        self._warn(f"warning: plugin {plugin} {message}" if message.startswith("failed")
                   else f"warning: plugin {plugin}: {message}")


def _item_key(kind: str, item: Any) -> str:
    if kind == "receivers":
        check_receiver_class(item)
        return item.type_name
    name = getattr(item, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{item!r} needs a non-empty string attribute `name`")
    return name


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _stderr_warning(message: str) -> None:
    print(f"eventsync: {message}", file=sys.stderr, flush=True)


def load_plugins(environ: dict[str, str] | None = None) -> Plugins:
    """A fresh, fully loaded plugin set for one command or one test."""
    return Plugins(environ=environ)
