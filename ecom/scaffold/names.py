"""What a new plugin may be called, and what its name becomes in code (class, key, module path)."""
from __future__ import annotations

import importlib.util
import keyword
import re
from dataclasses import dataclass

NAME = re.compile(r"^[a-z][a-z0-9_]{1,29}$")


class ScaffoldError(Exception):
    """The scaffold cannot write this plugin; ``str(err)`` is one line saying why."""


def valid_name(name: str) -> str:
    """A plugin name names a Python package, a database (``ecom_<name>``), topics (``ecom/<name>/...``),
    routes and a config section: lower-case letters, digits and ``_``, 2 to 30 characters, starting
    with a letter, not a Python keyword."""
    if not NAME.match(name) or keyword.iskeyword(name) or name.endswith("_"):
        raise ScaffoldError(f"new-plugin: {name!r} is not a plugin name (2-30 lower-case letters, digits "
                            "or _, starting with a letter, e.g. wishlist)")
    return name


def not_importable(name: str) -> None:
    """A distribution's top-level package must not shadow a module Python already finds (json, ecom, ...)."""
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        found = None
    if found is not None:
        raise ScaffoldError(f"new-plugin: a module named {name!r} already exists ({found.origin or 'a package'}): "
                            "choose another name")


@dataclass(frozen=True)
class Names:
    """The markers a template may use, and their values for one plugin."""
    name: str          # @name@     wishlist
    module: str        # @import@   plugins.wishlist (inside the shop) or wishlist (a distribution)
    tests: str         # @tests@    where its tests are, for their docstring

    def markers(self) -> dict[str, str]:
        return {"@name@": self.name, "@Class@": "".join(p.capitalize() for p in self.name.split("_")),
                "@KEY@": self.name.upper(), "@import@": self.module, "@tests@": self.tests}
