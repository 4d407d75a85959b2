"""Watching the embedded PostgreSQL from the process that started it.

A ``kill -9`` of the postmaster used to go unnoticed: nobody restarted it and the shop did not exit, so
neither the supervisor nor systemd could act. Two answers, one per way of running:

- the supervisor (``--instances N``) restarts it (:func:`keep_postgres_running`) with back-off and a
  bounded budget (ecom.restarts); the workers' pools drop their dead connections and open new ones;
- a single-process ``run.py`` exits non-zero instead (:func:`postgres_exit`): its own pools, LISTEN
  connections and caches would all need the same care, and systemd's ``Restart=on-failure`` does a
  clean restart of the whole in a second or two.

We watch the postmaster as our own child (``Popen.poll``), not its pid file: a child's death is certain.
"""
from __future__ import annotations

import asyncio
import logging
import time

from .aio import wait_event
from .embedded import EmbeddedPostgres, EmbeddedPostgresError
from .restarts import GiveUp, RestartBudget

log = logging.getLogger("ecom.embedded")
POLL_SECONDS = 0.25
READY_TIMEOUT = 60.0  # crash recovery replays the WAL written since the last checkpoint


async def postgres_exit(pg: EmbeddedPostgres, stopping: asyncio.Event) -> str | None:
    """Wait until PostgreSQL dies (-> the one line to exit with) or ``stopping`` is set (-> None)."""
    while not await wait_event(stopping, POLL_SECONDS):
        if not pg.running:
            code = pg.process.returncode if pg.process is not None else None
            return f"PostgreSQL (embedded, {pg.pgdata}) exited with status {code}; stopping so it can be restarted"
    return None


async def _start(pg: EmbeddedPostgres, stopping: asyncio.Event) -> None:
    pg.spawn()  # on the loop's thread: the server's parent-death signal follows this thread
    deadline = time.monotonic() + READY_TIMEOUT
    while not pg.poll_ready():
        if time.monotonic() > deadline:
            pg.process.kill()
            raise EmbeddedPostgresError(f"PostgreSQL did not become ready in {READY_TIMEOUT:.0f} s")
        if await wait_event(stopping, 0.05):
            return


async def keep_postgres_running(pg: EmbeddedPostgres, stopping: asyncio.Event) -> str | None:
    """Restart PostgreSQL whenever it dies; None when stopped, else the one line saying why we gave up."""
    budget = RestartBudget(f"PostgreSQL (embedded, {pg.pgdata})")
    while True:
        died = await postgres_exit(pg, stopping)
        if died is None:
            return None
        while True:  # a failed start (old backends still holding shared memory a moment) is another death
            try:
                delay = budget.next_delay()
            except GiveUp as err:
                log.error("%s", err)
                return str(err)
            log.warning("PostgreSQL exited with status %s; restarting in %.0f s",
                        pg.process.returncode if pg.process else None, delay)
            if await wait_event(stopping, delay):
                return None
            try:
                await _start(pg, stopping)
            except EmbeddedPostgresError as err:
                log.error("PostgreSQL did not start again: %s", str(err).splitlines()[0])
                continue
            budget.started()
            log.info("PostgreSQL is back (pid %s)", pg.process.pid)
            break
