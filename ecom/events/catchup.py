"""Catch-up: the broker is the doorbell, the outbox is the mailbox.

Every few seconds, on start and after every reconnect, each consumer (a subscribed handler) reads the
outbox of its topic's owner for events it has neither applied (inbox) nor parked (final dead letter)
and delivers them through the normal handler path. So an event acked and then lost -- by a broker
that was killed, a consumer database that was away while the message came, a lost subscription --
still arrives within seconds. The producer's database is reached through the core's pools
(``EventBus._pools``), never through the producer plugin's code or tables.

A cursor per (consumer, producer) in the consumer's database says up to which outbox id everything is
settled. Outbox ids are not committed in id order (a transaction may take a lower id and commit
later), so the cursor only moves past rows that are both handled and older than ``settle`` (well over
any transaction's duration); the rows after it are re-read every round, cheaply: ids first, an
anti-join against the inbox, payloads only for the missing ones. A session advisory lock in the
consumer's database lets one worker at a time catch up a given consumer.

A consumer whose ``wants`` (see PluginEvents.subscribe) says False skips the rows of the round: no
inbox row, and the cursor moves past them once settled. Rows younger than ``settle`` are read again
next round, so an event skipped while ``wants`` lagged the truth (an endpoint saved in another worker a
moment ago) is delivered as soon as ``wants`` says True, if that is within ``settle`` of the event.

A new consumer's cursor starts at the newest settled row: catch-up repairs losses from then on and
does not replay the outbox's whole history into a handler added in a later release.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg

from ..aio import wait_event
from ..db import mark_session_state
from ..stopping import stop_if_cancelled
from .envelope import Envelope
from .registry import owner_of

if TYPE_CHECKING:
    from .bus import EventBus, _Subscription

log = logging.getLogger("ecom.events")

_MISSING = ("SELECT e.event_id FROM unnest($1::uuid[]) AS e(event_id) WHERE NOT EXISTS "
            "(SELECT 1 FROM inbox i WHERE i.event_id = e.event_id AND i.consumer = $2) AND NOT EXISTS "
            "(SELECT 1 FROM dead_letter d WHERE d.event_id = e.event_id AND d.consumer = $2 AND d.kind <> 'untrusted')")


def lock_key(consumer: str, producer: str) -> int:
    """A stable signed 64-bit advisory lock key for one (consumer, producer) pair."""
    return int.from_bytes(hashlib.sha256(f"catch-up:{consumer}:{producer}".encode()).digest()[:8], "big", signed=True)


class CatchUp:
    EVERY = 3.0                          # seconds between rounds (also woken on start and reconnect)
    # Younger rows are left to the live path this round. A live delivery waiting in its consumer's lane
    # (mails and invoices lag seconds behind a checkout burst) is not lost, only late: with 1 s, catch-up
    # re-read and delivered hundreds of them per burst while their live copies were queued, to find
    # them duplicates a moment later. What the broker really lost still arrives within GRACE + EVERY.
    GRACE = timedelta(seconds=3)
    BATCH = 5000                         # outbox ids read per query
    PARALLEL = 16                        # deliveries at once within a round

    def __init__(self, bus: "EventBus", settle: timedelta):
        self.bus, self.settle = bus, settle
        self._wake = asyncio.Event()
        self.last_round: dict[str, float] = {}   # consumer -> seconds the last round took (the dashboard)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.round()
            except Exception as err:  # noqa: BLE001 - the next round tries again
                self.bus.quiet.warning("catch-up", "event catch-up round failed: %s: %s", type(err).__name__, err)
            stop_if_cancelled()
            await wait_event(self._wake, self.EVERY)

    async def round(self) -> int:
        """One pass over every consumer of this process; the number of events delivered."""
        delivered = 0
        for sub in self.bus.handlers():
            producer = owner_of(sub.cls.TOPIC)
            source = self.bus._pools.get(producer)
            if source is None:  # this process does not host the producer's database
                continue
            try:
                delivered += await self.consumer(sub, producer, source)
            except Exception as err:  # noqa: BLE001 - one consumer's database away must not stop the rest
                self.bus.quiet.warning(f"catch-up:{sub.consumer}", "catch-up of %s from %s failed: %s: %s",
                                       sub.consumer, producer, type(err).__name__, err)
        return delivered

    async def consumer(self, sub: "_Subscription", producer: str, source: asyncpg.Pool) -> int:
        """Catch ``sub`` up from ``producer``'s outbox (unless another worker is doing it right now)."""
        started = asyncio.get_running_loop().time()
        key = lock_key(sub.consumer, producer)
        async with sub.pool.acquire() as conn:
            mark_session_state(conn)  # a session lock: if the unlock below never runs, the release frees it
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                return 0
            try:
                delivered = await self._locked(conn, sub, producer, source)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", key)
        self.last_round[sub.consumer] = asyncio.get_running_loop().time() - started
        return delivered

    async def _cursor(self, conn: asyncpg.Connection, sub: "_Subscription", producer: str,
                      source: asyncpg.Pool) -> int:
        cursor = await conn.fetchval("SELECT last_id FROM event_cursor WHERE consumer = $1 AND producer = $2",
                                     sub.consumer, producer)
        if cursor is None:
            start = await source.fetchval("SELECT coalesce(max(id), 0) FROM outbox WHERE created_at < now() - $1::interval",
                                          self.settle)
            cursor = await conn.fetchval(
                "INSERT INTO event_cursor (consumer, producer, last_id) VALUES ($1, $2, $3) "
                "ON CONFLICT (consumer, producer) DO UPDATE SET consumer = excluded.consumer RETURNING last_id",
                sub.consumer, producer, start)
        return cursor

    async def _locked(self, conn: asyncpg.Connection, sub: "_Subscription", producer: str,
                      source: asyncpg.Pool) -> int:
        cursor = await self._cursor(conn, sub, producer, source)
        delivered = 0
        while True:
            rows = await source.fetch(
                "SELECT id, event_id, created_at < now() - $3::interval AS settled, "
                "created_at < now() - $4::interval AS due FROM outbox "
                "WHERE id > $1 AND topic = $2 ORDER BY id LIMIT $5",
                cursor, sub.cls.TOPIC, self.settle, self.GRACE, self.BATCH)
            if not rows:
                return delivered
            if sub.wanted():
                missing = {r["event_id"] for r in await conn.fetch(_MISSING, [r["event_id"] for r in rows], sub.consumer)}
            else:  # skipped (subscribe(wants=)): handled, as the live path counts it; the cursor moves on
                missing = set()
            due = [r["id"] for r in rows if r["event_id"] in missing and r["due"]]
            handled = await self._deliver(sub, producer, source, due)
            delivered += len(handled)
            missing -= handled
            advanced = cursor
            for r in rows:  # past a prefix of settled, handled rows only
                if not r["settled"] or r["event_id"] in missing:
                    break
                advanced = r["id"]
            if advanced != cursor:
                await conn.execute("UPDATE event_cursor SET last_id = $3, updated_at = now() "
                                   "WHERE consumer = $1 AND producer = $2", sub.consumer, producer, advanced)
                cursor = advanced
            if len(rows) < self.BATCH or advanced != rows[-1]["id"]:
                return delivered

    async def _deliver(self, sub: "_Subscription", producer: str, source: asyncpg.Pool, ids: list[int]) -> set:
        """Deliver the outbox rows ``ids`` to ``sub``; the event ids now handled (applied or parked)."""
        if not ids:
            return set()
        rows = await source.fetch("SELECT payload FROM outbox WHERE id = ANY($1::bigint[]) ORDER BY id", ids)
        handled: set = set()
        gate = asyncio.Semaphore(self.PARALLEL)

        async def one(payload: str) -> None:
            env = Envelope.from_json(payload, producer)  # from the producer's own database: trusted
            async with gate:
                outcome = await self.bus.dispatcher.deliver(sub, env, payload)
            if outcome not in ("deferred", "busy"):  # busy: another transaction applies it now
                handled.add(env.id)
        results = await asyncio.gather(*(one(r["payload"]) for r in rows), return_exceptions=True)
        for err in results:
            if isinstance(err, Exception):
                self.bus.quiet.warning(f"catch-up-row:{sub.consumer}", "catch-up of %s: unreadable outbox row: %s",
                                       sub.consumer, err)
        if handled:
            log.info("catch-up delivered %d event(s) from %s's outbox to %s", len(handled), producer, sub.consumer)
        return handled


def settle_time(command_timeout: float) -> timedelta:
    """Longer than any transaction that may still commit a lower outbox id: twice the command timeout, >= 60 s."""
    return timedelta(seconds=max(60.0, 2 * command_timeout + 5))
