"""ecom_events.emit for a topic whose owner plugin is NOT in the shop under test: a consumer tested alone.

The shop runs tests/eventplugins' ``consumer`` without ``producer``, the owner of
``ecom/producer/thing_happened``. There is no producer outbox to write to, so the kit publishes straight
to the broker, signed with producer's key as producer's relay would sign it. The consumer must apply that
event exactly once (one effect row, its counter up by one, no dead letter). Then two forgeries come on the
same topic through the shop's own broker connection (a valid broker credential, as an intruder on the
broker would have): one unsigned, one signed by the consumer plugin itself, which does not own the topic.
Both must be dead-lettered in the consumer's database with the reasons of ecom.events.signing, and change
nothing. Why this test exists: the kit's broker path had none, and a plugin author who tests a consumer
alone relies on it being signed exactly like the bus signs.
"""
from __future__ import annotations

from ecom.app import EVENT_BUS, POOLS
from ecom.events import Envelope
from ecom.events.signing import UNSIGNED, WRONG_PRODUCER
from ecom.testing import wait_until
from tests.eventplugins.producer import ThingHappened  # the loader imports this same module

SHOP = {"plugins": ["consumer"], "paths": ["tests/eventplugins"]}


async def test_emit_without_the_owner_is_applied_once_and_forgeries_are_dead_lettered(ecom_shop, ecom_events):
    client = await ecom_shop(**SHOP)
    app = client.app
    assert "producer" not in app[POOLS], "the owner must not run here: emit would take the outbox path"
    pool = app[POOLS]["consumer"]
    before = await pool.fetchval("SELECT n FROM counter WHERE name = 'things'")

    event_id = await ecom_events.emit(client, ThingHappened(thing_id=7, label="from the kit"))
    effects = await wait_until(lambda: pool.fetch("SELECT thing_id, label FROM effects WHERE event_id = $1", event_id),
                               bool, "the consumer's effect of the event the kit emitted")
    assert [tuple(row) for row in effects] == [(7, "from the kit")]

    bus = app[EVENT_BUS]
    mqtt = bus.live_client()
    assert mqtt is not None, "the shop's event bus is not connected"
    unsigned = Envelope.wrap(ThingHappened(thing_id=8, label="unsigned"))
    by_consumer = Envelope.wrap(ThingHappened(thing_id=9, label="signed by a plugin that does not own the topic"))
    await mqtt.publish(ThingHappened.TOPIC, unsigned.to_json(), qos=1, timeout=bus.MQTT_TIMEOUT)
    await mqtt.publish(ThingHappened.TOPIC, bus.sign("consumer", by_consumer.to_json()), qos=1,
                       timeout=bus.MQTT_TIMEOUT)
    letters = await wait_until(
        lambda: pool.fetch("SELECT event_id, kind, reason, producer FROM dead_letter WHERE event_id = ANY($1::uuid[])",
                           [unsigned.id, by_consumer.id]),
        lambda rows: {row["event_id"] for row in rows} == {unsigned.id, by_consumer.id},
        "both forgeries in the consumer's dead letters")
    found = {row["event_id"]: row for row in letters}
    assert found[unsigned.id]["kind"] == "untrusted" and found[unsigned.id]["reason"] == UNSIGNED
    assert found[by_consumer.id]["kind"] == "untrusted"
    assert found[by_consumer.id]["reason"].startswith(WRONG_PRODUCER), found[by_consumer.id]["reason"]
    assert found[by_consumer.id]["producer"] == "consumer"

    # the forgeries (published after the genuine event and handled by now) changed nothing; the genuine once
    assert await pool.fetchval("SELECT count(*) FROM effects WHERE thing_id IN (8, 9)") == 0
    assert await pool.fetchval("SELECT count(*) FROM effects WHERE event_id = $1", event_id) == 1
    assert await pool.fetchval("SELECT n FROM counter WHERE name = 'things'") == before + 1
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", event_id) == 1
    assert await pool.fetchval("SELECT count(*) FROM dead_letter WHERE event_id = $1", event_id) == 0
