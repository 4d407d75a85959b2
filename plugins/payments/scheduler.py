"""The payment scheduler: one per worker, all racing safely (rows are claimed FOR UPDATE SKIP LOCKED).

The due time lives in the database, so a payment recorded by a worker that dies is processed by
whichever scheduler runs next. A scheduler sleeps until the next due time (at most ``MAX_SLEEP``) and
is woken early by the NOTIFY that recording a payment sends, so a delay of 0 is near-immediate.
Every ``KEY_SWEEP_SECONDS`` it also deletes expired card keys: a token nobody paid with stops opening.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from ecom.aio import wait_event
from ecom.logs import LoopLog
from ecom.stopping import stop_if_cancelled

from .db import DUE_CHANNEL
from .service import PaymentsService

log = logging.getLogger("ecom.plugins.payments")


class Scheduler:
    MAX_SLEEP = 1.0       # look at least this often (covers a NOTIFY missed while reconnecting)
    MIN_SLEEP = 0.02      # a due payment another worker holds: let it commit instead of spinning
    MAX_BACKOFF = 3.0
    KEY_SWEEP_SECONDS = 5.0  # an expired card key outlives its TTL by at most about this long

    def __init__(self, pool: asyncpg.Pool, service: PaymentsService):
        self.pool, self.service = pool, service
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._listener: Any = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="payments-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    def _on_listener_closed(self, *_: Any) -> None:
        self._listener_lost = True
        self._wake.set()

    async def _listen(self) -> None:
        """A pooled connection LISTENing for new payments (replaced when it is lost)."""
        if self._listener is not None:
            old, self._listener = self._listener, None
            with contextlib.suppress(Exception):
                await self.pool.release(old)
        self._listener_lost = False
        conn = await self.pool.acquire()
        try:
            conn.add_termination_listener(self._on_listener_closed)
            await conn.add_listener(DUE_CHANNEL, self._on_notify)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.pool.release(conn)
            raise
        self._listener = conn

    async def _run(self) -> None:
        backoff = 0.1
        self._listener_lost = True
        quiet = LoopLog(log, "the payment scheduler")
        loop = asyncio.get_running_loop()
        next_key_sweep = loop.time()
        try:
            while True:
                self._wake.clear()
                try:
                    if self._listener_lost:
                        await self._listen()
                    # LISTEN first, then look: a payment recorded in between is seen now or NOTIFYed later
                    while await self.service.process_due() >= self.service.config.scheduler_batch:
                        pass
                    if loop.time() >= next_key_sweep:
                        await self.service.forget_expired_card_keys()
                        next_key_sweep = loop.time() + self.KEY_SWEEP_SECONDS
                    due_in = await self.service.seconds_until_due()
                    timeout = self.MAX_SLEEP if due_in is None else min(self.MAX_SLEEP, max(self.MIN_SLEEP, due_in))
                    backoff = 0.1
                    quiet.ok()
                except Exception as err:  # noqa: BLE001 - a dead scheduler would strand every payment
                    quiet.failed(err)
                    timeout, backoff = backoff, min(backoff * 2, self.MAX_BACKOFF)
                    stop_if_cancelled()  # stop() cancelled us and a failing ROLLBACK raised another error
                await wait_event(self._wake, timeout)
        finally:
            if self._listener is not None:
                conn, self._listener = self._listener, None
                with contextlib.suppress(Exception):
                    conn.remove_termination_listener(self._on_listener_closed)
                    await conn.remove_listener(DUE_CHANNEL, self._on_notify)
                with contextlib.suppress(Exception):
                    await self.pool.release(conn)
