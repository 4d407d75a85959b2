"""Signed events (issue 9, "Signed events"): a broker credential alone no longer moves money.

A real shop (every plugin, real embedded PostgreSQL, real broker, real HTTP) holds an order that waits
for its payment (payments' delay is pushed out of reach). Through the broker, with a valid broker
credential, come four forged ``ecom/payments/completed`` for that order: unsigned, mis-signed
(payments' signature over other data), a genuine payments signature replayed from outside the window,
and one validly signed with the ORDERS key (orders does not own the topic). Each is dead-lettered in
orders' database with its reason, counted, logged once, and the order stays unpaid.

On the code before signing (051b426) there is no dead_letter table and the first forgery marks the
order paid.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import aiomqtt
from prometheus_client import REGISTRY

from ecom.app import POOLS
from ecom.broker import client_password
from ecom.events import Envelope, Signer
from ecom.health import HEALTH, Heartbeat
from plugins.payments.events import PaymentCompleted
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import start, wait_until
from tests.plugins.test_orders import EU, checkout, get_order, product, user

SECRET = hashlib.sha256(TEST_SECRET_KEY.encode()).digest()
CONSUMER = "orders"


@asynccontextmanager
async def publisher(config):
    """A raw MQTT client holding a valid broker credential of its own (an app-role client id)."""
    url = urlsplit(config.broker.url)
    client_id = f"ecom-app-forger-{uuid.uuid4().hex[:8]}"
    async with aiomqtt.Client(url.hostname, url.port, identifier=client_id, username=client_id,
                              password=client_password(SECRET, client_id), timeout=5) as client:
        yield client


def completed(order: dict) -> Envelope:
    data = {"order_id": order["id"], "payment_id": str(uuid.uuid4()), "transaction_id": "txn_forged",
            "amount_cents": order["total_cents"], "currency": order["currency"], "brand": "visa", "last4": "4242"}
    return Envelope(uuid.uuid4(), PaymentCompleted.TOPIC, 1, datetime.now(timezone.utc), data)


def dead_letters_counted(reason: str) -> float:
    """ecom_events_dead_lettered_total for payments/completed and ``reason``, over every consumer."""
    return sum(sample.value for metric in REGISTRY.collect() if metric.name == "ecom_events_dead_lettered"
               for sample in metric.samples if sample.name.endswith("_total")
               and sample.labels.get("topic") == PaymentCompleted.TOPIC and sample.labels.get("reason") == reason)


async def test_forged_payment_results_are_dead_lettered_and_change_nothing(aiohttp_client, make_config, caplog):
    config = make_config(fresh=True, plugins={  # every plugin; payments' delay out of reach: the order waits
        "enabled": ["users", "products", "inventory", "payments", "addresses", "shipping", "taxes", "vouchers",
                    "orders", "dashboards"],
        "payments": {"delay_seconds": 600}})
    client = await start(aiohttp_client, config)
    app = client.app
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    _, token = await user(client)
    resp = await checkout(client, token, [(mug, 1)])
    assert resp.status == 201, await resp.text()
    order = await resp.json()
    assert order["status"] == "pending_payment"

    signer = Signer(SECRET)
    unsigned, missigned, replayed, by_orders = (completed(order) for _ in range(4))
    tampered = json.loads(signer.sign("payments", missigned.to_json()))
    tampered["data"]["amount_cents"] = 1  # payments' signature, over other data
    forged = {
        unsigned.id: ("unsigned", unsigned.to_json()),
        missigned.id: ("bad signature", json.dumps(tampered)),
        replayed.id: ("outside replay window",
                      signer.sign("payments", replayed.to_json(), now=datetime.now(timezone.utc) - timedelta(minutes=11))),
        by_orders.id: ("producer does not own the topic", signer.sign("orders", by_orders.to_json())),
    }
    before = {reason: dead_letters_counted(reason) for reason, _ in forged.values()}
    caplog.set_level(logging.WARNING, logger="ecom")
    async with publisher(config) as mqtt:
        for _, payload in forged.values():
            for _ in range(5):  # repeated: stored once per consumer, logged once per reason
                await mqtt.publish(PaymentCompleted.TOPIC, payload, qos=1)
        # a forged heartbeat: listeners (no database) get verified messages only
        beat = Envelope.wrap(Heartbeat("forged-worker", 1, "2020-01-01T00:00:00+00:00", "x"))
        await mqtt.publish(beat.type, beat.to_json(), qos=1)

    orders_pool = app[POOLS]["orders"]

    async def dead():
        rows = await orders_pool.fetch("SELECT event_id, topic, consumer, kind, reason, producer, payload "
                                       "FROM dead_letter WHERE topic = $1", PaymentCompleted.TOPIC)
        return {r["event_id"]: r for r in rows}
    rows = await wait_until(dead, lambda d: set(d) >= set(forged), "four dead letters in orders")
    assert len(rows) == 4, "one row per forged event (repeats are not stored again)"
    for event_id, (reason, _) in forged.items():
        row = rows[event_id]
        assert row["reason"].startswith(reason), (reason, row["reason"])
        assert row["kind"] == "untrusted" and row["consumer"].startswith(f"{CONSUMER}:")
        assert json.loads(row["payload"])["data"]["order_id"] == order["id"]
    assert rows[by_orders.id]["producer"] == "orders" and rows[unsigned.id]["producer"] is None

    # no effect: the order waits for its payment, orders applied none of the forged events
    assert (await get_order(client, token, order["id"]))["status"] == "pending_payment"
    assert await orders_pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1::uuid[])",
                                      list(forged)) == 0
    async def counted() -> list[float]:  # the first copy of each made its row; the repeats may still be arriving
        return [dead_letters_counted(reason) - before[reason] for reason, _ in forged.values()]
    await wait_until(counted, lambda got: all(n >= 5 for n in got), "every repeat counted as dead-lettered")
    assert "forged-worker" not in {w.name for w in app[HEALTH].workers()}

    untrusted_lines = [r for r in caplog.records if r.levelno >= logging.WARNING and "never applied" in r.getMessage()]
    logged = {reason for reason, _ in forged.values() if any(reason in r.getMessage() for r in untrusted_lines)}
    assert logged == {reason for reason, _ in forged.values()}
    assert len(untrusted_lines) <= 5, [r.getMessage() for r in untrusted_lines]  # 4 reasons + the heartbeat

    # the admin health panel shows them: a count per plugin and the newest with their reason
    health = await app[HEALTH].snapshot()
    assert health["databases"]["orders"]["dead_letters"]["count"] >= 4
    assert {r["event_id"] for r in health["databases"]["orders"]["dead_letters"]["newest"]} >= set(forged)
    _, admin = await user(client, admin=True)
    resp = await client.get("/admin", headers={"Authorization": f"Bearer {admin}"})
    assert resp.status == 200
    page = await resp.text()
    assert re.search(r'data-dead-letters="orders">orders: <strong>[4-9]</strong>', page), page[-3000:]
    assert "producer does not own the topic" in page and "ecom/payments/completed" in page
