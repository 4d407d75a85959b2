"""Events over MQTT with a transactional outbox and a deduplicating inbox (DESIGN §5).

Declaring an event (next to its dataclass, documented like a public API)::

    @event("ecom/payments/requested")
    @dataclass(frozen=True)
    class PaymentRequested:
        order_id: str
        amount_cents: int

Producing: ``await ctx.events.emit(conn, PaymentRequested(...))`` inside the transaction that makes
the change. The row lands in the plugin's ``outbox``; a relay (woken by NOTIFY, rows claimed with
``FOR UPDATE SKIP LOCKED``) publishes it with QoS 1 and marks it sent. A crash between commit and
publish loses nothing: the row is still pending when a relay runs again.

Consuming: ``ctx.events.subscribe(PaymentRequested, handler)``; ``await handler(conn, event)`` runs in a
transaction on the subscriber's database that also records ``(event id, consumer)`` in its ``inbox``.
A duplicate (QoS 1 redelivery, or every worker receiving the same message) finds the row and has no
effect. ``ctx.events.listen(cls, callback)`` is the no-database variant for live fan-out (SSE).

Wire format: topic ``ecom/<plugin>/<event>``, payload a JSON envelope
``{"id": uuid, "type": topic, "version": int, "occurred_at": ISO-8601, "data": {...}}``.
"""
from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, TypeVar
from urllib.parse import unquote, urlsplit

import aiomqtt
import asyncpg

from .config import BrokerConfig
from .embedded import client_password

log = logging.getLogger("ecom.events")

E = TypeVar("E")
NOTIFY_CHANNEL = "ecom_outbox"
REGISTRY: dict[str, type] = {}
current_envelope: contextvars.ContextVar["Envelope | None"] = contextvars.ContextVar("current_envelope", default=None)


class EventError(ValueError):
    pass


def event(topic: str, version: int = 1):
    """Class decorator registering a dataclass as the payload of ``topic``."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "ecom" or not all(parts) or any(c in topic for c in "#+$ "):
        raise EventError(f"event topic {topic!r} must look like ecom/<plugin>/<event>")

    def register(cls):
        if not dataclasses.is_dataclass(cls):
            raise EventError(f"{cls.__name__}: an event must be a dataclass")
        if topic in REGISTRY and REGISTRY[topic].__qualname__ != cls.__qualname__:
            raise EventError(f"topic {topic} is already declared by {REGISTRY[topic].__qualname__}")
        cls.TOPIC, cls.VERSION = topic, version
        REGISTRY[topic] = cls
        return cls
    return register


@dataclass(frozen=True)
class Envelope:
    id: uuid.UUID
    type: str
    version: int
    occurred_at: datetime
    data: dict[str, Any]

    @classmethod
    def wrap(cls, obj: Any) -> "Envelope":
        topic = getattr(type(obj), "TOPIC", None)
        if topic is None:
            raise EventError(f"{type(obj).__name__} is not declared with @event(topic)")
        return cls(uuid.uuid4(), topic, type(obj).VERSION, datetime.now(timezone.utc), dataclasses.asdict(obj))

    def to_json(self) -> str:
        return json.dumps({"id": str(self.id), "type": self.type, "version": self.version,
                           "occurred_at": self.occurred_at.isoformat(), "data": self.data}, default=str)

    @classmethod
    def from_json(cls, payload: bytes | str) -> "Envelope":
        try:
            raw = json.loads(payload)
            return cls(uuid.UUID(raw["id"]), str(raw["type"]), int(raw["version"]),
                       datetime.fromisoformat(raw["occurred_at"]), dict(raw["data"]))
        except (ValueError, KeyError, TypeError) as err:
            raise EventError(f"malformed event envelope: {err}") from None

    def payload_as(self, cls: type[E]) -> E:
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in self.data.items() if k in names})  # unknown keys: newer producer
        except TypeError as err:
            raise EventError(f"{self.type}: payload does not fit {cls.__name__}: {err}") from None


Handler = Callable[[asyncpg.Connection, Any], Awaitable[None]]
Listener = Callable[[Any], Awaitable[None] | None]


@dataclass
class _Subscription:
    cls: type
    consumer: str
    pool: asyncpg.Pool | None
    handler: Callable


class PluginEvents:
    """A plugin's view of the bus: emit into its own outbox, subscribe with its own inbox."""

    def __init__(self, bus: "EventBus", plugin: str, pool: asyncpg.Pool):
        self.bus, self.plugin, self.pool = bus, plugin, pool

    async def emit(self, conn: asyncpg.Connection, obj: Any) -> uuid.UUID:
        """Write ``obj`` to the outbox in ``conn``'s current transaction; published after commit."""
        if not conn.is_in_transaction():
            raise EventError("emit() must run inside the transaction of the change it announces")
        env = Envelope.wrap(obj)
        await conn.execute("INSERT INTO outbox (event_id, topic, payload) VALUES ($1, $2, $3)",
                           env.id, env.type, env.to_json())
        await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")  # delivered at commit, wakes the relay
        return env.id

    def subscribe(self, cls: type[E], handler: Callable[[asyncpg.Connection, E], Awaitable[None]]) -> None:
        consumer = f"{self.plugin}:{getattr(handler, '__qualname__', repr(handler))}"
        self.bus.add(_Subscription(cls, consumer, self.pool, handler))

    def listen(self, cls: type[E], callback: Callable[[E], Awaitable[None] | None]) -> Callable[[], None]:
        """Every copy this process receives, without database or dedupe (live views). Returns an unlisten."""
        sub = _Subscription(cls, f"{self.plugin}:listen", None, callback)
        self.bus.add(sub)
        return lambda: self.bus.remove(sub)


class EventBus:
    """One MQTT connection per process (reconnecting), the outbox relays and the dispatch to handlers."""

    RETRIES = 5
    POLL_SECONDS = 2.0

    def __init__(self, config: BrokerConfig, *, client_id: str, secret: bytes):
        self.config, self.client_id, self.secret = config, client_id, secret
        self._subs: dict[str, list[_Subscription]] = {}
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._relay_wakes: list[asyncio.Event] = []
        self._tasks: list[asyncio.Task] = []
        self._conn_task: asyncio.Task | None = None
        self._pools: dict[str, asyncpg.Pool] = {}
        self._started = False

    # ------------------------------------------------------------------ plumbing for plugins and app
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def for_plugin(self, plugin: str, pool: asyncpg.Pool) -> PluginEvents:
        self._pools[plugin] = pool
        return PluginEvents(self, plugin, pool)

    def add(self, sub: _Subscription) -> None:
        topic = sub.cls.TOPIC
        new_topic = topic not in self._subs
        self._subs.setdefault(topic, []).append(sub)
        if new_topic and self._client is not None and self.connected:
            asyncio.get_running_loop().create_task(self._subscribe(self._client, [topic]))

    def remove(self, sub: _Subscription) -> None:
        subs = self._subs.get(sub.cls.TOPIC, [])
        if sub in subs:
            subs.remove(sub)

    def _connection_args(self) -> dict[str, Any]:
        url = urlsplit(self.config.url or f"mqtt://{self.config.embedded_host}:{self.config.embedded_port}")
        username = unquote(url.username) if url.username else self.client_id
        password = unquote(url.password) if url.password else client_password(self.secret, self.client_id)
        return {"hostname": url.hostname or "127.0.0.1", "port": url.port or 1883, "username": username,
                "password": password, "identifier": self.client_id, "clean_session": False,
                "protocol": aiomqtt.ProtocolVersion.V311, "keepalive": self.config.keepalive,
                "tls_params": aiomqtt.TLSParameters() if url.scheme == "mqtts" else None}

    async def connect(self, wait: float = 5.0) -> None:
        """Start the reconnecting client; wait a little for the first connection (readiness tells the rest)."""
        if self._conn_task is None:
            self._conn_task = asyncio.get_running_loop().create_task(self._connection_loop())
        try:
            await asyncio.wait_for(self._connected.wait(), wait)
        except asyncio.TimeoutError:
            log.warning("MQTT broker not reachable yet; events wait in the outbox until it is")

    async def start(self) -> None:
        """Begin relaying outboxes (after every plugin has subscribed)."""
        self._started = True
        if self._client is not None and self.connected:
            await self._subscribe(self._client, list(self._subs))
        for plugin, pool in self._pools.items():
            self._tasks.append(asyncio.get_running_loop().create_task(self._relay(plugin, pool)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def close(self) -> None:
        await self.stop()
        if self._conn_task is not None:
            self._conn_task.cancel()
            await asyncio.gather(self._conn_task, return_exceptions=True)
            self._conn_task = None

    # ------------------------------------------------------------------ connection and dispatch
    def _filter(self, topic: str) -> str:
        return f"$share/ecom/{topic}" if self.config.shared_subscriptions else topic

    async def _subscribe(self, client: aiomqtt.Client, topics: list[str]) -> None:
        for topic in topics:
            await client.subscribe(self._filter(topic), qos=1)

    async def _connection_loop(self) -> None:
        backoff = 0.1
        while True:
            try:
                async with aiomqtt.Client(**self._connection_args()) as client:
                    self._client = client
                    if self._started:
                        await self._subscribe(client, list(self._subs))
                    self._connected.set()
                    for wake in self._relay_wakes:  # publish what waited while we were away
                        wake.set()
                    backoff = 0.1
                    log.info("connected to MQTT broker as %s", self.client_id)
                    async for message in client.messages:
                        await self._dispatch(str(message.topic), message.payload)
            except aiomqtt.MqttError as err:
                if self.connected:
                    log.warning("MQTT connection lost (%s); reconnecting", err)
            finally:
                self._client = None
                self._connected.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 3.0)

    async def _dispatch(self, topic: str, payload: bytes) -> None:
        subs = list(self._subs.get(topic, ()))
        if not subs:
            return
        try:
            env = Envelope.from_json(payload)
        except EventError as err:
            log.error("dropping message on %s: %s", topic, err)
            return
        for sub in subs:
            try:
                obj = env.payload_as(sub.cls)
            except EventError as err:
                log.error("dropping %s for %s: %s", env.id, sub.consumer, err)
                continue
            token = current_envelope.set(env)
            try:
                if sub.pool is None:
                    result = sub.handler(obj)
                    if asyncio.iscoroutine(result):
                        await result
                else:
                    await self._deliver(sub, env, obj)
            except Exception:
                log.exception("event %s (%s) failed in %s", env.id, env.type, sub.consumer)
            finally:
                current_envelope.reset(token)

    async def _deliver(self, sub: _Subscription, env: Envelope, obj: Any) -> None:
        """Effect + inbox row in one transaction; retried on failure, a duplicate is a no-op."""
        for attempt in range(1, self.RETRIES + 1):
            try:
                async with sub.pool.acquire() as conn, conn.transaction():
                    fresh = await conn.fetchval(
                        "INSERT INTO inbox (event_id, consumer, topic) VALUES ($1, $2, $3) "
                        "ON CONFLICT DO NOTHING RETURNING true", env.id, sub.consumer, env.type)
                    if fresh:
                        await sub.handler(conn, obj)
                return
            except (asyncpg.SerializationError, asyncpg.DeadlockDetectedError, asyncpg.InterfaceError,
                    OSError, asyncio.TimeoutError) as err:
                if attempt == self.RETRIES:
                    raise
                log.warning("retrying event %s in %s after %s", env.id, sub.consumer, err)
                await asyncio.sleep(0.05 * 2 ** attempt)

    # ------------------------------------------------------------------ outbox relay
    async def _relay(self, plugin: str, pool: asyncpg.Pool) -> None:
        wake = asyncio.Event()
        self._relay_wakes.append(wake)

        def on_notify(*_: Any) -> None:
            wake.set()

        listener = await pool.acquire()
        try:
            await listener.add_listener(NOTIFY_CHANNEL, on_notify)
            while True:
                wake.clear()
                client = self._client
                if self.connected and client is not None:
                    try:
                        while await self._publish_batch(pool, client):
                            pass
                    except (aiomqtt.MqttError, asyncio.TimeoutError) as err:
                        log.warning("outbox relay of %s paused: %s", plugin, err)
                    except (asyncpg.PostgresError, OSError) as err:
                        log.warning("outbox relay of %s: database error %s", plugin, err)
                try:  # a NOTIFY, a reconnect, or the poll interval (covers anything missed)
                    await asyncio.wait_for(wake.wait(), self.POLL_SECONDS)
                except asyncio.TimeoutError:
                    pass
        finally:
            self._relay_wakes.remove(wake)
            try:
                await listener.remove_listener(NOTIFY_CHANNEL, on_notify)
            finally:
                await pool.release(listener)

    async def _publish_batch(self, pool: asyncpg.Pool, client: aiomqtt.Client, limit: int = 200) -> int:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, payload FROM outbox WHERE sent_at IS NULL ORDER BY id "
                "LIMIT $1 FOR UPDATE SKIP LOCKED", limit)
            if not rows:
                return 0
            await asyncio.gather(*(client.publish(r["topic"], r["payload"], qos=1, timeout=10) for r in rows))
            await conn.execute("UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
            return len(rows)


async def pending_outbox(pool: asyncpg.Pool) -> int:
    """Events committed but not yet published (the admin dashboard shows this backlog)."""
    return await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
