"""System health for operators and the admin dashboard: every worker, every database, the broker,
and the outbox backlog (events committed but not yet published).

Each process publishes a :class:`Heartbeat` every few seconds (QoS 0, no outbox: it is news, not a fact
to keep) and listens to everyone's, so any worker can tell which workers are alive.
"""
from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import asyncpg
from aiohttp import web

from .events import EventBus, event
from .outbox import pending_outbox

INTERVAL = 5.0
STALE_AFTER = 3 * INTERVAL


@event("ecom/system/heartbeat")
@dataclass(frozen=True)
class Heartbeat:
    """Topic ``ecom/system/heartbeat``, every 5 s from every app process:
    ``{"name": "worker-2", "pid": 1234, "started_at": ISO-8601, "broker": true}``."""
    name: str
    pid: int
    started_at: str


@dataclass(frozen=True)
class WorkerState:
    name: str
    pid: int
    started_at: str
    seconds_since_heartbeat: float

    @property
    def alive(self) -> bool:
        return self.seconds_since_heartbeat < STALE_AFTER


class Health:
    def __init__(self, name: str, bus: EventBus, pools: dict[str, asyncpg.Pool]):
        self.name, self.bus, self.pools = name, bus, pools
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._seen: dict[str, tuple[Heartbeat, float]] = {}
        self._beat: Heartbeat | None = None
        self._greetings: set[asyncio.Task] = set()
        bus.listen(Heartbeat, self._on_heartbeat)

    def _on_heartbeat(self, beat: Heartbeat) -> None:
        newcomer = beat.name not in self._seen and beat.name != self.name
        self._seen[beat.name] = (beat, time.monotonic())
        if newcomer and self._beat is not None:  # greet a new worker at once, so it need not wait a round
            task = asyncio.get_running_loop().create_task(self.bus.publish_now(self._beat))
            self._greetings.add(task)
            task.add_done_callback(self._greetings.discard)

    async def run(self) -> None:
        """Publish this process's heartbeat forever (cancelled at shutdown)."""
        beat = self._beat = Heartbeat(self.name, os.getpid(), self.started_at)
        while True:
            self._on_heartbeat(beat)  # we know we are alive even while the broker is away
            await self.bus.publish_now(beat)
            await asyncio.sleep(INTERVAL)

    def workers(self) -> list[WorkerState]:
        now = time.monotonic()
        return sorted((WorkerState(b.name, b.pid, b.started_at, round(now - seen, 1))
                       for b, seen in self._seen.values()), key=lambda w: w.name)

    async def snapshot(self) -> dict:
        """Databases (reachable, latency, outbox backlog), broker, workers."""
        databases = {}
        for plugin, pool in self.pools.items():
            started = time.perf_counter()
            try:
                async with asyncio.timeout(2):
                    backlog = await pending_outbox(pool)
                databases[plugin] = {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                                     "outbox_backlog": backlog}
            except Exception as err:  # noqa: BLE001 - reported, not raised
                databases[plugin] = {"ok": False, "error": type(err).__name__, "outbox_backlog": None}
        return {"process": self.name, "broker": {"connected": self.bus.connected}, "databases": databases,
                "workers": [dict(w.__dict__, alive=w.alive) for w in self.workers()]}


HEALTH = web.AppKey("ecom.health", Health)
