"""Data files an operator edits (tax rates, shipping rates): TOML, read once and checked at start-up.

A plugin ships its own copy; the setting names another file ("" = the shipped one; a relative path is
taken from the project folder). Every mistake, unreadable file or bad TOML included, is a ``ConfigError``
of one line naming the file and the key, so start-up stops the way it does for config.toml.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Mapping, NoReturn

from .config import ConfigError

PROJECT = Path(__file__).resolve().parent.parent


def resolve(setting: str, shipped: Path) -> Path:
    """The file a setting names: ``shipped`` for "", else the operator's path."""
    if not setting:
        return shipped
    path = Path(setting)
    return path if path.is_absolute() else PROJECT / path


def read_toml(path: Path, key: str) -> dict[str, Any]:
    """The parsed file; ConfigError naming the setting ``key`` when it cannot be read or parsed."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"config: {key}: cannot read {path}: {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"config: {key}: {path} is not valid TOML: {err}") from None


class Checker:
    """Checks one parsed file, naming the file (``where``) and the key in every error."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, key: str, message: str) -> NoReturn:
        raise ConfigError(f"config: {self.where}: {key} {message}")

    def table(self, value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(key, "must be a table")
        return value

    def known(self, table: Mapping[str, Any], key: str, allowed: set[str]) -> None:
        for name in table:
            if name not in allowed:
                self.fail(f"{key}.{name}" if key else name, f"is not a known key (known: {', '.join(sorted(allowed))})")
