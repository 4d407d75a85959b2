"""The transactional outbox: an event is written in the transaction of the change it announces, and a
relay publishes it after commit (DESIGN §5). A crash between commit and publish loses nothing: the row
stays pending until a relay, in this process after a restart or in any other worker, publishes it.

The outbox holds the unsigned envelope; the relay signs it as the plugin whose outbox it is when it
publishes (ecom.events.signing). A row marked sent may still be lost by the broker: consumers catch up
from this table (ecom.events.catchup), which is why sent rows are kept for days, not deleted at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable

import aiomqtt
import asyncpg

from . import tracing
from .aio import wait_event
from .stopping import stop_if_cancelled

if TYPE_CHECKING:
    from .events import EventBus

log = logging.getLogger("ecom.events")
NOTIFY_CHANNEL = "ecom_outbox"


# One statement, one round trip: the row and the NOTIFY (pg_notify is transactional like NOTIFY: it
# is delivered at commit, and identical notifications of one transaction are folded into one).
_WRITE = ("WITH added AS (INSERT INTO outbox (event_id, topic, payload) VALUES ($1, $2, $3) RETURNING 1) "
          f"SELECT pg_notify('{NOTIFY_CHANNEL}', '') FROM added")


async def write(conn: asyncpg.Connection, event_id: uuid.UUID, topic: str, payload: str) -> None:
    """Add an event to the outbox in ``conn``'s transaction; the NOTIFY wakes the relays at commit."""
    await conn.execute(_WRITE, event_id, topic, payload)


class Relay:
    """Publishes one plugin database's pending outbox rows, claimed with FOR UPDATE SKIP LOCKED so that
    the relays of several workers share the work, each row marked sent after the broker's PUBACK."""

    BATCH = 200  # rows claimed and published at once (their PUBACKs are awaited together)

    def __init__(self, plugin: str, pool: asyncpg.Pool, bus: "EventBus"):
        self.plugin, self.pool, self.bus = plugin, pool, bus
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Publish ``plugin``'s pending outbox rows, whenever woken, until cancelled. Never dies of an
        error: a lost LISTEN connection is replaced, anything else is retried with backoff."""
        plugin, pool, wake, listener_lost = self.plugin, self.pool, self._wake, asyncio.Event()

        def on_notify(*_: Any) -> None:
            wake.set()

        def on_listener_closed(*_: Any) -> None:  # NOTIFYs would no longer reach us
            listener_lost.set()
            wake.set()

        listener: Any = None
        backoff = 0.1
        try:
            while True:
                wake.clear()
                timeout = self.bus.POLL_SECONDS
                try:
                    if listener is None or listener_lost.is_set():
                        if listener is not None:
                            log.warning("outbox relay of %s lost its LISTEN connection; listening again", plugin)
                            old, listener = listener, None
                            await pool.release(old)  # already closed: just hands the slot back
                        listener_lost.clear()
                        listener = await self._listen(pool, on_notify, on_listener_closed)
                    # LISTEN first, then look: a row committed in between is seen now or NOTIFYed later
                    client = self.bus.live_client()
                    if client is not None:
                        while await self._publish_batch(pool, client):
                            pass
                    backoff = 0.1
                except (aiomqtt.MqttError, asyncio.TimeoutError) as err:  # the reconnect wakes us
                    self.bus.report_outage("outbox relay of %s paused: %s", plugin, str(err) or type(err).__name__)
                except Exception as err:  # noqa: BLE001 - a relay that dies strands every later event
                    self.bus.quiet.warning(f"relay:{plugin}", "outbox relay of %s: %s: %s; retrying in %.1fs",
                                           plugin, type(err).__name__, err, backoff)
                    timeout, backoff = backoff, min(backoff * 2, self.bus.MAX_BACKOFF)
                stop_if_cancelled()  # a cancelled batch whose ROLLBACK failed must not keep the relay going
                # a NOTIFY, a reconnect, a lost listener, or the poll interval (covers anything missed)
                await wait_event(wake, timeout)
        finally:
            if listener is not None:
                await self._let_go(pool, listener, on_notify, on_listener_closed, lost=listener_lost.is_set())

    async def _let_go(self, pool: asyncpg.Pool, listener: Any, on_notify: Callable, on_closed: Callable,
                      lost: bool) -> None:
        """UNLISTEN and hand the LISTEN connection back, within half of ``[server] shutdown_timeout``
        (the bus waits for this task at most the whole of it). On a frozen backend the UNLISTEN (and the
        release's reset) would wait for the command timeout, or forever: the connection is closed instead."""
        try:
            async with asyncio.timeout(self.bus.shutdown_timeout / 2):
                if not lost:
                    with contextlib.suppress(Exception):
                        listener.remove_termination_listener(on_closed)
                        await listener.remove_listener(NOTIFY_CHANNEL, on_notify)
                await pool.release(listener)
        except Exception as err:  # noqa: BLE001 - a timeout or a broken connection: closing it is enough
            log.warning("outbox relay of %s: its LISTEN connection did not let go (%s); closed", self.plugin,
                        type(err).__name__)
            with contextlib.suppress(Exception):  # already handed back (and detached) if the reset was late
                listener.terminate()

    @staticmethod
    async def _listen(pool: asyncpg.Pool, on_notify: Callable, on_closed: Callable) -> Any:
        conn = await pool.acquire()
        try:
            conn.add_termination_listener(on_closed)
            await conn.add_listener(NOTIFY_CHANNEL, on_notify)
        except BaseException:
            with contextlib.suppress(Exception):
                conn.remove_termination_listener(on_closed)
            await pool.release(conn)
            raise
        return conn

    async def _publish_batch(self, pool: asyncpg.Pool, client: aiomqtt.Client) -> int:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, payload FROM outbox WHERE sent_at IS NULL ORDER BY id "
                "LIMIT $1 FOR UPDATE SKIP LOCKED", self.BATCH)
            if not rows:
                return 0
            sign = self.bus.sign
            if tracing.on:  # a span per event, continuing the trace its envelope carries
                from .tracing.spans import publish
                await asyncio.gather(*(publish(client, self.plugin, r["topic"], r["payload"], sign) for r in rows))
            else:
                await asyncio.gather(*(client.publish(r["topic"], sign(self.plugin, r["payload"]), qos=1, timeout=10)
                                       for r in rows))
            await conn.execute("UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
            return len(rows)


async def housekeeping(plugin: str, pool: asyncpg.Pool, outbox_keep: timedelta, inbox_keep: timedelta,
                       every: float) -> None:
    """Purge sent outbox rows, old inbox rows and old dead letters forever, so no table grows without end."""
    from .events.deadletter import purge as purge_dead_letters
    while True:
        try:
            await purge(pool, outbox_keep, inbox_keep)
            await purge_dead_letters(pool, inbox_keep)
        except Exception as err:  # noqa: BLE001 - next round will try again
            log.warning("event housekeeping of %s failed: %s", plugin, err)
        stop_if_cancelled()
        await asyncio.sleep(every)


async def pending_outbox(pool: asyncpg.Pool) -> int:
    """Events committed but not yet published (the admin dashboard shows this backlog)."""
    return await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")


async def purge(pool: asyncpg.Pool, outbox_keep: timedelta, inbox_keep: timedelta) -> tuple[int, int]:
    """Delete sent outbox rows older than ``outbox_keep`` and inbox rows older than ``inbox_keep``."""
    sent = await pool.execute("DELETE FROM outbox WHERE sent_at < now() - $1::interval", outbox_keep)
    seen = await pool.execute("DELETE FROM inbox WHERE received_at < now() - $1::interval", inbox_keep)
    return int(sent.split()[-1]), int(seen.split()[-1])
