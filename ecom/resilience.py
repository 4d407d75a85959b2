"""Fail fast when a plugin's database is away, instead of letting requests pile up behind it.

Three parts, all per plugin database and per process:

- **Web limits** (:class:`RequestLimits`): inside a web request (the error middleware sets
  :data:`WEB`), waiting for a pooled connection is bounded by ``database.acquire_timeout`` and each
  statement by ``database.request_statement_timeout``, so a frozen PostgreSQL costs a request a few
  seconds, not the freeze's length. Background work (relays, sweepers, imports) keeps
  ``database.command_timeout``: it has no person waiting and may run long statements.
  A COMMIT always keeps the long timeout: giving up on a COMMIT whose outcome is unknown would make
  checkout release the stock of an order that may have committed (an oversell). A ROLLBACK gets a
  short one: if it does not answer, the connection is dropped and the server rolls back anyway.
- **A circuit breaker** (:class:`Breaker`, purgatory's state model: closed, opened, half-opened).
  Outages seen on the pool's connections (refused, lost, timed out) count; after
  ``database.breaker_threshold`` in a row the breaker opens and every web request's acquire fails at
  once with :class:`DependencyUnavailable` (a 503 with Retry-After) for
  ``database.breaker_reset_seconds``; then the next callers go through (half-open) and the first
  success closes it. Background work is never refused (nobody waits on it; its loops back off), but
  its outages count, and any statement it gets answered closes the circuit at once. A statement that timed out also drops its connection, so the pool never waits
  for a cancellation the frozen server cannot answer.
- **Bounded retries with jitter** (:func:`retry_read`) for idempotent reads only: a connection the
  server dropped (restart, failover) fails once; the retry gets a fresh one. Never for writes.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Awaitable, Callable, TypeVar

from aiohttp import web
from purgatory.domain.model import CLOSED, Context, HalfOpenedState, OpenedState

from .metrics import CIRCUIT_REFUSED, CIRCUIT_STATE, CIRCUIT_STATES

log = logging.getLogger("ecom.resilience")
T = TypeVar("T")

ROLLBACK_TIMEOUT = 0.5  # web requests: a ROLLBACK that does not answer by then drops the connection


@dataclass(frozen=True)
class RequestLimits:
    """Timeouts for database work done on behalf of a waiting person (a web request)."""
    acquire_timeout: float
    statement_timeout: float


# Set by the error middleware for the length of each request; None in background tasks.
WEB: ContextVar[RequestLimits | None] = ContextVar("ecom_web_limits", default=None)
WEB_LIMITS = web.AppKey("ecom_web_limits", RequestLimits)


class DependencyUnavailable(ConnectionError):
    """A dependency (a plugin's database) is known to be away: refused without trying.

    A ConnectionError, so every place that already treats outages as passing (``ecom.db.OUTAGES``:
    event handlers retry later, background loops back off) treats this one alike."""

    def __init__(self, name: str, retry_after: int):
        super().__init__(f"{name} is unavailable (circuit open, retry in {retry_after} s)")
        self.name, self.retry_after = name, retry_after


class Breaker:
    """purgatory's circuit state for one dependency, driven synchronously (no await on the hot path).

    purgatory's async factory routes every state change through a message bus and a unit of work;
    in one process with an in-memory store those only copy the state the Context already holds, so
    the pools drive the Context directly: a check is a few attribute reads."""

    def __init__(self, name: str, threshold: int, reset_after: float):
        self.name = name
        self._ctx = Context(name, threshold, reset_after)
        self.failures = self.refused = 0  # outages seen; calls refused without trying (tests, metrics)
        # visible to operators: /metrics (ecom/metrics.py) and /healthz (ecom/health.py)
        self._state_metric, self._refused_metric = CIRCUIT_STATE.labels(name), CIRCUIT_REFUSED.labels(name)
        self._state_metric.set(CIRCUIT_STATES[CLOSED])

    @property
    def state(self) -> str:
        return self._ctx.state

    @property
    def recovering(self) -> bool:
        """True when a success would change something (failures counted, or not closed)."""
        return self._ctx.state != CLOSED or bool(self._ctx.failure_count)

    def check(self) -> None:
        """Raise DependencyUnavailable while the circuit is open (half-opens after reset_after)."""
        if self._ctx.state == CLOSED:
            return
        before = self._ctx.state
        try:
            self._ctx.handle_new_request()
        except OpenedState as opened:
            self.refused += 1
            self._refused_metric.inc()
            left = opened.opened_at + self._ctx.ttl - time.time()
            raise DependencyUnavailable(self.name, max(1, round(left))) from None
        finally:
            self._settle(before)

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        before = self._ctx.state
        self._ctx.handle_exception(exc)
        self._settle(before, exc)

    def succeeded(self) -> None:
        """A statement was answered. While open, that is proof the database is back (background work runs
        while requests are refused): close at once rather than refuse requests until the next trial,
        which on a worker with no traffic could be breaker_reset_seconds after the return."""
        if self.recovering:
            before = self._ctx.state
            if before == "opened":
                self._ctx.set_state(HalfOpenedState())
            self._ctx.handle_end_request()
            self._settle(before)

    def _settle(self, before: str, exc: BaseException | None = None) -> None:
        self._ctx.messages.clear()  # purgatory's events, for its store: ours is the Context itself
        after = self._ctx.state
        if after == before:
            return
        self._state_metric.set(CIRCUIT_STATES.get(after, CIRCUIT_STATES["opened"]))
        if before == CLOSED:  # once per outage at warning level; its trials and re-openings at info
            log.warning("database %s: circuit opened for %.0f s after %s: %s", self.name, self._ctx.ttl,
                        type(exc).__name__, exc)
        elif after == CLOSED:
            log.warning("database %s: circuit closed, the database answers again", self.name)
        else:
            log.info("database %s: circuit %s", self.name, after)


async def retry_read(read: Callable[[], Awaitable[T]], *, attempts: int = 3, base: float = 0.05,
                     cap: float = 0.5) -> T:
    """``await read()``, again (up to ``attempts`` in all) after a lost connection, with full jitter.

    Only for idempotent reads. Not after a timeout (a second wait would double a person's wait) nor an
    open circuit (the point is to not try): those go up at once."""
    from .db import OUTAGES  # here: ecom.db imports this module
    for attempt in range(1, attempts + 1):
        try:
            return await read()
        except (TimeoutError, DependencyUnavailable):
            raise
        except OUTAGES:
            if attempt == attempts:
                raise
            await asyncio.sleep(random.uniform(0, min(cap, base * 2 ** attempt)))
    raise AssertionError("unreachable")


def web_limits(database) -> RequestLimits:
    """The web-request limits of a ``[database]`` config section."""
    return RequestLimits(database.acquire_timeout, database.request_statement_timeout)


def pool_guard(database, name: str) -> dict:
    """``db.create_pool`` keyword arguments for plugin ``name``'s pool: its connect timeout and breaker."""
    return {"connect_timeout": database.connect_timeout,
            "breaker": Breaker(name, database.breaker_threshold, database.breaker_reset_seconds)}
