"""The event bus: one reconnecting MQTT connection per process, the outbox relays, verified dispatch,
catch-up from the producers' outboxes, and the hooks the liveness probe uses to repair a connection.

Producing: ``await ctx.events.emit(conn, obj)`` inside the transaction that makes the change; the
relay publishes it (signed as the emitting plugin, which must own the topic) after commit.
Consuming: ``ctx.events.subscribe(cls, handler)`` runs ``await handler(conn, event)`` once per event id
in a transaction that also records the inbox row; ``listen(cls, callback)`` is the no-database variant.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from datetime import timedelta
from typing import Any, Awaitable, Callable, TypeVar
from urllib.parse import unquote, urlsplit

import aiomqtt
import asyncpg

from ..aio import wait_event
from ..broker import client_password
from ..config import BrokerConfig
from ..outbox import Relay, housekeeping
from ..stopping import cancel_all, stop_if_cancelled
from .catchup import CatchUp, settle_time
from .deadletter import QuietLog
from .dispatch import Dispatcher
from .envelope import Envelope
from .registry import SYSTEM, EventError, owner_of
from .signing import Signer
from .subscriptions import PluginEvents, _Subscription

log = logging.getLogger("ecom.events")
E = TypeVar("E")


def _incoming_queue(client: aiomqtt.Client) -> "asyncio.Queue | None":
    """aiomqtt's queue of received messages, to take the ones already there without waiting.

    Why: ``async for message in client.messages`` makes a task and an ``asyncio.wait`` per message, i.e.
    two or three event-loop turns each. A worker under checkout load turns its loop a few hundred times
    a second, so its reader fell behind what the broker sent (every worker receives every event):
    payment events waited 2-3 s in this queue while the database and the CPU had room (issue 12).
    None if a later aiomqtt keeps it elsewhere: then the iterator alone reads, as before."""
    queue = getattr(client, "_queue", None)
    return queue if isinstance(queue, asyncio.Queue) else None


class EventBus:
    CONCURRENCY = 512           # messages in dispatch at once per process (each consumer's lane in
                                # Dispatcher bounds its database work; this bounds the memory)
    POLL_SECONDS = 2.0          # a relay looks at its outbox at least this often, NOTIFY or not
    MAX_BACKOFF = 3.0           # reconnect / relay retry backoff ceiling
    HOUSEKEEPING_SECONDS = 600  # how often sent outbox rows, old inbox rows and dead letters are purged
    OUTBOX_KEEP = timedelta(days=7)   # sent events stay this long (catch-up, inspection, replays)
    INBOX_KEEP = timedelta(days=30)   # longer than any redelivery can arrive
    STABLE_SECONDS = 2.0        # a broker connection that lasted less does not reset the backoff
    MQTT_TIMEOUT = 5.0          # CONNECT / SUBSCRIBE / PUBLISH answers: a frozen broker is noticed

    def __init__(self, config: BrokerConfig, *, client_id: str, secret: bytes, command_timeout: float = 30.0,
                 shutdown_timeout: float = 10.0):
        self.config, self.client_id, self.secret = config, client_id, secret
        self.shutdown_timeout = shutdown_timeout  # [server] shutdown_timeout: how long stop() and close() wait
        self.signer = Signer(secret)
        self.quiet = QuietLog(log)
        self.dispatcher = Dispatcher(self.signer, self.quiet)
        self.catch_up = CatchUp(self, settle_time(command_timeout))
        self._subs: dict[str, list[_Subscription]] = {}
        self._client: aiomqtt.Client | None = None
        self._subscribed: set[str] = set()  # topics subscribed on the current connection
        self._connected = asyncio.Event()
        self._started_event = asyncio.Event()
        self._drop = asyncio.Event()        # set by the liveness probe: drop and re-establish the connection
        self._relays: list[Relay] = []
        self._tasks: list[asyncio.Task] = []
        self._side_tasks: set[asyncio.Task] = set()
        self._conn_task: asyncio.Task | None = None
        self._pools: dict[str, asyncpg.Pool] = {}
        self._started = False
        self.outage = False                 # True from the first sign of trouble until a probe comes back
        self.connected_at: float | None = None
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

    def remove(self, sub: _Subscription) -> None:
        subs = self._subs.get(sub.cls.TOPIC, [])
        if sub in subs:
            subs.remove(sub)

    def handlers(self) -> list[_Subscription]:
        """Every subscription with a database (catch-up's consumers)."""
        return [s for subs in list(self._subs.values()) for s in list(subs) if s.pool is not None]

    def listen(self, cls: type[E], callback: Callable[[E], Awaitable[None] | None], owner: str = "core") -> None:
        """The core's own live listeners (no database, no dedupe), like PluginEvents.listen."""
        self.add(_Subscription(cls, f"{owner}:listen", None, callback))

    def sign(self, plugin: str, payload: str) -> str:
        """The wire form of an outbox payload: signed as ``plugin`` (the relays call this)."""
        return self.signer.sign(plugin, payload)

    async def publish_now(self, obj: Any, qos: int = 0) -> bool:
        """Best-effort publish without the outbox, for the core's news that may be lost (heartbeats,
        probes: ``ecom/system/*``, signed with the system key). False if offline."""
        client = self._client
        if client is None or not self.connected:
            return False
        env = Envelope.wrap(obj)
        if owner_of(env.type) != SYSTEM:
            raise EventError(f"publish_now is for the core's ecom/system/* topics, not {env.type}")
        try:
            await client.publish(env.type, self.sign(SYSTEM, env.to_json()), qos=qos, timeout=self.MQTT_TIMEOUT)
            return True
        except (aiomqtt.MqttError, asyncio.TimeoutError):
            return False

    def report_outage(self, msg: str, *args: Any) -> None:
        """The first sign of trouble is a warning; every later one, until events flow again, is debug."""
        if self.outage:
            log.debug(msg, *args)
        else:
            self.outage = True
            log.warning(msg, *args)

    def report_flowing(self) -> None:
        if self.outage:
            self.outage = False
            log.info("events are flowing again")

    def _connection_args(self) -> dict[str, Any]:
        url = urlsplit(self.config.url or f"mqtt://{self.config.embedded_host}:{self.config.embedded_port}")
        username = unquote(url.username) if url.username else self.client_id
        password = unquote(url.password) if url.password else client_password(self.secret, self.client_id)
        return {"hostname": url.hostname or "127.0.0.1", "port": url.port or 1883, "username": username,
                "password": password, "identifier": self.client_id, "clean_session": False,
                "protocol": aiomqtt.ProtocolVersion.V311, "keepalive": self.config.keepalive,
                "timeout": self.MQTT_TIMEOUT,
                "tls_params": aiomqtt.TLSParameters() if url.scheme == "mqtts" else None,
                # paho leaves Nagle on: a QoS 1 publish then waits ~40 ms for its PUBACK on loopback
                "socket_options": ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)}

    async def connect(self, wait: float = 5.0) -> None:
        """Start the reconnecting client; wait a little for the first connection (readiness tells the rest)."""
        if self._conn_task is None:
            self._conn_task = asyncio.get_running_loop().create_task(self._connection_loop(),
                                                                     name="MQTT connection")
        if not await wait_event(self._connected, wait):
            log.warning("MQTT broker not reachable yet; events wait in the outbox until it is")

    async def start(self) -> None:
        """Subscribe, dispatch, relay outboxes and catch up (after every plugin has subscribed)."""
        self._started = True
        client = self._client
        if client is not None and self.connected:
            try:
                await self._sync_subscriptions(client, self._subscribed)
            except aiomqtt.MqttError as err:
                self.report_outage("MQTT subscription failed (%s); retrying", err)
                self._spawn(self._keep_subscribed(client, self._subscribed))
        self._started_event.set()  # from now on received messages are dispatched
        loop = asyncio.get_running_loop()
        for plugin, pool in self._pools.items():
            relay = Relay(plugin, pool, self)
            self._relays.append(relay)
            self._tasks.append(loop.create_task(relay.run(), name=f"outbox relay of {plugin}"))
            self._tasks.append(loop.create_task(housekeeping(plugin, pool, self.OUTBOX_KEEP, self.INBOX_KEEP,
                                                             self.HOUSEKEEPING_SECONDS),
                                                name=f"event housekeeping of {plugin}"))
        self._tasks.append(loop.create_task(self.catch_up.run(), name="event catch-up"))

    def live_client(self) -> aiomqtt.Client | None:
        """The MQTT client while connected, else None (relays publish only then)."""
        return self._client if self.connected else None

    async def stop(self) -> None:
        """Stop the relays and catch-up (the connection keeps dispatching until close()). Bounded by
        ``shutdown_timeout``: a task unwinding on a frozen database (a relay's UNLISTEN, catch-up's
        unlock) is named in one log line and left behind; the pool's close then drops its connection."""
        tasks, self._tasks = self._tasks, []
        self._relays.clear()
        await cancel_all(tasks, self.shutdown_timeout, "the event bus (relays, catch-up)")

    async def close(self) -> None:
        """stop(), then end the deliveries in flight and the broker connection (aiomqtt's DISCONNECT
        waits for the broker at most MQTT_TIMEOUT); bounded like stop()."""
        await self.stop()
        tasks = [*self._side_tasks, *([self._conn_task] if self._conn_task else [])]
        self._conn_task = None
        await cancel_all(tasks, self.shutdown_timeout, "the event bus (deliveries, broker connection)")
        self._side_tasks.clear()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=getattr(coro, "__qualname__", "event task"))
        self._side_tasks.add(task)  # a strong reference until it is done
        task.add_done_callback(self._side_task_done)

    def _side_task_done(self, task: asyncio.Task) -> None:
        self._side_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("events background task failed: %r", task.exception())

    # ------------------------------------------------------------------ repairs (the liveness probe)
    def resubscribe(self) -> None:
        """SUBSCRIBE every topic again on the current connection (the broker may have lost them:
        a session taken over by a CONNECT with our client id, a broker restarted behind a proxy)."""
        client = self._client
        if client is not None and self.connected:
            self._spawn(self._keep_subscribed(client, set()))

    def reconnect(self) -> None:
        """Drop the current connection and establish a new one."""
        self._drop.set()

    # ------------------------------------------------------------------ connection and dispatch
    def _filter(self, topic: str) -> str:
        """``$share/ecom/<topic>`` when ``[broker] shared_subscriptions`` is on and every subscriber of the
        topic keeps an inbox: the broker then hands each event to one worker instead of every worker
        receiving it and all but one finding it in their inbox (issue 13, tests/cluster). A topic with a
        live listener (heartbeats of the liveness probe, order status for event streams) stays a plain
        subscription: every worker must see those. One group, not one per plugin: MQTT 3.1.1 does not tell
        a client which subscription a message came through, so per-plugin groups would still hand each
        event to every plugin of each receiving worker."""
        shared = self.config.shared_subscriptions and all(s.pool is not None for s in self._subs.get(topic, ()))
        return f"$share/ecom/{topic}" if shared else topic

    async def _sync_subscriptions(self, client: aiomqtt.Client, subscribed: set[str]) -> None:
        """Subscribe ``client`` to every topic that has a subscriber and is not in ``subscribed`` yet
        (looping, so that a topic added while a SUBSCRIBE was in flight is not missed)."""
        while missing := [topic for topic in list(self._subs) if topic not in subscribed]:
            for topic in missing:
                granted = await client.subscribe(self._filter(topic), qos=1, timeout=self.MQTT_TIMEOUT)
                if any(getattr(code, "value", code) >= 0x80 for code in granted):
                    raise aiomqtt.MqttError(f"the broker refused the subscription to {topic}")
                subscribed.add(topic)

    async def _keep_subscribed(self, client: aiomqtt.Client, subscribed: set[str]) -> None:
        """_sync_subscriptions until it succeeds or the connection is gone (a new one subscribes anew)."""
        delay = 0.1
        while client is self._client:
            try:
                await self._sync_subscriptions(client, subscribed)
                if subscribed is not self._subscribed:
                    self._subscribed.update(subscribed)
                return
            except (aiomqtt.MqttError, asyncio.TimeoutError) as err:
                self.report_outage("MQTT subscription failed (%s); retrying in %.1fs", err, delay)
            stop_if_cancelled()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.MAX_BACKOFF)

    async def _read(self, client: aiomqtt.Client) -> None:
        # Messages of our persistent session may arrive right after CONNACK, before the plugins
        # have subscribed their handlers: they wait in the queue until start().
        await self._started_event.wait()
        queued = _incoming_queue(client)
        async for message in client.messages:  # several at once, each in its own task
            while True:
                await self._dispatching.acquire()
                self._spawn(self._dispatch_one(str(message.topic), message.payload))
                if queued is None or queued.empty():
                    break
                message = queued.get_nowait()  # already received: no need to wait a loop turn for it

    async def _connection_loop(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.1
        while True:
            connected_at = None
            try:
                client = aiomqtt.Client(**self._connection_args())
                # relays publish a whole batch at once: that many QoS 1 calls in flight is normal, not a
                # warning (aiomqtt warns past 10; a checkout burst printed hundreds of such lines)
                client.pending_calls_threshold = Relay.BATCH * 4
                async with client:
                    self._client, self._subscribed = client, set()
                    if self._started:  # a new connection (or a restarted broker) knows none of them
                        await self._sync_subscriptions(client, self._subscribed)
                    self._drop.clear()
                    self._connected.set()
                    connected_at = loop.time()
                    self.connected_at = time.monotonic()  # the liveness probe's clock
                    for relay in self._relays:  # publish what waited while we were away
                        relay.wake()
                    self.catch_up.wake()        # and fetch what the broker may have lost meanwhile
                    log.info("connected to MQTT broker as %s", self.client_id)
                    reader = loop.create_task(self._read(client))
                    dropper = loop.create_task(self._drop.wait())
                    try:
                        await asyncio.wait({reader, dropper}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for task in (reader, dropper):
                            task.cancel()
                        await asyncio.gather(reader, dropper, return_exceptions=True)
                    if reader.done() and not reader.cancelled() and reader.exception() is not None:
                        raise reader.exception()
                    self._connected.clear()  # dropped on purpose: leave without a polite DISCONNECT wait
                    raise aiomqtt.MqttError("dropped by the liveness probe")
            except (aiomqtt.MqttError, asyncio.TimeoutError) as err:
                if connected_at is not None:
                    self.report_outage("MQTT connection lost (%s); reconnecting", err)
                else:
                    log.debug("MQTT broker not reachable (%s); retrying in %.1fs", err, backoff)
            except Exception:  # noqa: BLE001 - whatever broke, this task must keep reconnecting
                log.exception("MQTT client failed; reconnecting")
            finally:
                self._client = None
                self._connected.clear()
            stop_if_cancelled()  # close() cancelled us and aiomqtt's exit raised MqttError instead
            if connected_at is not None and loop.time() - connected_at >= self.STABLE_SECONDS:
                backoff = 0.1  # a connection that is dropped at once (a client id taken over?) backs off
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.MAX_BACKOFF)

    async def _dispatch_one(self, topic: str, payload: bytes) -> None:
        try:
            subs = list(self._subs.get(topic, ()))
            if subs:
                await self.dispatcher.from_broker(topic, payload, subs)
        finally:
            self._dispatching.release()
