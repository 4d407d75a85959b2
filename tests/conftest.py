"""One embedded PostgreSQL and one embedded broker for the whole test session; real HTTP through aiohttp.

Each test module gets its own set of databases (``t<n>_<plugin>``) unless a test asks for a fresh one.
"""
from __future__ import annotations

import hashlib
import itertools
import random
import shutil
import socket
import sys
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")

from ecom.config import Config, load_config  # noqa: E402
from ecom.broker import EmbeddedBroker  # noqa: E402
from ecom.embedded import EmbeddedPostgres  # noqa: E402

TEST_SECRET_KEY = "test-secret-key"
_db_counter = itertools.count(1)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Temp folders outside /tmp/pytest-of-<user>: pytest resets that folder to 0700 whenever another
    session starts on the machine, which would lock out PostgreSQL's own system user mid-run."""
    if not config.option.basetemp:
        config.option.basetemp = config._ecom_basetemp = tempfile.mkdtemp(prefix="ecom-pytest-")


def pytest_unconfigure(config):
    if getattr(config, "_ecom_basetemp", None):
        shutil.rmtree(config._ecom_basetemp, ignore_errors=True)


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive loopback ports free right now, below the kernel's ephemeral
    range (32768+), so that no outgoing connection of the test run can take one before a server binds it."""
    for _ in range(200):
        base = random.randrange(20000, 32000 - count)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports")


def free_port() -> int:
    return free_ports(1)


@pytest.fixture(scope="session")
def pg(tmp_path_factory):
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), max_connections=300)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def broker():
    server = EmbeddedBroker("127.0.0.1", free_port(), hashlib.sha256(TEST_SECRET_KEY.encode()).digest())
    await server.start()
    yield server
    if server.running:
        await server.stop()


def _merge(base: dict, extra: dict) -> dict:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture(scope="module")
def db_prefix() -> str:
    return f"t{next(_db_counter)}"


@pytest.fixture
def make_config(pg, broker, tmp_path, db_prefix):
    """Build a Config pointing at the test PostgreSQL and broker; keyword sections override the defaults.

    ``fresh=True`` gives databases no other test has touched."""
    def make(fresh: bool = False, **sections: Any) -> Config:
        prefix = f"f{next(_db_counter)}" if fresh else db_prefix
        base = {
            "server": {"data_dir": str(tmp_path / "data"), "log_level": "warning"},
            "database": {"url": pg.url(), "name_prefix": prefix, "pool_max": 5, "max_connections": 300},
            "broker": {"url": f"mqtt://127.0.0.1:{broker.port}", "client_id": f"test-{uuid.uuid4().hex[:10]}"},
            # mail goes to a port of this test's own (nothing listens unless the test starts a sink there):
            # never to a shop's sink on the default port
            "mail": {"embedded_port": free_port()},
            "security": {"secret_key": TEST_SECRET_KEY, "argon2_time_cost": 1, "argon2_memory_kib": 8,
                         "rate_limit_per_minute": 0, "auth_rate_limit_per_minute": 0},
        }
        return load_config(None, environ={}, overrides=_merge(base, sections), root=ROOT)
    return make


@pytest.fixture
async def client(aiohttp_client, make_config):
    """An HTTP client for a full app (every enabled plugin) on this module's databases."""
    from ecom.app import create_app
    return await aiohttp_client(create_app(make_config()))
