"""An app's shutdown ends when a peer is slow or gone (ecom/stopping.py): every await on the way down is
bounded by [server] shutdown_timeout, and what is left behind is named in one log line.

Real parts: the app's own PostgreSQL backends frozen with SIGSTOP (they keep their sockets and answer
nothing), its broker process killed, an SMTP server that accepts and never says a word. Each close must
end within a generous deadline (30 s, with shutdown_timeout 2 s and database/mail timeouts of 60 s that
an unbounded wait would sit out); no speed is asserted.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import asyncpg
import pytest

from ecom.app import POOLS, plugin_database_url
from plugins.notifications.keys import NOTIFICATIONS
from plugins.notifications.service import Person
from tests.conftest import free_port
from tests.faults import broker_process
from tests.helpers import start, wait_until, worker

DEADLINE = 30.0  # seconds; the bound under test is shutdown_timeout (2 s) per step
BOUNDED = {"server": {"shutdown_timeout": 2.0}, "database": {"command_timeout": 60.0}}


async def closes(*clients) -> bool:
    """Close the apps side by side (one loop, as in a test with two workers); True if all ended within
    DEADLINE. A close that hangs is left to the test client's own teardown."""
    tasks = [asyncio.ensure_future(c.close()) for c in clients]
    done, pending = await asyncio.wait(tasks, timeout=DEADLINE)
    for task in done:
        task.result()
    return not pending


@asynccontextmanager
async def backends_frozen(superuser_url: str, databases: list[str]):
    """Every PostgreSQL backend connected to ``databases`` SIGSTOPped (the rest of the server runs on):
    the app's connections are open and never answered. Always thawed at the end."""
    admin = await asyncpg.connect(superuser_url)
    try:
        pids = [r["pid"] for r in await admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()", databases)]
    finally:
        await admin.close()
    assert pids, f"no backend of {databases} to freeze"
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield pids
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


async def test_shutdown_ends_while_the_apps_database_backends_are_frozen(aiohttp_client, make_config, pg, caplog):
    """Frozen backends: the relay's UNLISTEN, catch-up's unlock and the pool's goodbye to each connection
    would each wait for the database (60 s, or for ever); the shutdown ends anyway and says what it left."""
    caplog.set_level(logging.WARNING)
    config = make_config(plugins=["users"], fresh=True, **BOUNDED)
    client = await start(aiohttp_client, config)
    database = await client.app[POOLS]["users"].fetchval("SELECT current_database()")
    async with backends_frozen(pg.url(), [database]):
        assert await closes(client), f"the app's shutdown did not end within {DEADLINE} s"
    left = [r.getMessage() for r in caplog.records if r.name in ("ecom.shutdown", "ecom.events")
            and ("going on without it" in r.getMessage() or "left running" in r.getMessage()
                 or "did not let go" in r.getMessage())]
    assert left, "nothing was named as abandoned, yet every backend of the app was frozen"


async def test_two_apps_sharing_a_loop_stop_with_their_broker_frozen(aiohttp_client, make_config, tmp_path, caplog):
    """The broker process SIGSTOPped under two apps of one deployment (it accepts, never answers): aiomqtt's
    exit then turns the cancellation of the connection task into an MqttError (no DISCONNECT ack within
    its 5 s), which the reconnect loop caught and retried for ever: close() never returned. Both shutdowns
    end, and the connection tasks end by themselves (shutdown_timeout 8 s is longer than that 5 s wait,
    so nothing had to be left behind)."""
    caplog.set_level(logging.WARNING)
    async with broker_process("127.0.0.1", free_port(), tmp_path / "broker.log") as broker:
        config = make_config(plugins=["users"], broker={"url": broker.url},
                             **{**BOUNDED, "server": {"shutdown_timeout": 8.0}})
        first = await start(aiohttp_client, config)
        second = await start(aiohttp_client, worker(config, "second"))
        broker.freeze()
        assert await closes(first, second), f"the shutdowns did not end within {DEADLINE} s with the broker frozen"
    left = [r.getMessage() for r in caplog.records if "left running" in r.getMessage()]
    assert not [line for line in left if "MQTT connection" in line], left


@pytest.mark.parametrize("greets", [False, True], ids=["silent-from-the-start", "silent-after-ehlo"])
async def test_shutdown_ends_while_the_smtp_server_accepts_and_never_answers(aiohttp_client, make_config, greets):
    """The mail relay is inside an SMTP conversation with a server that accepts and then never answers
    ([mail] timeout 60 s): either not even a greeting, or silent after EHLO, with a MAIL FROM in flight
    (where a polite QUIT on the way out would wait the whole timeout). The shutdown ends, and the mail
    is still pending (sent later, not lost)."""
    in_flight = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # kept open, never closed by us until the end
        if greets:
            writer.write(b"220 silent.example ESMTP\r\n")
            await reader.readline()  # EHLO
            writer.write(b"250 silent.example\r\n")
            await reader.readline()  # MAIL FROM: never answered
        in_flight.set()

    server = await asyncio.start_server(silent, "127.0.0.1", free_port())
    port = server.sockets[0].getsockname()[1]
    try:
        config = make_config(plugins={"enabled": ["users", "notifications"], "notifications": {"poll_seconds": 0.1}},
                             mail={"embedded_port": port, "timeout": 60.0}, **BOUNDED)
        client = await start(aiohttp_client, config)
        email = f"silent-{uuid.uuid4().hex[:8]}@example.com"
        async with client.app[POOLS]["notifications"].acquire() as conn, conn.transaction():
            assert await client.app[NOTIFICATIONS].queue(conn, "password_changed", Person(None, email, "X"),
                                                         at=datetime.now(timezone.utc), forgot_url="/p")
        await wait_until(lambda: _true_when(in_flight), bool, "the relay talking to the silent server")
        assert await closes(client), f"the shutdown did not end within {DEADLINE} s with a silent SMTP server"
        conn = await asyncpg.connect(plugin_database_url(config, "notifications"))
        try:
            status = await conn.fetchval("SELECT status FROM messages WHERE recipient = $1", email)
        finally:
            await conn.close()
        assert status == "pending"
    finally:
        for writer in held:
            writer.close()
        server.close()


async def _true_when(event: asyncio.Event) -> bool:
    return event.is_set()
