"""Which event types some enabled endpoint wants, known per process, so that the others cost nothing.

Why: the plugin subscribes to every deliverable topic, and every worker receives every event, so each
event cost an inbox transaction per worker even in a shop without a single endpoint (what that cost
the checkout: docs/performance.md, "Issue 13 cost and win-back"). With this set, the bus skips a type
no enabled endpoint wants before opening a transaction (``subscribe(..., wants=)``).

Freshness: the set is read again every ``REFRESH_SECONDS`` (one small query per worker), and at once in
the worker that registers, enables or removes an endpoint. In another worker it may lag by that long;
an event it skipped meanwhile is delivered by catch-up from the producer's outbox (it has no inbox row,
and catch-up reads the last minute again every round). So an endpoint gets every event that occurs
after it is saved: live from at most ``REFRESH_SECONDS`` after, the ones before that within a few
seconds more. If the set cannot be read for ``STALE_SECONDS`` (database away), every type counts as
wanted: the plugin then works as it did without this set, never silently drops.
"""
from __future__ import annotations

import asyncio
import logging
import time

import asyncpg

from ecom.stopping import stop_if_cancelled

log = logging.getLogger("ecom.webhooks")

_WANTED = "SELECT DISTINCT unnest(event_types) FROM endpoints WHERE enabled"


class WantedTypes:
    REFRESH_SECONDS = 2.0
    STALE_SECONDS = 3 * REFRESH_SECONDS

    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool
        self._types: frozenset[str] = frozenset()
        self._read_at: float | None = None  # monotonic time of the last successful read; None: never

    def wants(self, name: str) -> bool:
        """True if an enabled endpoint wants ``name`` (or the set is not known well enough to say no)."""
        read_at = self._read_at
        if read_at is None or time.monotonic() - read_at > self.STALE_SECONDS:
            return True
        return name in self._types

    async def refresh(self) -> None:
        started = time.monotonic()  # an endpoint saved during the read counts as after it
        rows = await self.pool.fetch(_WANTED)
        if self._read_at is None or started >= self._read_at:  # an older read finishing late changes nothing
            self._types = frozenset(r[0] for r in rows)
            self._read_at = started

    async def changed(self) -> None:
        """An endpoint was saved, enabled or removed in this worker: read the set now (best effort: if
        that fails, the loop reads it within REFRESH_SECONDS and catch-up delivers what was skipped)."""
        try:
            await self.refresh()
        except Exception as err:  # noqa: BLE001 - the endpoint is saved; the loop reads the set soon
            log.debug("webhooks: wanted event types not refreshed: %r", err)

    async def loop(self, stopping: asyncio.Event) -> None:
        """Refresh every REFRESH_SECONDS until ``stopping`` is set."""
        while not stopping.is_set():
            try:
                await self.refresh()
            except Exception as err:  # noqa: BLE001 - this loop must outlive any failure (else: all wanted)
                log.debug("webhooks: wanted event types not refreshed: %r", err)
                stop_if_cancelled()  # a cancellation turned into another error (ecom/stopping.py) ends the loop
            try:
                await asyncio.wait_for(stopping.wait(), self.REFRESH_SECONDS)
            except asyncio.TimeoutError:
                pass
