"""System health for operators and the admin dashboard: every worker, every database, the broker, the
outbox backlog, dead letters, and whether events actually flow.

Each process publishes a signed :class:`Heartbeat` every ``INTERVAL`` seconds (QoS 0, no outbox: it is
news, not a fact to keep) and listens to everyone's, so any worker can tell which workers are alive.
The heartbeat is also this process's liveness probe: it is subscribed to its own topic, so its own
beat coming back proves end to end that the broker accepts our publishes and that our subscriptions
deliver. A connection can look fine while they do not (a session taken over by a CONNECT with our
client id, a frozen broker whose sockets stay open). No beat back for ``PROBE_DEADLINE`` while
connected: the events are "not flowing" (readiness says so, one warning is logged), the process
re-subscribes; still nothing after another deadline: it drops and re-establishes the connection.
"""
from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import asyncpg
from aiohttp import web

from .events import EventBus, event
from .events.deadletter import summary as dead_letter_summary
from .outbox import pending_outbox

INTERVAL = 2.0
PROBE_DEADLINE = 6.0
STALE_AFTER = 3 * INTERVAL + 1


@event("ecom/system/heartbeat")
@dataclass(frozen=True)
class Heartbeat:
    """Topic ``ecom/system/heartbeat`` (owner: the core, signed with the ``system`` key), every 2 s from
    every app process: ``{"name": "worker-2", "pid": 1234, "started_at": ISO-8601, "probe": "<uuid>"}``.
    ``probe`` is unique per process (several apps may share a name and pid in tests)."""
    name: str
    pid: int
    started_at: str
    probe: str = ""


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
        self.probe_id = uuid.uuid4().hex
        self._seen: dict[str, tuple[Heartbeat, float]] = {}
        self._beat: Heartbeat | None = None
        self._greetings: set[asyncio.Task] = set()
        self._probe_back: float | None = None   # monotonic time our own beat last came back
        self._repair_at: float | None = None    # when the last repair step was taken
        self._repairs = 0                       # steps taken in this outage (1 = resubscribed, 2+ = reconnected)
        self._started = time.monotonic()
        bus.listen(Heartbeat, self._on_heartbeat)

    def _on_heartbeat(self, beat: Heartbeat) -> None:
        if beat.probe == self.probe_id:
            self._probe_back = time.monotonic()
            self._repairs = 0
            self.bus.report_flowing()
            return
        newcomer = beat.name not in self._seen and beat.name != self.name
        self._seen[beat.name] = (beat, time.monotonic())
        if newcomer and self._beat is not None:  # greet a new worker at once, so it need not wait a round
            task = asyncio.get_running_loop().create_task(self.bus.publish_now(self._beat))
            self._greetings.add(task)
            task.add_done_callback(self._greetings.discard)

    @property
    def flowing(self) -> bool:
        """Our own probe came back within the deadline, or the connection is younger than that and no
        repair is under way (a fresh connection gets the benefit of the doubt for one deadline)."""
        if not self.bus.connected:
            return False
        now = time.monotonic()
        if self._probe_back is not None and now - self._probe_back <= PROBE_DEADLINE:
            return True
        connected_at = self.bus.connected_at
        return self._repairs == 0 and connected_at is not None and now - connected_at <= PROBE_DEADLINE

    def check(self) -> None:
        """One liveness step: nothing back for a deadline -> re-subscribe; still nothing -> reconnect."""
        now = time.monotonic()
        if not self.bus.connected or self.flowing:
            return
        last = max(self._probe_back or 0.0, self._repair_at or 0.0, self._started, self.bus.connected_at or 0.0)
        if now - last <= PROBE_DEADLINE:
            return
        self._repair_at = now
        self._repairs += 1
        if self._repairs == 1:
            self.bus.report_outage("events not flowing: no liveness probe back for %.0f s; re-subscribing",
                                   PROBE_DEADLINE)
            self.bus.resubscribe()
        else:
            self.bus.report_outage("events still not flowing; re-establishing the MQTT connection")
            self.bus.reconnect()

    async def run(self) -> None:
        """Publish this process's heartbeat (the probe) and check that it comes back, until cancelled."""
        self._started = time.monotonic()
        beat = self._beat = Heartbeat(self.name, os.getpid(), self.started_at, self.probe_id)
        while True:
            self._seen[beat.name] = (beat, time.monotonic())  # we know we are alive even while the broker is away
            self.check()
            await self.bus.publish_now(beat)
            await asyncio.sleep(INTERVAL)

    def workers(self) -> list[WorkerState]:
        now = time.monotonic()
        return sorted((WorkerState(b.name, b.pid, b.started_at, round(now - seen, 1))
                       for b, seen in self._seen.values()), key=lambda w: w.name)

    async def snapshot(self) -> dict:
        """Databases (reachable, latency, outbox backlog, dead letters), broker, events flowing, workers."""
        databases = {}
        for plugin, pool in self.pools.items():
            started = time.perf_counter()
            try:
                async with asyncio.timeout(2):
                    backlog = await pending_outbox(pool)
                    dead = await dead_letter_summary(pool)
                databases[plugin] = {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                                     "outbox_backlog": backlog, "dead_letters": dead}
            except Exception as err:  # noqa: BLE001 - reported, not raised
                databases[plugin] = {"ok": False, "error": type(err).__name__, "outbox_backlog": None,
                                     "dead_letters": None}
        return {"process": self.name, "broker": {"connected": self.bus.connected}, "circuits": circuits(self.pools),
                "events": {"flowing": self.flowing}, "databases": databases,
                "workers": [dict(w.__dict__, alive=w.alive) for w in self.workers()]}


def circuits(pools: dict[str, asyncpg.Pool]) -> dict[str, str]:
    """The circuit breaker state of each plugin database of this process: closed, half-opened, opened."""
    return {name: pool.breaker.state for name, pool in pools.items() if getattr(pool, "breaker", None) is not None}


def liveness(pools: dict[str, asyncpg.Pool]) -> dict:
    """/healthz's body: ``ok``, or ``degraded`` with the plugin databases whose circuit is not closed.

    Always with a 200: this process serves (what needs such a database answers 503 at once, the rest
    works), and that database is away for every worker alike, so a load balancer that took this worker
    out would only take the rest of the shop with it, and the supervisor must not replace it either."""
    not_closed = sorted(name for name, state in circuits(pools).items() if state != "closed")
    return {"status": "degraded", "open_circuits": not_closed} if not_closed else {"status": "ok"}


HEALTH = web.AppKey("ecom.health", Health)
