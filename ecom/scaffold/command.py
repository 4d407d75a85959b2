"""``run.py new-plugin NAME [--external DIR] [--no-enable]``: the command line's side of the scaffold."""
from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

from ..config import Config
from ..plugin import ENTRY_POINT_GROUP, PROJECT_ROOT
from .enable import enable
from .names import ScaffoldError, not_importable, valid_name
from .render import write_external, write_package

EXIT_REFUSED = 2


def plugin_folder(config: Config) -> tuple[Path, str]:
    """The first ``[plugins] paths`` folder and the dotted module prefix the loader imports it by, found
    the way ecom.plugin finds it (next to the config file, else in the project)."""
    if not config.plugins.paths:
        raise ScaffoldError("new-plugin: [plugins] paths is empty: name a folder for plugins, or use --external DIR")
    folder = config.plugins.paths[0]
    root = Path(config.root).resolve()
    path = (root / folder).resolve()
    if not path.is_dir() and (PROJECT_ROOT / folder).is_dir():
        root, path = PROJECT_ROOT, (PROJECT_ROOT / folder).resolve()
    if not path.is_dir():
        raise ScaffoldError(f"new-plugin: folder {path} (from [plugins] paths) does not exist")
    prefix = ".".join(path.relative_to(root).parts) if path.is_relative_to(root) else path.name
    return path, prefix


def _taken(config: Config, name: str) -> str | None:
    """Where a plugin called ``name`` already lives: a plugin folder, an installed entry point, or the
    built-in plugins (even when not in paths: the same name would share their database, ecom_<name>)."""
    root = Path(config.root).resolve()
    if (PROJECT_ROOT / "plugins" / name).exists():
        return str(PROJECT_ROOT / "plugins" / name)
    for folder in config.plugins.paths:
        for base in (root, PROJECT_ROOT):
            if (base / folder / name).exists():
                return str(base / folder / name)
    if any(ep.name == name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)):
        return f"the installed '{ENTRY_POINT_GROUP}' entry point {name}"
    return None


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _refresh_catalog(folder: Path) -> None:
    """A plugin in the project's plugins/ is one of the project's: the event catalog (docs/events.md,
    ecom/events/catalog.py) lists its events, and a test fails when that file is stale. Rewritten here so
    that `run.py new-plugin NAME && make test` passes; a shop without the docs folder has nothing to keep."""
    if folder.resolve() != (PROJECT_ROOT / "plugins").resolve():
        return
    from ..events import catalog
    if catalog.DOC.is_file():
        catalog.main([])


def new_plugin(config: Config, config_file: Path | None, name: str, *, external: str | None = None,
               enable_it: bool = True) -> int:
    """Write the plugin, enable it, say what to do next. Any refusal is one line and exit status 2."""
    try:
        valid_name(name)
        where = _taken(config, name)
        if where:
            raise ScaffoldError(f"new-plugin: a plugin named {name!r} already exists ({where})")
        if external is not None:
            not_importable(name)
            written = write_external(Path(external).resolve(), name)
            root = Path(external).resolve() / f"ecom-{name}"
            print(f"wrote {_shown(root)}/ ({len(written)} files): the {name} plugin as its own distribution")
            print(f"next: pip install -e {_shown(root)}  then  python -m pytest -q {_shown(root / 'tests')}\n"
                  f"      then add \"{name}\" to [plugins] enabled (it is found through its entry point)")
            return 0
        folder, prefix = plugin_folder(config)
        written = write_package(folder, name, f"{prefix}.{name}" if prefix else name)
        print(f"wrote {_shown(folder / name)}/ ({len(written)} files)")
        _refresh_catalog(folder)
        if not enable_it:
            print(f"not enabled (--no-enable): add \"{name}\" to [plugins] enabled to load it")
        elif config_file is None:
            print(f"no config file: add \"{name}\" to [plugins] enabled in yours to load it")
        elif enable(config_file, name):
            print(f"enabled in {_shown(config_file)} ([plugins] enabled)")
        print(f"next: python -m pytest -q {_shown(folder / name / 'tests')}  then  python run.py  "
              f"and open /{name}")
        return 0
    except ScaffoldError as err:
        print(f"ecom: {err}", file=sys.stderr)
        return EXIT_REFUSED
