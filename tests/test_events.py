"""The event guarantees of DESIGN §5, proven end to end: real embedded PostgreSQL, real amqtt broker,
real plugins loaded by the normal loader from tests/eventplugins (``producer`` emits
``ecom/producer/thing_happened`` in the transaction that inserts a ``things`` row; ``consumer``
inserts an ``effects`` row and bumps a counter in the transaction that records its inbox row).

``effects`` has no unique constraint: a second delivery that got past the inbox would show up as a
second row. ``ConsumerService.copies`` counts every copy a process received (a ``listen`` callback
registered after the handler; listeners hear an event after its handlers), which is how the tests know that every
duplicate has been handled before they count effects -- no sleeping.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import signal
import sys
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import aiomqtt
import asyncpg
import pytest

from tests.helpers import wait_until
from ecom.app import EVENT_BUS, POOLS, create_app, plugin_database_url
from ecom.config import Config
from ecom.broker import EmbeddedBroker, client_password
from ecom.events import Envelope, EventError, Signer, event, owner_of
from ecom.outbox import pending_outbox
from tests.conftest import ROOT, TEST_SECRET_KEY, free_port
from tests.eventplugins.consumer import CONSUMER  # the loader imports these same modules
from tests.eventplugins.producer import PRODUCER, Rollback, ThingHappened

PLUGINS = {"enabled": ["producer", "consumer"], "paths": ["tests/eventplugins"]}
CONSUMER_NAME = "consumer:ConsumerService.on_thing"  # the inbox's consumer column for the handler
SECRET = hashlib.sha256(TEST_SECRET_KEY.encode()).digest()  # what load_secret() derives from secret_key


# ------------------------------------------------------------------------------------------- helpers


async def now(value: Any) -> Any:
    return value


async def effects_by_event(pool: asyncpg.Pool) -> dict[uuid.UUID, int]:
    rows = await pool.fetch("SELECT event_id, count(*) AS n FROM effects GROUP BY event_id")
    return {r["event_id"]: r["n"] for r in rows}


async def inbox_by_event(pool: asyncpg.Pool) -> dict[uuid.UUID, list[str]]:
    rows = await pool.fetch("SELECT event_id, consumer FROM inbox ORDER BY consumer")
    out: dict[uuid.UUID, list[str]] = {}
    for r in rows:
        out.setdefault(r["event_id"], []).append(r["consumer"])
    return out


async def counter(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT n FROM counter WHERE name = 'things'")


def copies(*apps) -> Callable[[], Awaitable[list]]:
    """A probe: the per-process copy counters of the consumer service of each app."""
    async def probe():
        return [dict(app[CONSUMER].copies) for app in apps]
    return probe


def broker_address(config: Config) -> tuple[str, int]:
    url = urlsplit(config.broker.url)
    return url.hostname, url.port


@asynccontextmanager
async def publisher(config: Config):
    """A raw MQTT client with its own id and derived password (anonymous clients are refused)."""
    host, port = broker_address(config)
    client_id = f"test-publisher-{uuid.uuid4().hex[:8]}"
    async with aiomqtt.Client(host, port, identifier=client_id, username=client_id,
                              password=client_password(SECRET, client_id), timeout=5) as client:
        yield client


def signed(env: Envelope) -> str:
    """The wire form a relay of the topic's owner would publish (consumers accept nothing else)."""
    return Signer(SECRET).sign(owner_of(env.type), env.to_json())


def envelope(thing_id: int, label: str, event_id: uuid.UUID | None = None) -> Envelope:
    return Envelope(event_id or uuid.uuid4(), ThingHappened.TOPIC, ThingHappened.VERSION,
                    datetime.now(timezone.utc), {"thing_id": thing_id, "label": label})


async def start(aiohttp_client, config: Config):
    """Serve a full app (normal loader, cleanup contexts, bus) on a real socket; return the app."""
    client = await aiohttp_client(create_app(config))
    assert client.app[EVENT_BUS].connected
    return client


def worker(config: Config, name: str, **changes: Any) -> Config:
    """The same deployment (databases, secret) as another process with its own broker client id."""
    return config.replace(broker={"client_id": f"{config.broker.client_id}-{name}"}, **changes)


# ----------------------------------------------------------------- 1. crash between commit and publish

CRASHING_PRODUCER = r"""
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from ecom import db
from ecom.app import default_client_id, migrate_plugin, plugin_database_url
from ecom.config import load_config
from ecom.events import EventBus
from ecom.plugin import load_plugins
from ecom.secret import load_secret

async def main():
    config = load_config(None, environ={}, overrides=json.loads(sys.argv[2]), root=sys.argv[1])
    producer = next(p for p in load_plugins(config).plugins if p.name == "producer")
    await migrate_plugin(config, producer)
    pool = await db.create_pool(plugin_database_url(config, "producer"), max_size=3)
    bus = EventBus(config.broker, client_id=default_client_id(config), secret=load_secret(config))
    await bus.connect(wait=0.2)           # the broker is unreachable: nothing can be published
    events = bus.for_plugin("producer", pool)
    await bus.start()                     # the relay runs, with nowhere to publish to
    from tests.eventplugins.producer import ProducerService
    service = ProducerService(pool, events)
    made = [await service.make_thing(f"crash-{i}") for i in range(3)]   # committed
    print(json.dumps([[t, str(e)] for t, e in made]), flush=True)
    await asyncio.sleep(3600)             # SIGKILLed here by the test

asyncio.run(main())
"""


async def test_crash_between_commit_and_publish_loses_nothing(aiohttp_client, make_config):
    """A producer process commits 3 changes + outbox rows and is SIGKILLed before any publish. A relay
    started later publishes them; each is applied exactly once although two workers receive it.

    Without the outbox (emit publishing directly), the killed process's events are gone: the
    ``pending_outbox == 3`` assertion and the wait for delivery fail. Without the inbox, both consumer
    workers apply each event: 2 effect rows per event instead of 1."""
    config = make_config(plugins=PLUGINS, fresh=True)
    # a consumer-only worker, subscribed before anything is relayed (it also migrates the consumer db)
    consumer_worker = (await start(aiohttp_client, worker(config, "w2", plugins={"enabled": ("consumer",)}))).app

    unreachable = f"mqtt://127.0.0.1:{free_port()}"
    overrides = {
        "server": {"data_dir": config.server.data_dir, "log_level": "warning"},
        "database": {"url": config.database.url, "name_prefix": config.database.name_prefix,
                     "pool_max": config.database.pool_max, "max_connections": config.database.max_connections},
        "broker": {"url": unreachable, "client_id": f"{config.broker.client_id}-crashing"},
        "security": {"secret_key": config.security.secret_key},
        "plugins": {"enabled": list(config.plugins.enabled), "paths": list(config.plugins.paths)},
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_PRODUCER, str(ROOT), json.dumps(overrides),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line, (await proc.stderr.read()).decode()[-3000:]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    made = {uuid.UUID(e): t for t, e in json.loads(line)}

    producer_pool = await asyncpg.create_pool(plugin_database_url(config, "producer"), min_size=1, max_size=1)
    try:
        # the changes are committed, their events wait in the outbox, nobody has seen them
        assert await producer_pool.fetchval("SELECT count(*) FROM things") == 3
        assert await pending_outbox(producer_pool) == 3
        consumer_pool = consumer_worker[POOLS]["consumer"]
        assert await effects_by_event(consumer_pool) == {}
        assert consumer_worker[CONSUMER].copies == {}

        relay = (await start(aiohttp_client, worker(config, "relay"))).app  # producer + consumer
        received = await wait_until(
            copies(consumer_worker, relay),
            lambda cs: all(c.get(e, 0) >= 1 for c in cs for e in made), "both workers to receive all 3")
        assert received == [{e: 1 for e in made}] * 2  # the relay published each row once
        assert await wait_until(lambda: pending_outbox(producer_pool), lambda n: n == 0, "an empty outbox") == 0

        assert await effects_by_event(consumer_pool) == {e: 1 for e in made}
        assert await inbox_by_event(consumer_pool) == {e: [CONSUMER_NAME] for e in made}
        assert await counter(consumer_pool) == 3
        effects = await consumer_pool.fetch("SELECT event_id, thing_id FROM effects")
        assert {r["event_id"]: r["thing_id"] for r in effects} == made
        assert sorted(await producer_pool.fetchval("SELECT array_agg(id) FROM things")) == sorted(made.values())
    finally:
        await producer_pool.close()


# ---------------------------------------------------------------- 2. delivered many times, one effect

async def test_duplicates_and_fan_out_have_one_effect(aiohttp_client, make_config):
    """The same envelope published 3 times, received by 2 workers (6 deliveries): one effect, one inbox
    row. An event emitted by one worker (both relays race for it) reaches both: one effect.

    Without the inbox every delivery runs the handler: 6 effect rows, then 2, instead of 1. Without the
    outbox there is no sent outbox row for the emitted event."""
    config = make_config(plugins=PLUGINS, fresh=True)
    a = (await start(aiohttp_client, config)).app
    b = (await start(aiohttp_client, worker(config, "b"))).app
    pool = a[POOLS]["consumer"]

    host, port = broker_address(config)
    for user, password in ((None, None), ("intruder", "guess")):  # the broker refuses strangers
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client(host, port, identifier="intruder", username=user, password=password,
                                      timeout=5):
                pass

    env = envelope(4242, "triple")
    async with publisher(config) as client:
        for _ in range(3):
            await client.publish(env.type, signed(env), qos=1)
    assert await wait_until(copies(a, b), lambda cs: all(c.get(env.id) == 3 for c in cs),
                            "3 copies in each worker") == [{env.id: 3}] * 2

    assert await effects_by_event(pool) == {env.id: 1}
    assert await inbox_by_event(pool) == {env.id: [CONSUMER_NAME]}
    assert await counter(pool) == 1

    _, emitted = await a[PRODUCER].make_thing("fan-out")
    await wait_until(copies(a, b), lambda cs: all(c.get(emitted, 0) >= 1 for c in cs), "both workers to receive it")
    producer_pool = a[POOLS]["producer"]
    await wait_until(lambda: pending_outbox(producer_pool), lambda n: n == 0, "an empty outbox")
    assert await producer_pool.fetchval("SELECT count(*) FROM outbox WHERE event_id = $1 AND sent_at IS NOT NULL",
                                        emitted) == 1  # relayed through the outbox, marked sent
    assert await effects_by_event(pool) == {env.id: 1, emitted: 1}
    assert await inbox_by_event(pool) == {env.id: [CONSUMER_NAME], emitted: [CONSUMER_NAME]}
    assert await counter(pool) == 2


# -------------------------------------------------------------- 3. broker restart loses no committed event

async def test_broker_restart_loses_no_committed_event(aiohttp_client, make_config):
    """Events committed while the broker is down wait in the outbox; the bus reconnects by itself,
    resubscribes, and the backlog drains: each event applied exactly once. One event that had been
    published is published again (as after a relay crash between PUBACK and marking the row sent).

    Without the outbox the events emitted while the broker is down are lost (and pending_outbox is 0).
    Without the inbox the republished event gets a second effect row."""
    own = EmbeddedBroker("127.0.0.1", free_port(), SECRET)
    await own.start()
    try:
        config = make_config(plugins=PLUGINS, broker={"url": f"mqtt://127.0.0.1:{own.port}"}, fresh=True)
        client = await start(aiohttp_client, config)
        app = client.app
        bus, producer = app[EVENT_BUS], app[PRODUCER]
        producer_pool, consumer_pool = app[POOLS]["producer"], app[POOLS]["consumer"]

        _, first = await producer.make_thing("before")
        await wait_until(copies(app), lambda cs: cs[0].get(first) == 1, "the first event")

        await own.stop()
        await wait_until(lambda: now(bus.connected), lambda c: not c, "the bus to notice")
        resp = await client.get("/readyz")
        assert resp.status == 503 and (await resp.json())["checks"]["broker"] == "disconnected"

        # as if a relay had published `first` and died before marking it sent: it goes out again
        await producer_pool.execute("UPDATE outbox SET sent_at = NULL WHERE event_id = $1", first)
        down = [(await producer.make_thing(f"while-down-{i}"))[1] for i in range(5)]
        assert await pending_outbox(producer_pool) == 6
        assert await effects_by_event(consumer_pool) == {first: 1}

        await own.start()  # same port; nobody tells the bus
        expected = {first: 2, **{e: 1 for e in down}}
        await wait_until(copies(app), lambda cs: cs[0] == expected, "the backlog to arrive")
        assert await wait_until(lambda: pending_outbox(producer_pool), lambda n: n == 0, "an empty outbox") == 0
        assert await effects_by_event(consumer_pool) == {e: 1 for e in [first, *down]}
        assert await inbox_by_event(consumer_pool) == {e: [CONSUMER_NAME] for e in [first, *down]}
        assert await counter(consumer_pool) == 6
        resp = await client.get("/readyz")
        assert resp.status == 200

        _, after = await producer.make_thing("after")  # the live path works again too
        await wait_until(lambda: effects_by_event(consumer_pool), lambda fx: fx.get(after) == 1, "a new event")
    finally:
        if own.running:
            await own.stop()


# ------------------------------------------------------------------------------------- 4. the edges

async def test_emit_needs_the_transaction_of_the_change(aiohttp_client, make_config):
    """emit() outside a transaction raises; an emit whose transaction rolls back leaves nothing behind.

    Both are the outbox's promise: the event exists if and only if the change was committed."""
    config = make_config(plugins=PLUGINS, fresh=True)
    app = (await start(aiohttp_client, config)).app
    producer, producer_pool = app[PRODUCER], app[POOLS]["producer"]

    async with producer_pool.acquire() as conn:
        with pytest.raises(EventError, match="inside the transaction"):
            await producer.events.emit(conn, ThingHappened(1, "no transaction"))
    with pytest.raises(EventError, match="not declared"):
        async with producer_pool.acquire() as conn, conn.transaction():
            await producer.events.emit(conn, object())
    with pytest.raises(Rollback):
        await producer.make_thing("rolled back", fail_after_emit=True)
    assert await producer_pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await producer_pool.fetchval("SELECT count(*) FROM things") == 0

    _, good = await producer.make_thing("committed")
    await wait_until(lambda: effects_by_event(app[POOLS]["consumer"]), lambda fx: good in fx, "the committed event")
    assert await effects_by_event(app[POOLS]["consumer"]) == {good: 1}
    assert [r["label"] for r in await app[POOLS]["consumer"].fetch("SELECT label FROM effects")] == ["committed"]


async def test_malformed_payload_is_dropped_and_consumer_survives(aiohttp_client, make_config):
    """Garbage on a subscribed topic is logged and dropped (no inbox row, no effect); the events behind
    it are still delivered, through the same connection."""
    config = make_config(plugins=PLUGINS, fresh=True)
    app = (await start(aiohttp_client, config)).app
    pool = app[POOLS]["consumer"]
    good = envelope(7, "good after garbage")
    bad_data = envelope(8, "x")
    wrong_type = dataclasses.replace(envelope(9, "x"), type="ecom/producer/something_else")
    garbage = [
        b"not json", b"\xff\xfe\x00", b"null", b"[1, 2]", b'{"id": "not-a-uuid"}',
        json.dumps({**json.loads(bad_data.to_json()), "data": {"label": "no thing_id"}}).encode(),
        json.dumps({**json.loads(bad_data.to_json()), "data": [["thing_id", 8], ["label", "pairs"]]}).encode(),
        json.dumps({**json.loads(bad_data.to_json()), "occurred_at": 12}).encode(),
        wrong_type.to_json().encode(),
    ]
    async with publisher(config) as client:  # one client, one topic: delivered in this order
        for payload in garbage:
            await client.publish(ThingHappened.TOPIC, payload, qos=1)
        await client.publish(ThingHappened.TOPIC, signed(good), qos=1)
    await wait_until(copies(app), lambda cs: good.id in cs[0], "the good event behind the garbage")
    assert app[CONSUMER].copies == {good.id: 1}
    assert await effects_by_event(pool) == {good.id: 1}
    assert await inbox_by_event(pool) == {good.id: [CONSUMER_NAME]}
    assert app[EVENT_BUS].connected

    _, later = await app[PRODUCER].make_thing("later")
    await wait_until(lambda: effects_by_event(pool), lambda fx: fx.get(later) == 1, "a later event")


async def test_failing_handler_rolls_back_and_delivery_goes_on(aiohttp_client, make_config):
    """A handler that raises: its effect and its inbox row roll back together, it is retried, then
    dead-lettered with the error (never silently dropped), and the events after it are delivered. A
    redelivery of a dead-lettered event is not applied: a dead letter is final until an operator
    deletes its row. Without an inbox recorded in the handler's own transaction, a failure would
    either leave an inbox row (event never applied) or a half effect."""
    config = make_config(plugins=PLUGINS, fresh=True)
    app = (await start(aiohttp_client, config)).app
    producer, pool = app[PRODUCER], app[POOLS]["consumer"]

    made = [(await producer.make_thing(label))[1] for label in ("boom-1", "fine-1", "boom-2", "fine-2")]
    await wait_until(copies(app), lambda cs: all(e in cs[0] for e in made), "all four events")
    boom1, fine1, boom2, fine2 = made
    assert await effects_by_event(pool) == {fine1: 1, fine2: 1}
    assert await inbox_by_event(pool) == {fine1: [CONSUMER_NAME], fine2: [CONSUMER_NAME]}
    assert await counter(pool) == 2  # the failed handlers' increments rolled back too
    dead = await pool.fetch("SELECT event_id, consumer, kind, reason, producer FROM dead_letter ORDER BY id")
    # both, once each (which of the two is dead-lettered first depends on the retries' timing)
    assert sorted((r["event_id"], r["consumer"], r["kind"], r["producer"]) for r in dead) == sorted([
        (boom1, CONSUMER_NAME, "failed", "producer"), (boom2, CONSUMER_NAME, "failed", "producer")])
    assert all("handler refuses boom" in r["reason"] for r in dead)
    assert await wait_until(lambda: pending_outbox(app[POOLS]["producer"]), lambda n: n == 0, "an empty outbox") == 0

    retry = envelope(0, "retried", event_id=boom1)  # same id: parked, not applied again
    async with publisher(config) as client:
        await client.publish(retry.type, signed(retry), qos=1)
    await wait_until(copies(app), lambda cs: cs[0][boom1] == 2, "the redelivery")
    assert await effects_by_event(pool) == {fine1: 1, fine2: 1}
    assert await counter(pool) == 2


# ----------------------------------------------------------------------- 5. the bus's own resilience

async def test_worker_restart_gets_what_the_broker_kept_for_it(aiohttp_client, make_config):
    """A consumer worker is down while an event is relayed; the broker keeps it for the worker's
    persistent session (fixed client id, QoS 1) and hands it over right after CONNACK on restart --
    before the plugins have subscribed their handlers. It must wait for them, not be dropped.
    (The consumer takes 0.5 s to start, as a plugin warming a cache would: the broker is faster.)"""
    config = make_config(plugins=PLUGINS, fresh=True)
    consumer_only = worker(config, "c", plugins={"enabled": ("consumer",),
                                                 "settings": {"consumer": {"startup_delay": 0.5}}})
    first = await start(aiohttp_client, consumer_only)  # the session and its subscription exist now
    await first.close()

    producer = (await start(aiohttp_client, worker(config, "p", plugins={"enabled": ("producer",)}))).app
    _, missed = await producer[PRODUCER].make_thing("while the consumer was away")
    await wait_until(lambda: pending_outbox(producer[POOLS]["producer"]), lambda n: n == 0, "the relay")

    again = (await start(aiohttp_client, consumer_only)).app  # same client id: same session
    pool = again[POOLS]["consumer"]
    await wait_until(lambda: effects_by_event(pool), lambda fx: fx == {missed: 1}, "the kept event")
    assert await inbox_by_event(pool) == {missed: [CONSUMER_NAME]}


async def test_relay_survives_losing_its_database_connections(aiohttp_client, make_config, pg):
    """Every connection to the plugin databases is killed (a PostgreSQL restart or failover would do
    that), including the relay's LISTEN connection. The relay must notice and LISTEN again: with the
    poll interval pushed out of reach, only a NOTIFY can wake it for the next event."""
    config = make_config(plugins=PLUGINS, fresh=True)
    app = (await start(aiohttp_client, config)).app
    bus, producer, consumer_pool = app[EVENT_BUS], app[PRODUCER], app[POOLS]["consumer"]
    bus.POLL_SECONDS = 600  # read at every wait: from the next one on, no polling rescues a lost NOTIFY

    _, first = await producer.make_thing("first")
    await wait_until(lambda: effects_by_event(consumer_pool), lambda fx: first in fx, "the first event")

    names = [urlsplit(plugin_database_url(config, p)).path.lstrip("/") for p in ("producer", "consumer")]
    admin = await asyncpg.connect(pg.url())
    try:
        killed = await admin.fetchval("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                      "WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()", names)
    finally:
        await admin.close()
    assert killed >= 3  # at least: the relay's listener and one pooled connection per database

    async def emit_again():  # the application's own first query may meet a dead pooled connection
        try:
            return (await producer.make_thing("second"))[1]
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError):
            return None
    second = await wait_until(emit_again, lambda e: e is not None, "an emit on a fresh connection")
    await wait_until(lambda: effects_by_event(consumer_pool), lambda fx: fx == {first: 1, second: 1},
                     "the event emitted after the connections were killed")


@event("ecom/tests/live_only")
@dataclass(frozen=True)
class LiveOnly:
    """Topic ``ecom/tests/live_only``: no plugin subscribes to it at start-up."""
    n: int


async def test_listen_after_start_subscribes_the_new_topic(aiohttp_client, make_config):
    """listen() on a topic nobody subscribed at start-up (a live view opened later) subscribes it on
    the running connection."""
    config = make_config(plugins=PLUGINS, fresh=True)
    app = (await start(aiohttp_client, config)).app
    seen: list[int] = []
    unlisten = app[PRODUCER].events.listen(LiveOnly, lambda ev: seen.append(ev.n))
    try:
        async with publisher(config) as client:
            async def publish_and_look():  # until the SUBSCRIBE has gone through, copies are not ours
                env = Envelope(uuid.uuid4(), LiveOnly.TOPIC, 1, datetime.now(timezone.utc), {"n": 7})
                await client.publish(env.type, signed(env), qos=1)
                await asyncio.sleep(0.05)
                return list(seen)
            assert 7 in await wait_until(publish_and_look, bool, "a live-only event")
    finally:
        unlisten()


def test_consumer_names_are_stable_and_unique():
    """The inbox keys effects by consumer name, so it must be the same in every worker (no memory
    address in it) and two handlers of one plugin must not share it for the same event."""
    import functools

    from ecom.config import BrokerConfig
    from ecom.events import EventBus

    async def handle(tag, conn, ev):
        pass

    events = EventBus(BrokerConfig(), client_id="unit", secret=b"unit").for_plugin("consumer", pool=object())
    events.subscribe(ThingHappened, functools.partial(handle, "a"))
    with pytest.raises(EventError, match=r"consumer:.*handle already handles") as err:
        events.subscribe(ThingHappened, functools.partial(handle, "b"))
    assert "0x" not in str(err.value)
    events.subscribe(ThingHappened, functools.partial(handle, "b"), name="handle-b")  # named apart: fine


async def test_purge_keeps_pending_and_recent_rows(make_config):
    """Retention: only sent outbox rows and inbox rows older than their keep time are deleted."""
    import asyncpg
    from ecom.app import migrate_all, plugin_database_url
    from ecom.outbox import purge
    from ecom.plugin import load_plugins
    cfg = make_config(fresh=True, plugins={"enabled": ["producer"], "paths": ["tests/eventplugins"]})
    await migrate_all(cfg, load_plugins(cfg))
    pool = await asyncpg.create_pool(plugin_database_url(cfg, "producer"), min_size=1, max_size=2)
    try:
        await pool.execute("""
            INSERT INTO outbox (event_id, topic, payload, created_at, sent_at) VALUES
              (gen_random_uuid(), 't', '{}', now() - interval '9 days', now() - interval '8 days'),
              (gen_random_uuid(), 't', '{}', now() - interval '9 days', NULL),
              (gen_random_uuid(), 't', '{}', now(), now());
            INSERT INTO inbox (event_id, consumer, topic, received_at) VALUES
              (gen_random_uuid(), 'c', 't', now() - interval '40 days'), (gen_random_uuid(), 'c', 't', now())""")
        from datetime import timedelta
        assert await purge(pool, timedelta(days=7), timedelta(days=30)) == (1, 1)
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 1  # pending never purged
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 2
        assert await pool.fetchval("SELECT count(*) FROM inbox") == 1
    finally:
        await pool.close()


async def test_wait_event_never_swallows_a_cancellation():
    """3.11's wait_for returns instead of raising when a cancel meets a just-set event, which keeps a
    `while True` loop alive and hangs shutdown; the relays, schedulers and sweeps wait with wait_event."""
    import asyncio
    from ecom.aio import wait_event
    event = asyncio.Event()

    async def relay_like_loop():
        while True:
            await wait_event(event, 5)
            event.clear()
    for _ in range(20):
        task = asyncio.ensure_future(relay_like_loop())
        await asyncio.sleep(0.005)
        event.set()  # the wake-up and the cancellation arrive together
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        assert task in done and task.cancelled()
