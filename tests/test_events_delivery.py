"""Events are never lost, whatever the broker does, and event liveness is proven (issue 9).

Real embedded PostgreSQL, real brokers (one in a child process for the freeze), the test plugins of
tests/eventplugins loaded by the normal loader (``producer`` emits ``ecom/producer/thing_happened``,
``consumer`` applies it with an inbox row; ``ConsumerService.copies`` counts the copies that came
through the BROKER, so an effect without a copy came through catch-up).

Each test fails on 051b426: there is no catch-up (a message lost after its row was marked sent is
never applied), no EventRejected, no dead_letter table, and /readyz says ready while the broker is
frozen (the bus notices nothing until the keepalive runs out).
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
import time
import uuid
from datetime import datetime, timezone

import pytest

from ecom.app import EVENT_BUS, POOLS
from ecom.broker.process import BrokerProcess
from ecom.events import Envelope, EventRejected
from ecom.events.subscriptions import PluginEvents
from tests.conftest import TEST_SECRET_KEY, free_port
from tests.eventplugins.consumer import CONSUMER
from tests.eventplugins.producer import PRODUCER, ThingHappened
from tests.helpers import start, wait_until

PLUGINS = {"enabled": ["producer", "consumer"], "paths": ["tests/eventplugins"]}
CONSUMER_NAME = "consumer:ConsumerService.on_thing"
SECRET = hashlib.sha256(TEST_SECRET_KEY.encode()).digest()


def thing(thing_id: int, label: str) -> Envelope:
    return Envelope(uuid.uuid4(), ThingHappened.TOPIC, 1, datetime.now(timezone.utc),
                    {"thing_id": thing_id, "label": label})


async def lost_in_the_broker(pool, env: Envelope) -> None:
    """An outbox row that a relay published and marked sent, whose message the broker then lost."""
    await pool.execute("INSERT INTO outbox (event_id, topic, payload, sent_at) VALUES ($1, $2, $3, now())",
                       env.id, env.type, env.to_json())


async def effects(pool) -> dict[uuid.UUID, int]:
    return {r["event_id"]: r["n"] for r in await pool.fetch("SELECT event_id, count(*) AS n FROM effects GROUP BY 1")}


async def test_an_event_lost_by_the_broker_arrives_through_catch_up(aiohttp_client, make_config):
    """Three outbox rows marked sent but never published (as when the broker's process is killed
    after its PUBACK) reach the consumer within seconds, once each, without any broker copy. A second
    worker catching up the same consumer applies nothing twice."""
    config = make_config(plugins=PLUGINS, fresh=True)
    a = (await start(aiohttp_client, config)).app
    b = (await start(aiohttp_client, config.replace(broker={"client_id": f"{config.broker.client_id}-b"}))).app
    producer_pool, consumer_pool = a[POOLS]["producer"], a[POOLS]["consumer"]
    _, live = await a[PRODUCER].make_thing("live")  # the live path first: the cursors exist by now
    await wait_until(lambda: effects(consumer_pool), lambda fx: live in fx, "the live event")

    lost = [thing(900 + i, f"lost-{i}") for i in range(3)]
    started = time.monotonic()
    for env in lost:
        await lost_in_the_broker(producer_pool, env)
    fx = await wait_until(lambda: effects(consumer_pool), lambda fx: all(e.id in fx for e in lost),
                          "the lost events through catch-up", 30)  # the bound: room for a busy machine
    print(f"\ncatch-up took {time.monotonic() - started:.1f} s")
    assert fx == {live: 1, **{e.id: 1 for e in lost}}
    assert all(e.id not in app[CONSUMER].copies for app in (a, b) for e in lost)  # not through the broker
    assert await consumer_pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1::uuid[]) AND consumer = $2",
                                        [e.id for e in lost], CONSUMER_NAME) == 3
    for app in (a, b):  # more rounds in both workers change nothing
        await app[EVENT_BUS].catch_up.round()
    assert await effects(consumer_pool) == fx
    assert await consumer_pool.fetchval("SELECT count(*) FROM event_cursor WHERE consumer = $1", CONSUMER_NAME) == 1


async def test_a_rejected_event_is_dead_lettered_and_never_retried(aiohttp_client, make_config):
    """A handler raising EventRejected: its transaction (inbox row and effect) rolls back, the event is
    dead-lettered with the reason, and neither a broker redelivery nor catch-up runs it again."""
    config = make_config(plugins=PLUGINS, fresh=True)
    app = (await start(aiohttp_client, config)).app
    consumer_pool, producer_pool = app[POOLS]["consumer"], app[POOLS]["producer"]
    calls: list[uuid.UUID] = []

    async def refuse(conn, ev: ThingHappened) -> None:
        await conn.execute("INSERT INTO effects (event_id, thing_id, label, worker) VALUES ($1, $2, $3, 'refuser')",
                           uuid.uuid4(), ev.thing_id, ev.label)
        calls.append(ev.thing_id)
        raise EventRejected(f"thing {ev.thing_id} does not match")
    PluginEvents(app[EVENT_BUS], "consumer", consumer_pool).subscribe(ThingHappened, refuse, name="refuser")

    made: list[uuid.UUID] = []

    async def make() -> list:
        made.append((await app[PRODUCER].make_thing("to refuse"))[1])
        await asyncio.sleep(0.2)  # the first copies may predate the new SUBSCRIBE: try again until one lands
        return calls
    await wait_until(make, bool, "the refusing handler to be called")
    # every event made reaches the refuser once (the early ones through catch-up) and is parked
    rows = await wait_until(lambda: consumer_pool.fetch(
        "SELECT event_id, kind, reason, producer FROM dead_letter WHERE consumer = 'consumer:refuser'"),
        lambda r: {x["event_id"] for x in r} == set(made), "a dead letter for every event made")
    assert {r["kind"] for r in rows} == {"rejected"} and all("does not match" in r["reason"] for r in rows)
    assert {r["producer"] for r in rows} == {"producer"}
    assert await consumer_pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'consumer:refuser'") == 0
    assert await consumer_pool.fetchval("SELECT count(*) FROM effects WHERE worker = 'refuser'") == 0

    seen = len(calls)
    dead_ids = [r["event_id"] for r in rows]
    await producer_pool.execute("UPDATE outbox SET sent_at = NULL WHERE event_id = ANY($1::uuid[])", dead_ids)
    await wait_until(lambda: producer_pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"),
                     lambda n: n == 0, "the republish")
    await app[EVENT_BUS].catch_up.round()
    await asyncio.sleep(0.5)  # a retry would have happened by now; the assertion below is the real check
    assert len(calls) == seen, "a rejected event was run again"


async def test_catch_up_round_cost_with_10000_outbox_rows(aiohttp_client, make_config):
    """Measure: a round with 10,000 unsettled outbox rows after the cursor (a busy minute), all
    already applied, and then with 200 of them missing. Bounded generously; the numbers are printed."""
    config = make_config(plugins=PLUGINS, fresh=True)
    app = (await start(aiohttp_client, config)).app
    bus, producer_pool, consumer_pool = app[EVENT_BUS], app[POOLS]["producer"], app[POOLS]["consumer"]
    bus.catch_up.EVERY = 3600  # only the rounds this test runs
    await bus.catch_up.round()  # cursors exist
    envs = [thing(i, f"bulk-{i}") for i in range(10_000)]
    await producer_pool.copy_records_to_table("outbox", records=[(e.id, e.type, e.to_json(), datetime.now(timezone.utc))
                                                                  for e in envs],
                                              columns=["event_id", "topic", "payload", "sent_at"])
    await consumer_pool.copy_records_to_table("inbox", records=[(e.id, CONSUMER_NAME, e.type) for e in envs[200:]],
                                              columns=["event_id", "consumer", "topic"])
    await asyncio.sleep(bus.catch_up.GRACE.total_seconds() + 0.1)  # older than the catch-up's grace
    started = time.perf_counter()
    delivered = await bus.catch_up.round()
    with_missing = time.perf_counter() - started
    assert delivered == 200
    started = time.perf_counter()
    assert await bus.catch_up.round() == 0
    idle = time.perf_counter() - started
    print(f"\ncatch-up round over 10,000 outbox rows: {idle * 1000:.0f} ms with nothing missing, "
          f"{with_missing * 1000:.0f} ms delivering 200 missing")
    assert idle < 5 and with_missing < 20
    assert len(await effects(consumer_pool)) == 200


@pytest.mark.timeout(120)
async def test_a_frozen_broker_turns_readyz_503_quietly_and_back(aiohttp_client, make_config, caplog):
    """SIGSTOP of the broker's process (its sockets stay open, it answers nothing): /readyz is 503 with
    "events": "not flowing" (within 20 s: room for a busy machine), with at most 2 warning lines from the process over 15 s frozen;
    after SIGCONT it is 200 again and an event emitted while frozen has been applied."""
    broker = BrokerProcess("127.0.0.1", free_port(), SECRET, log_level="warning")
    await broker.astart()
    try:
        config = make_config(plugins=PLUGINS, broker={"url": broker.url}, fresh=True)
        client = await start(aiohttp_client, config)
        app = client.app
        await wait_until(lambda: client.get("/readyz"), lambda r: r.status == 200, "ready before the freeze")
        caplog.set_level(logging.WARNING, logger="ecom")
        caplog.clear()
        broker.kill(signal.SIGSTOP)
        frozen_at = time.monotonic()
        _, during = await app[PRODUCER].make_thing("while frozen")

        async def readiness():
            resp = await client.get("/readyz")
            return resp.status, (await resp.json())["checks"].get("events")
        assert await wait_until(readiness, lambda r: r[0] == 503, "/readyz 503", 20) == (503, "not flowing")
        assert time.monotonic() - frozen_at < 20
        await asyncio.sleep(max(0.0, frozen_at + 15 - time.monotonic()))
        lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("ecom")]
        assert 1 <= len(lines) <= 2, lines
    finally:
        broker.kill(signal.SIGCONT)
    try:
        await wait_until(readiness, lambda r: r[0] == 200, "/readyz 200 after SIGCONT", 30)
        await wait_until(lambda: effects(app[POOLS]["consumer"]), lambda fx: during in fx, "the event from the freeze")
    finally:
        broker.stop()


async def test_a_consumer_that_wants_nothing_now_skips_without_an_inbox_row_and_catches_up_later(aiohttp_client, make_config):
    """subscribe(..., wants=): while it says False, an event costs the consumer no transaction and no
    inbox row, live or in catch-up; once it says True (within the settle time), catch-up delivers what
    was skipped meanwhile, once. (Before wants=, every event had an inbox row in every consumer.)"""
    app = (await start(aiohttp_client, make_config(plugins=PLUGINS, fresh=True))).app
    bus, producer_pool, consumer_pool = app[EVENT_BUS], app[POOLS]["producer"], app[POOLS]["consumer"]
    bus.catch_up.EVERY = 3600  # only the rounds this test runs
    calls: list = []
    wanted = [False]

    async def gated(conn, event):
        calls.append(event)
    PluginEvents(bus, "consumer", consumer_pool).subscribe(ThingHappened, gated, name="gated", wants=lambda: wanted[0])
    sub = next(s for s in bus.handlers() if s.consumer == "consumer:gated")
    await bus.catch_up.round()  # its cursor exists from now on

    async def inbox_rows() -> int:
        return await consumer_pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'consumer:gated'")
    _, live = await app[PRODUCER].make_thing("live, nobody wants it")
    await wait_until(lambda: effects(consumer_pool), lambda fx: live in fx, "the plain consumer applied it")
    env = thing(700, "skipped")
    assert await bus.dispatcher.deliver(sub, env, env.to_json()) == "skipped"
    await lost_in_the_broker(producer_pool, env)
    await asyncio.sleep(bus.catch_up.GRACE.total_seconds() + 0.1)  # due for catch-up
    await bus.catch_up.round()
    assert calls == [] and await inbox_rows() == 0

    wanted[0] = True  # e.g. a webhook endpoint was saved in another worker a moment ago
    await bus.catch_up.round()
    ids = [c.thing_id for c in calls]
    assert 700 in ids and len(ids) == len(set(ids))  # the skipped one (and the live one), each once
    assert await inbox_rows() == len(calls)
    await bus.catch_up.round()  # nothing twice
    assert await inbox_rows() == len(calls)
