"""The version of ecom's core API that plugins build against.

A plugin names the core versions it supports with ``Plugin(requires_core=">=0.2,<0.3")`` (a PEP 440
specifier); the loader refuses one outside its range, at start-up, with one line. Why a range checked
at start-up: an installed third-party plugin built for another core would otherwise fail later, on
some request, with an AttributeError far from its cause.

Versioning promise (docs/plugins.md, "Compatibility and public API"): while the major version is 0, a
minor release (0.2 -> 0.3) may change the public API, a patch release (0.2.0 -> 0.2.1) never does.
From 1.0 on, only a major release may. Keep this equal to pyproject.toml's version.
"""
from __future__ import annotations

from packaging.specifiers import InvalidSpecifier, SpecifierSet

CORE_VERSION = "0.2.0"


class IncompatibleCore(ValueError):
    """``str(err)`` is the reason, without the plugin's name (the loader adds it)."""


def check_supported(spec: str | None, version: str = CORE_VERSION) -> None:
    """Raise :class:`IncompatibleCore` unless ``version`` is within ``spec`` (None: any version).

    Pre-releases of the core count as in range (``0.3.0rc1`` satisfies ``>=0.3``): an author tries a
    release candidate with the range they will ship."""
    if spec is None:
        return
    try:
        specifiers = SpecifierSet(spec)
    except (InvalidSpecifier, TypeError):
        raise IncompatibleCore(f"requires_core {spec!r} is not a version range (PEP 440, e.g. '>=0.2,<0.3')") from None
    if not specifiers.contains(version, prereleases=True):
        raise IncompatibleCore(f"needs ecom core {spec} (this is {version})")
