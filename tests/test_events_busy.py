"""Two transactions racing to apply one event for one consumer (issue 12).

Every worker receives every event, so the copies race. The loser must neither apply it twice nor wait
for the winner's whole handler holding a pooled connection (that queued payment results behind mails
under load): it answers "busy" at once, and catch-up still delivers an event whose winner never
committed. Real embedded PostgreSQL and broker, the test plugins of tests/eventplugins.
"""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone

from ecom.app import EVENT_BUS, POOLS
from ecom.events import Envelope
from tests.eventplugins.producer import ThingHappened
from tests.helpers import start, wait_until

PLUGINS = {"enabled": ["producer", "consumer"], "paths": ["tests/eventplugins"]}
CONSUMER_NAME = "consumer:ConsumerService.on_thing"


def thing(thing_id: int, label: str) -> Envelope:
    return Envelope(uuid.uuid4(), ThingHappened.TOPIC, 1, datetime.now(timezone.utc),
                    {"thing_id": thing_id, "label": label})


async def effects(pool, event_id: uuid.UUID) -> int:
    return await pool.fetchval("SELECT count(*) FROM effects WHERE event_id = $1", event_id)


async def test_twenty_copies_at_once_apply_once(aiohttp_client, make_config):
    app = (await start(aiohttp_client, make_config(plugins=PLUGINS, fresh=True))).app
    bus, pool = app[EVENT_BUS], app[POOLS]["consumer"]
    sub = next(s for s in bus.handlers() if s.consumer == CONSUMER_NAME)
    env = thing(1, "raced")
    outcomes = await asyncio.gather(*(bus.dispatcher.deliver(sub, env, env.to_json()) for _ in range(20)))
    assert outcomes.count("applied") == 1, outcomes
    assert set(outcomes) <= {"applied", "busy", "duplicate"}, outcomes
    assert await effects(pool, env.id) == 1
    assert await bus.dispatcher.deliver(sub, env, env.to_json()) == "duplicate"


async def test_a_copy_meeting_an_uncommitted_winner_leaves_and_catch_up_delivers(aiohttp_client, make_config):
    """While another transaction holds the event (its handler still running), a copy answers busy
    without waiting and applies nothing. The winner rolls back: catch-up, which does not count busy as
    handled, applies the event once from the producer's outbox."""
    app = (await start(aiohttp_client, make_config(plugins=PLUGINS, fresh=True))).app
    bus, pool, producer_pool = app[EVENT_BUS], app[POOLS]["consumer"], app[POOLS]["producer"]
    sub = next(s for s in bus.handlers() if s.consumer == CONSUMER_NAME)
    # the cursor exists before the event (catch-up repairs from there on; a new cursor starts past
    # every row older than the settle time)
    await wait_until(lambda: pool.fetchval("SELECT count(*) FROM event_cursor WHERE consumer = $1", CONSUMER_NAME),
                     lambda n: n == 1, "the catch-up cursor")
    env = thing(2, "held")
    async with pool.acquire() as winner:
        tx = winner.transaction()
        await tx.start()
        await winner.execute("SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))",
                             CONSUMER_NAME, str(env.id))
        # as if the relay had published it and the broker had lost it: only catch-up can deliver it
        await producer_pool.execute("INSERT INTO outbox (event_id, topic, payload, sent_at, created_at) "
                                    "VALUES ($1, $2, $3, now(), now() - $4::interval)",
                                    env.id, env.type, env.to_json(), bus.catch_up.GRACE * 2)
        outcome = await asyncio.wait_for(bus.dispatcher.deliver(sub, env, env.to_json()), 5)
        assert outcome == "busy"
        assert await bus.catch_up.round() == 0  # busy again: not delivered, not counted as handled
        await tx.rollback()                     # the winner never commits
    assert await effects(pool, env.id) == 0
    await wait_until(lambda: effects(pool, env.id), lambda n: n == 1, "catch-up to apply the event", 20)
    await bus.catch_up.round()
    assert await effects(pool, env.id) == 1
