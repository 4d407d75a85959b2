"""The plugin contract and loader: discover, import, validate and order the enabled plugins.

A plugin is a package whose ``__init__`` defines ``PLUGIN = Plugin(...)``. It is found in a folder of
``[plugins] paths`` (default ``plugins/``) or through the ``ecom.plugins`` entry-point group, and loaded
only when named in ``[plugins] enabled``. Any problem stops start-up with a :class:`PluginError` whose
message is one line naming the plugin.
"""
from __future__ import annotations

import dataclasses
import graphlib
import hashlib
import hmac
import importlib
import importlib.metadata
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Iterable, TypeVar

from aiohttp import web

from .config import Config, ConfigError, parse_section
from .version import IncompatibleCore, check_supported

if TYPE_CHECKING:
    import asyncpg
    from .events import PluginEvents
    from .slots import Slot

T = TypeVar("T")
ENTRY_POINT_GROUP = "ecom.plugins"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHOP_SECRET = web.AppKey("ecom.secret", bytes)


class PluginError(Exception):
    """A plugin cannot be loaded; ``str(err)`` is one line naming it."""


Lifespan = Callable[["PluginContext"], AsyncIterator[None]]


@dataclass(frozen=True)
class Plugin:
    name: str
    requires: tuple[str, ...] = ()
    lifespan: Lifespan | None = None           # async generator: start-up before `yield`, shutdown after
    routes: Iterable[web.AbstractRouteDef] = ()  # a RouteTableDef with full paths
    templates: str | None = "templates"        # folder in the package; rendered as "<name>/<file>"
    migrations: str | None = "migrations"      # folder of NNNN_description.sql for this plugin's database
    static: str | None = "static"              # folder served at /static/<name>/
    config: type | None = None                 # dataclass parsed from [plugins.<name>]
    database: bool = True                      # owns a database (needed for migrations and events)
    seed: Callable[[Any], Awaitable[None]] | None = None  # `run.py seed`: async seed(seeder: ecom.seed.Seeder)
    slots: Iterable["Slot"] = ()                 # fragments for other pages' slots (ecom/slots.py)
    requires_core: str | None = None           # core API range, PEP 440: ">=0.2,<0.3" (ecom.version)
    package_dir: Path | None = None            # filled in by the loader

    def folder(self, attr: str) -> Path | None:
        sub = getattr(self, attr)
        if sub is None or self.package_dir is None:
            return None
        path = self.package_dir / sub
        return path if path.is_dir() else None


class PluginContext:
    """What a plugin's lifespan gets: its config, its pool, its events, and the service registry."""

    def __init__(self, plugin: Plugin, app: web.Application, settings: Config, plugin_config: Any,
                 pool: "asyncpg.Pool | None", events: "PluginEvents | None"):
        self.plugin = plugin
        self.name = plugin.name
        self.app = app
        self.settings = settings
        self.config = plugin_config
        self.pool = pool
        self.events = events
        self.log = logging.getLogger(f"ecom.plugins.{plugin.name}")

    @property
    def data_dir(self) -> Path:
        path = self.settings.data_dir / "plugins" / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def secret(self, purpose: str) -> bytes:
        """32 bytes derived from the shop secret for ``purpose`` (same in every worker, distinct per use)."""
        return hmac.new(self.app[SHOP_SECRET], f"{self.name}:{purpose}".encode(), hashlib.sha256).digest()

    def provide(self, key: web.AppKey[T], service: T) -> None:
        """Publish a service object for other plugins (typed key from this plugin's ``keys.py``)."""
        if key in self.app:
            raise PluginError(f"plugin {self.name}: service {key.name!r} is already provided")
        self.app[key] = service

    def require(self, key: web.AppKey[T]) -> T:
        """Another plugin's service; it must be listed in ``requires`` so that it has started already."""
        try:
            return self.app[key]
        except KeyError:
            raise PluginError(f"plugin {self.name}: needs service {key.name!r}, which no started plugin provides "
                              "(is its plugin enabled and listed in requires?)") from None


@dataclass
class LoadedPlugins:
    """The enabled plugins in dependency order, with their parsed config sections."""
    plugins: list[Plugin] = field(default_factory=list)
    configs: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.plugins]


def _folder_plugins(config: Config) -> dict[str, str]:
    """name -> module path for every package in the plugin folders (nothing imported yet).

    Relative folders are looked up next to the config file, then in the project. A folder inside the
    root is imported by its dotted path from the root (``plugins.users``),
    so that the loader and the plugin's own imports name the same modules."""
    found: dict[str, str] = {}
    config_root = Path(config.root).resolve()
    for folder in config.plugins.paths:
        root, path = config_root, (config_root / folder).resolve()
        if not path.is_dir() and (PROJECT_ROOT / folder).is_dir():  # a config kept elsewhere (/etc/ecom)
            root, path = PROJECT_ROOT, (PROJECT_ROOT / folder).resolve()
        if not path.is_dir():
            raise PluginError(f"plugins: folder {path} (from [plugins] paths) does not exist")
        if path.is_relative_to(root):
            base, prefix = root, ".".join(path.relative_to(root).parts)
        else:
            base, prefix = path.parent, path.name
        if str(base) not in sys.path:
            sys.path.insert(0, str(base))
        for child in sorted(path.iterdir()):
            if (child / "__init__.py").exists() and not child.name.startswith(("_", ".")):
                found.setdefault(child.name, f"{prefix}.{child.name}" if prefix else child.name)
    return found


def _entry_point_plugins() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _import(name: str, folder_modules: dict[str, str], entry_points: dict[str, Any]) -> Plugin:
    try:
        if name in folder_modules:
            module = importlib.import_module(folder_modules[name])
            obj = getattr(module, "PLUGIN", None)
        elif name in entry_points:
            obj = entry_points[name].load()
            obj = getattr(obj, "PLUGIN", obj)
            module = sys.modules.get(entry_points[name].module)  # a Plugin's own __module__ is ecom.plugin
        else:
            raise PluginError(f"plugin {name}: enabled but not found in the plugin folders or the "
                              f"'{ENTRY_POINT_GROUP}' entry points")
    except PluginError:
        raise
    except Exception as err:  # an import error inside the plugin: name it, keep one line
        raise PluginError(f"plugin {name}: failed to import: {type(err).__name__}: {err}") from err
    if not isinstance(obj, Plugin):
        raise PluginError(f"plugin {name}: its package must define PLUGIN = Plugin(...)")
    if obj.name != name:
        raise PluginError(f"plugin {name}: PLUGIN.name is {obj.name!r}, expected {name!r}")
    try:  # before its migrations or lifespan run: a plugin built for another core stops start-up here
        check_supported(obj.requires_core)
    except IncompatibleCore as err:
        raise PluginError(f"plugin {name}: {err}") from None
    package_file = getattr(sys.modules.get(getattr(obj.lifespan, "__module__", "") or "", None), "__file__", None)
    module_file = getattr(module, "__file__", None) or package_file
    package_dir = Path(module_file).parent if module_file else None
    return dataclasses.replace(obj, requires=tuple(obj.requires), package_dir=package_dir)


def order_plugins(plugins: dict[str, Plugin]) -> list[Plugin]:
    """Dependency order; a missing dependency or a cycle is a PluginError naming the plugins."""
    for plugin in plugins.values():
        for dep in plugin.requires:
            if dep not in plugins:
                raise PluginError(f"plugin {plugin.name}: requires plugin {dep!r}, which is not enabled")
    sorter = graphlib.TopologicalSorter({p.name: p.requires for p in plugins.values()})
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as err:
        cycle = " -> ".join(err.args[1])
        raise PluginError(f"plugins: dependency cycle: {cycle}") from None
    return [plugins[name] for name in order]


def load_plugins(config: Config) -> LoadedPlugins:
    folder_modules = _folder_plugins(config)
    entry_points = _entry_point_plugins()
    known = set(folder_modules) | set(entry_points)
    for section in config.plugins.settings:
        if section not in known:
            raise ConfigError(f"config: [plugins.{section}] configures a plugin that does not exist")
    enabled = list(dict.fromkeys(config.plugins.enabled))
    plugins = {name: _import(name, folder_modules, entry_points) for name in enabled}
    ordered = order_plugins(plugins)
    configs = {}
    for plugin in ordered:
        raw = config.plugins.settings.get(plugin.name, {})
        if plugin.config is None:
            if raw:
                raise ConfigError(f"config: [plugins.{plugin.name}] has settings but the plugin takes none")
            configs[plugin.name] = None
        else:
            configs[plugin.name] = parse_section(plugin.config, raw, f"plugins.{plugin.name}")
    check_routes(ordered)
    return LoadedPlugins(ordered, configs)


def check_routes(plugins: list[Plugin], reserved: Iterable[tuple[str, str, str]] = ()) -> None:
    """Two plugins (or a plugin and the core) claiming the same method and path is a start-up error."""
    owners: dict[tuple[str, str], str] = {(m, p): owner for m, p, owner in reserved}
    for plugin in plugins:
        for route in plugin.routes:
            method = getattr(route, "method", "*")
            path = getattr(route, "path", None) or getattr(route, "prefix", None)
            if path is None:
                continue
            key = (method, path)
            if key in owners and owners[key] != plugin.name:
                raise PluginError(f"plugin {plugin.name}: route {method} {path} is already claimed by {owners[key]}")
            owners[key] = plugin.name
