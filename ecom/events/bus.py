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
import functools
import json
import logging
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, TypeVar
from urllib.parse import unquote, urlsplit

import aiomqtt
import asyncpg

from .aio import wait_event
from . import outbox
from .config import BrokerConfig
from .broker import client_password
from .metrics import EVENTS
from .outbox import Relay, housekeeping

log = logging.getLogger("ecom.events")

E = TypeVar("E")
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
            if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
                raise TypeError("an envelope is a JSON object whose data is an object")
            return cls(uuid.UUID(raw["id"]), str(raw["type"]), int(raw["version"]),
                       datetime.fromisoformat(raw["occurred_at"]), raw["data"])
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
        await outbox.write(conn, env.id, env.type, env.to_json())
        return env.id

    def subscribe(self, cls: type[E], handler: Callable[[asyncpg.Connection, E], Awaitable[None]], *,
                  name: str | None = None) -> None:
        """Run ``handler`` once per event id. Its inbox rows are keyed ``<plugin>:<name>`` (default: the
        handler's qualified name), which must be the same in every worker and across releases."""
        consumer = f"{self.plugin}:{name or _handler_name(handler)}"
        self.bus.add(_Subscription(cls, consumer, self.pool, handler))

    def listen(self, cls: type[E], callback: Callable[[E], Awaitable[None] | None]) -> Callable[[], None]:
        """Every copy this process receives, without database or dedupe (live views). Returns an unlisten."""
        sub = _Subscription(cls, f"{self.plugin}:listen", None, callback)
        self.bus.add(sub)
        return lambda: self.bus.remove(sub)


def _handler_name(handler: Callable) -> str:
    """A name that is the same in every process: never a repr with a memory address in it."""
    target = handler
    while isinstance(target, functools.partial):
        target = target.func
    return getattr(target, "__qualname__", None) or type(target).__qualname__


class EventBus:
    """One MQTT connection per process (reconnecting), the outbox relays and the dispatch to handlers."""

    RETRIES = 5
    CONCURRENCY = 32            # messages dispatched at once per process
    POLL_SECONDS = 2.0          # a relay looks at its outbox at least this often, NOTIFY or not
    MAX_BACKOFF = 3.0           # reconnect / relay retry backoff ceiling
    HOUSEKEEPING_SECONDS = 600  # how often sent outbox rows and old inbox rows are purged
    OUTBOX_KEEP = timedelta(days=7)   # sent events stay this long (for inspection and replays)
    INBOX_KEEP = timedelta(days=30)   # longer than any redelivery can arrive
    STABLE_SECONDS = 2.0        # a broker connection that lasted less does not reset the backoff

    def __init__(self, config: BrokerConfig, *, client_id: str, secret: bytes):
        self.config, self.client_id, self.secret = config, client_id, secret
        self._subs: dict[str, list[_Subscription]] = {}
        self._client: aiomqtt.Client | None = None
        self._subscribed: set[str] = set()  # topics subscribed on the current connection
        self._connected = asyncio.Event()
        self._started_event = asyncio.Event()
        self._relays: list[Relay] = []
        self._tasks: list[asyncio.Task] = []
        self._side_tasks: set[asyncio.Task] = set()
        self._conn_task: asyncio.Task | None = None
        self._pools: dict[str, asyncpg.Pool] = {}
        self._started = False
        # messages handled at once: handlers are idempotent (inbox) and MQTT gives no order across
        # workers anyway, so a slow handler must not hold up the others
        self._dispatching = asyncio.Semaphore(self.CONCURRENCY)

    # ------------------------------------------------------------------ plumbing for plugins and app
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def for_plugin(self, plugin: str, pool: asyncpg.Pool) -> PluginEvents:
        self._pools[plugin] = pool
        return PluginEvents(self, plugin, pool)

    def add(self, sub: _Subscription) -> None:
        topic = sub.cls.TOPIC
        if sub.pool is not None and any(s.pool is not None and s.consumer == sub.consumer
                                        for s in self._subs.get(topic, ())):
            raise EventError(f"{sub.consumer} already handles {topic}: two handlers would share one inbox "
                             "(pass subscribe(..., name=...))")
        self._subs.setdefault(topic, []).append(sub)
        client = self._client
        if self._started and client is not None and self.connected and topic not in self._subscribed:
            self._spawn(self._keep_subscribed(client, self._subscribed))

    def listen(self, cls: type[E], callback: Callable[[E], Awaitable[None] | None], owner: str = "core") -> None:
        """The core's own live listeners (no database, no dedupe), like PluginEvents.listen."""
        self.add(_Subscription(cls, f"{owner}:listen", None, callback))

    async def publish_now(self, obj: Any, qos: int = 0) -> bool:
        """Best-effort publish without the outbox, for news that may be lost (heartbeats). False if offline."""
        client = self._client
        if client is None or not self.connected:
            return False
        env = Envelope.wrap(obj)
        try:
            await client.publish(env.type, env.to_json(), qos=qos, timeout=5)
            return True
        except (aiomqtt.MqttError, asyncio.TimeoutError):
            return False

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
                "tls_params": aiomqtt.TLSParameters() if url.scheme == "mqtts" else None,
                # paho leaves Nagle on: a QoS 1 publish then waits ~40 ms for its PUBACK on loopback
                "socket_options": ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)}

    async def connect(self, wait: float = 5.0) -> None:
        """Start the reconnecting client; wait a little for the first connection (readiness tells the rest)."""
        if self._conn_task is None:
            self._conn_task = asyncio.get_running_loop().create_task(self._connection_loop())
        if not await wait_event(self._connected, wait):
            log.warning("MQTT broker not reachable yet; events wait in the outbox until it is")

    async def start(self) -> None:
        """Subscribe, dispatch and relay outboxes (after every plugin has subscribed its handlers)."""
        self._started = True
        client = self._client
        if client is not None and self.connected:
            try:
                await self._sync_subscriptions(client, self._subscribed)
            except aiomqtt.MqttError as err:
                log.warning("MQTT subscription failed (%s); retrying", err)
                self._spawn(self._keep_subscribed(client, self._subscribed))
        self._started_event.set()  # from now on received messages are dispatched
        loop = asyncio.get_running_loop()
        for plugin, pool in self._pools.items():
            relay = Relay(plugin, pool, self)
            self._relays.append(relay)
            self._tasks.append(loop.create_task(relay.run()))
            self._tasks.append(loop.create_task(housekeeping(plugin, pool, self.OUTBOX_KEEP, self.INBOX_KEEP,
                                                             self.HOUSEKEEPING_SECONDS)))

    def live_client(self) -> aiomqtt.Client | None:
        """The MQTT client while connected, else None (relays publish only then)."""
        return self._client if self.connected else None

    async def stop(self) -> None:
        """Stop the relays (the connection keeps dispatching until close())."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._relays.clear()

    async def close(self) -> None:
        await self.stop()
        tasks = [*self._side_tasks, *([self._conn_task] if self._conn_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._side_tasks.clear()
        self._conn_task = None

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._side_tasks.add(task)  # a strong reference until it is done
        task.add_done_callback(self._side_task_done)

    def _side_task_done(self, task: asyncio.Task) -> None:
        self._side_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("events background task failed: %r", task.exception())

    # ------------------------------------------------------------------ connection and dispatch
    def _filter(self, topic: str) -> str:
        return f"$share/ecom/{topic}" if self.config.shared_subscriptions else topic

    async def _sync_subscriptions(self, client: aiomqtt.Client, subscribed: set[str]) -> None:
        """Subscribe ``client`` to every topic that has a subscriber and is not in ``subscribed`` yet
        (looping, so that a topic added while a SUBSCRIBE was in flight is not missed)."""
        while missing := [topic for topic in list(self._subs) if topic not in subscribed]:
            for topic in missing:
                granted = await client.subscribe(self._filter(topic), qos=1)
                if any(getattr(code, "value", code) >= 0x80 for code in granted):
                    raise aiomqtt.MqttError(f"the broker refused the subscription to {topic}")
                subscribed.add(topic)

    async def _keep_subscribed(self, client: aiomqtt.Client, subscribed: set[str]) -> None:
        """_sync_subscriptions until it succeeds or the connection is gone (a new one subscribes anew)."""
        delay = 0.1
        while client is self._client:
            try:
                await self._sync_subscriptions(client, subscribed)
                return
            except aiomqtt.MqttError as err:
                log.warning("MQTT subscription failed (%s); retrying in %.1fs", err, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.MAX_BACKOFF)

    async def _connection_loop(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.1
        while True:
            connected_at = None
            try:
                async with aiomqtt.Client(**self._connection_args()) as client:
                    self._client, self._subscribed = client, set()
                    if self._started:  # a new connection (or a restarted broker) knows none of them
                        await self._sync_subscriptions(client, self._subscribed)
                    self._connected.set()
                    connected_at = loop.time()
                    for relay in self._relays:  # publish what waited while we were away
                        relay.wake()
                    log.info("connected to MQTT broker as %s", self.client_id)
                    # Messages of our persistent session may arrive right after CONNACK, before the
                    # plugins have subscribed their handlers: they wait in the queue until start().
                    await self._started_event.wait()
                    async for message in client.messages:  # several at once, each in its own task
                        await self._dispatching.acquire()
                        self._spawn(self._dispatch_one(str(message.topic), message.payload))
            except aiomqtt.MqttError as err:
                if connected_at is not None:
                    log.warning("MQTT connection lost (%s); reconnecting", err)
                else:
                    log.debug("MQTT broker not reachable (%s); retrying in %.1fs", err, backoff)
            except Exception:  # noqa: BLE001 - whatever broke, this task must keep reconnecting
                log.exception("MQTT client failed; reconnecting")
            finally:
                self._client = None
                self._connected.clear()
            if connected_at is not None and loop.time() - connected_at >= self.STABLE_SECONDS:
                backoff = 0.1  # a connection that is dropped at once (a client id taken over?) backs off
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.MAX_BACKOFF)

    async def _dispatch_one(self, topic: str, payload: bytes) -> None:
        try:
            await self._dispatch(topic, payload)
        finally:
            self._dispatching.release()

    async def _dispatch(self, topic: str, payload: bytes) -> None:
        subs = list(self._subs.get(topic, ()))
        if not subs:
            return
        try:
            env = Envelope.from_json(payload)
        except EventError as err:
            log.error("dropping message on %s: %s", topic, err)
            return
        if env.type != topic:
            log.error("dropping %s on %s: its envelope says it is a %s", env.id, topic, env.type)
            return
        for sub in subs:
            try:
                obj = env.payload_as(sub.cls)
            except EventError as err:
                log.error("dropping %s for %s: %s", env.id, sub.consumer, err)
                continue
            token = current_envelope.set(env)
            outcome = "listened"
            try:
                if sub.pool is None:
                    result = sub.handler(obj)
                    if asyncio.iscoroutine(result):
                        await result
                else:
                    outcome = "applied" if await self._deliver(sub, env, obj) else "duplicate"
            except Exception:
                outcome = "failed"
                log.exception("event %s (%s) failed in %s", env.id, env.type, sub.consumer)
            finally:
                current_envelope.reset(token)
                EVENTS.labels(env.type, sub.consumer, outcome).inc()

    async def _deliver(self, sub: _Subscription, env: Envelope, obj: Any) -> bool:
        """Effect + inbox row in one transaction; retried on failure, a duplicate is a no-op (False)."""
        for attempt in range(1, self.RETRIES + 1):
            try:
                async with sub.pool.acquire() as conn, conn.transaction():
                    fresh = await conn.fetchval(
                        "INSERT INTO inbox (event_id, consumer, topic) VALUES ($1, $2, $3) "
                        "ON CONFLICT DO NOTHING RETURNING true", env.id, sub.consumer, env.type)
                    if fresh:
                        await sub.handler(conn, obj)
                return bool(fresh)
            except (asyncpg.SerializationError, asyncpg.DeadlockDetectedError, asyncpg.InterfaceError,
                    asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError,
                    asyncpg.InternalClientError, OSError, asyncio.TimeoutError) as err:
                if attempt == self.RETRIES:
                    raise
                log.warning("retrying event %s in %s after %s", env.id, sub.consumer, err)
                await asyncio.sleep(0.05 * 2 ** attempt)
