"""Emit an event as its owner and wait for one, through the real outbox, broker and signatures.

Why as the owner: a consumer accepts a topic only when signed by the plugin that owns it (DESIGN §5),
so a plugin's tests must produce its inputs the way the producer would, not call the handler directly.

The core is imported inside the calls: a pytest run that uses none of these fixtures (the kit is a
`pytest11` plugin, loaded by every run in an environment where ecom is installed) imports no app.
"""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar


E = TypeVar("E")
CONSUMER = "ecom.testing"  # the name the probe's listeners go by in the bus's logs


class EventProbe:
    """``ecom_events``: ``await emit(client, obj)``; ``await wait_for(client, Cls, predicate)``.

    ``wait_for`` sees events published from the moment it starts listening, and (when the owner plugin
    runs in this app) every event of the type its owner wrote since this probe was made: so an event
    emitted just before ``wait_for`` is called is not missed, and one from an earlier test is not taken."""

    POLL_SECONDS = 0.1

    def __init__(self) -> None:
        self.since = datetime.now(timezone.utc)
        self._stop: list[Callable[[], None]] = []

    async def emit(self, client, obj: Any) -> uuid.UUID:
        """Publish ``obj`` signed as its topic's owner. With the owner plugin in this app, through its
        outbox (a transaction of its database; its relay publishes after commit, as in production);
        otherwise straight to the broker, signed with the owner's key (a consumer tested alone)."""
        from ..app import EVENT_BUS, POOLS
        from ..events import Envelope, PluginEvents, owner_of
        app, env = client.app, Envelope.wrap(obj)
        owner = owner_of(env.type)
        pool = app[POOLS].get(owner)
        if pool is not None:
            async with pool.acquire() as conn, conn.transaction():
                return await PluginEvents(app[EVENT_BUS], owner, pool).emit(conn, obj)
        await self._publish_signed(app[EVENT_BUS], owner, env)
        return env.id

    async def _publish_signed(self, bus, owner: str, env, timeout: float = 15.0) -> None:
        """Publish ``env`` signed as ``owner`` on the app's own broker connection, as the owner's relay
        would. A connection lost on the way is retried until ``timeout``: publishing the same event twice
        is safe (consumers dedupe by its id), a test failing on a busy machine's reconnect is not."""
        import aiomqtt
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        wire = bus.sign(owner, env.to_json())
        while True:
            mqtt = bus.live_client()
            if mqtt is not None:
                try:
                    await mqtt.publish(env.type, wire, qos=1, timeout=bus.MQTT_TIMEOUT)
                    return
                except (aiomqtt.MqttError, asyncio.TimeoutError):
                    pass
            if loop.time() > deadline:
                raise AssertionError("the app's event bus is not connected to the broker")
            await asyncio.sleep(self.POLL_SECONDS)

    async def wait_for(self, client, cls: type[E], predicate: Callable[[E], bool] | None = None,
                       timeout: float = 15.0) -> E:
        """The first ``cls`` event for which ``predicate(event)`` is true; AssertionError after ``timeout``."""
        from ..app import EVENT_BUS, POOLS
        from ..events import PluginEvents, owner_of
        match = predicate or (lambda _: True)
        found: asyncio.Future[E] = asyncio.get_running_loop().create_future()

        def heard(event: E) -> None:
            if not found.done() and match(event):
                found.set_result(event)

        app = client.app
        stop = PluginEvents(app[EVENT_BUS], CONSUMER, None).listen(cls, heard)  # type: ignore[arg-type]
        self._stop.append(stop)
        try:
            pool = app[POOLS].get(owner_of(cls.TOPIC))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not found.done():
                if pool is not None:
                    for event in await self._written(pool, cls):
                        heard(event)
                left = deadline - loop.time()
                if left <= 0:
                    break
                await asyncio.wait([found], timeout=min(left, self.POLL_SECONDS))
            if not found.done():
                raise AssertionError(f"no {cls.__name__} ({cls.TOPIC}) matching the predicate within {timeout}s")
            return found.result()
        finally:
            stop()
            self._stop.remove(stop)

    async def _written(self, pool, cls: type[E]) -> list[E]:
        """``cls`` events its owner wrote to its outbox since this probe was made, oldest first."""
        from ..events import Envelope
        rows = await pool.fetch("SELECT payload FROM outbox WHERE topic = $1 AND created_at >= $2 ORDER BY id",
                                cls.TOPIC, self.since)
        return [Envelope.from_json(row["payload"]).payload_as(cls) for row in rows]

    def close(self) -> None:
        """Remove listeners a cancelled wait left behind."""
        for stop in self._stop:
            stop()
        self._stop.clear()
