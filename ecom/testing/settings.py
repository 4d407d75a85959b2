"""A test shop's Config: the session's PostgreSQL and broker, cheap password hashing, no rate limits.

Every test module gets its own set of databases (``t<n>_<plugin>``); ``fresh=True`` gives databases no
other test has touched. Why per module and not per test: creating and migrating a dozen plugin
databases costs about a second, and a module's tests are written to share them.
"""
from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any, Iterable

from ..config import Config, load_config
from ..plugin import PROJECT_ROOT
from .ports import free_port
from .servers import TEST_SECRET_KEY

BUILTIN_PLUGINS = PROJECT_ROOT / "plugins"  # the core's own plugins, wherever ecom is installed
_prefixes = itertools.count(1)


def new_prefix(kind: str = "t") -> str:
    """A database name prefix unused in this session (``t3``: a module's; ``f7``: a fresh one)."""
    return f"{kind}{next(_prefixes)}"


def merge(base: dict, extra: dict) -> dict:
    """``extra``'s sections over ``base``'s, key by key (a nested dict merges, anything else replaces)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def shop_config(*, pg_url: str, broker_port: int, data_dir: Path, prefix: str, root: Path,
                plugins: Iterable[str] | dict | None = None, paths: Iterable[str | Path] = (),
                **sections: Any) -> Config:
    """The Config of a test shop. ``plugins``: the names to enable (a list; their ``requires`` must be in
    it too), or a whole ``[plugins]`` section (a dict, as in config.toml); None keeps the shop's default
    set. ``paths``: more plugin folders, searched after the core's own (relative ones against ``root``);
    installed plugins (the ``ecom.plugins`` entry points) are found without one. ``sections`` override
    any other section (``server={...}``, ``security={...}``, ``plugins`` settings as ``plugins={"x": {...}}``)."""
    base = {
        "server": {"data_dir": str(data_dir), "log_level": "warning"},
        "database": {"url": pg_url, "name_prefix": prefix, "pool_max": 5, "max_connections": 300},
        "broker": {"url": f"mqtt://127.0.0.1:{broker_port}", "client_id": f"test-{uuid.uuid4().hex[:10]}"},
        # mail goes to a port of this test's own (nothing listens unless the test starts a sink there):
        # never to a shop's sink on the default port
        "mail": {"embedded_port": free_port()},
        "security": {"secret_key": TEST_SECRET_KEY, "argon2_time_cost": 1, "argon2_memory_kib": 8,
                     "rate_limit_per_minute": 0, "auth_rate_limit_per_minute": 0},
    }
    if isinstance(plugins, dict):
        sections = merge({"plugins": plugins}, sections)
    else:
        section: dict[str, Any] = {}
        if plugins is not None:
            section["enabled"] = list(plugins)
        if paths:
            section["paths"] = [str(BUILTIN_PLUGINS), *(str(p) for p in paths)]
        if section:
            sections = merge({"plugins": section}, sections)
    return load_config(None, environ={}, overrides=merge(base, sections), root=root)
