"""The registry a workspace is built with: one pluggy manager, its built-in and installed plugins.

The composition root passes Meridian's own plugins (``DEFAULT_PLUGINS`` in ``meridian.workspace``);
:func:`build_plugins` adds every installed package that names a module in the ``meridian``
entry point group. The registry lives on the workspace, and the workspace's engine carries it
as an execution option, so a service that holds only a connection (the record writer telling
subscribers, a rule job looking up its actions, the catalog parsing a form with a plugin's
field type) finds the same registry without a module global.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pluggy
from sqlalchemy.engine import Connection, Engine

from meridian.errors import PluginError
from meridian.plugins import hookspecs

OPTION = "meridian_plugins"
"""The execution option under which a workspace's engine carries its :class:`Plugins`."""


@dataclass(frozen=True)
class Registration:
    """What one plugin adds through one hook, for ``meridian plugins``."""

    hook: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin: its name, the distribution that installed it, what it adds."""

    name: str
    distribution: str | None
    registrations: tuple[Registration, ...]


class Plugins:
    """A built pluggy manager and the named things its plugins register.

    The ``register_*`` hooks that take no argument are asked once: plugins are fixed when the
    workspace is built, so their answers are too.
    """

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.manager = manager
        self._named: dict[str, Mapping[str, Any]] = {}
        self._listed: dict[str, tuple[Any, ...]] = {}

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def named(self, hook: str) -> Mapping[str, Any]:
        """Everything ``hook`` registers, by its ``name``; a name claimed twice is refused."""
        found = self._named.get(hook)
        if found is None:
            found = self._named[hook] = merge_named(hook, getattr(self.hook, hook)())
        return found

    def listed(self, hook: str) -> tuple[Any, ...]:
        """Everything ``hook`` registers, in registration order (built-ins first)."""
        found = self._listed.get(hook)
        if found is None:
            results = reversed(getattr(self.hook, hook)())  # pluggy calls the last one first
            found = self._listed[hook] = tuple(item for result in results for item in result)
        return found

    def describe(self, **arguments: Any) -> list[PluginInfo]:
        """Each plugin and the names it registers through each hook it implements.

        ``arguments`` feed the hooks that take some (``meridian`` for job handlers and
        channels); a hook whose arguments are not given is listed without names.
        """
        distributions = {
            id(plugin): f"{dist.project_name} {dist.version}"
            for plugin, dist in self.manager.list_plugin_distinfo()
        }
        described = []
        for name, plugin in self.manager.list_name_plugin():
            if plugin is None:
                continue
            registrations = []
            for hook_name in sorted(_hook_names()):
                impl = next(
                    (
                        impl
                        for impl in getattr(self.hook, hook_name).get_hookimpls()
                        if impl.plugin is plugin
                    ),
                    None,
                )
                if impl is None:
                    continue
                wanted = {arg: arguments[arg] for arg in impl.argnames if arg in arguments}
                names: tuple[str, ...] = ()
                if len(wanted) == len(impl.argnames):
                    names = tuple(_names_of(impl.function(**wanted)))
                registrations.append(Registration(hook_name, names))
            described.append(PluginInfo(name, distributions.get(id(plugin)), tuple(registrations)))
        return described


def build_plugins(defaults: Sequence[object], *, installed: Sequence[str] | None = None) -> Plugins:
    """A registry of ``defaults`` (Meridian's own plugins, in order) and the installed
    packages' plugins of the ``meridian`` entry point group: every one, or those named in
    ``installed``."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for plugin in defaults:
        manager.register(plugin, name=getattr(plugin, "__name__", None))
    if installed is None:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    for name in installed or ():
        if not manager.load_setuptools_entrypoints(hookspecs.PROJECT, name=name):
            raise PluginError(f"no installed plugin is named {name!r}")
    manager.check_pending()
    return Plugins(manager)


def attach(engine: Engine, plugins: Plugins) -> None:
    """Let every connection of ``engine`` find ``plugins`` (see :func:`plugins_of`)."""
    engine.update_execution_options(**{OPTION: plugins})


def plugins_of(conn: Connection | Engine) -> Plugins | None:
    """The registry of the workspace whose engine opened ``conn``; None outside a workspace."""
    found: Plugins | None = conn.get_execution_options().get(OPTION)
    return found


def merge_named(hook: str, results: Iterable[Any]) -> Mapping[str, Any]:
    """One mapping from each plugin's answer (a mapping, or a sequence of things with a
    ``name``), refusing a name that two plugins claim."""
    merged: dict[str, Any] = {}
    for result in reversed(list(results)):  # built-ins first, as registered
        items = result.items() if isinstance(result, Mapping) else ((i.name, i) for i in result)
        for name, item in items:
            if name in merged:
                raise PluginError(f"two plugins register {name!r} through {hook}")
            merged[name] = item
    return MappingProxyType(merged)


def _hook_names() -> list[str]:
    return [
        name
        for name in dir(hookspecs)
        if name.startswith(("register_", "menu_")) and callable(getattr(hookspecs, name))
    ]


def _names_of(result: Any) -> list[str]:
    if isinstance(result, Mapping):
        return [str(key) for key in result]
    names = []
    for item in result or ():
        if hasattr(item, "routes"):  # a router: its paths
            names += [str(getattr(route, "path", route)) for route in item.routes]
        elif callable(item) and hasattr(item, "__qualname__"):  # a subscriber
            names.append(f"{item.__module__}.{item.__qualname__}")
        else:
            names.append(str(getattr(item, "name", getattr(item, "href", item))))
    return names
