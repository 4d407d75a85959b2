"""python -m ecom.i18n update|check [FOLDER...]: keep the translation catalogs true.

update   extract the marked texts of each package and add new ones (empty) to its .po files
check    list untranslated texts, placeholders that differ, and human text never marked (exit 1 if any)
FOLDER   the project's root folders to act on (ecom, plugins/orders, ...); none = every package
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..config import ConfigError, load_config
from .tools import PROJECT, check_catalogs, conflicts, package_at, packages, unmarked, update


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("update", "check"):
        print(__doc__.strip())
        return 2
    command, folders = argv[0], argv[1:]
    try:
        locales = load_config(PROJECT / "config.toml").i18n.locales
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    chosen = [package_at(Path(f) if Path(f).name != "ecom" else PROJECT / "ecom") for f in folders] or packages()
    if command == "update":
        for package in chosen:
            counts = update(package, locales)
            print(f"{package.name}: " + ", ".join(f"{loc}: {n} to translate" for loc, n in counts.items()))
        return 0
    problems = []
    for package in chosen:
        problems += check_catalogs(package, locales) + unmarked(package)
    for locale in locales:
        problems += conflicts(packages(), locale) if locale != "en" else []
    for line in problems:
        print(line)
    print(f"{len(problems)} problem(s)" if problems else "every text is marked and translated")
    return 1 if problems else 0


sys.exit(main(sys.argv[1:]))
