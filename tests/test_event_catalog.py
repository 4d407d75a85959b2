"""The event catalog (ecom/events/catalog.py): docs/events.md and GET /api/v1/events match the registry,
every field says what it means, every event a built-in plugin publishes is listed; orders' events carry
the buyer and the lines (never a guest's email); a consumer written for version 1 of a payload keeps
working when a newer producer adds a field (real outbox, broker, signature and inbox).
"""
from __future__ import annotations

import dataclasses
import json
import re
import uuid
from dataclasses import dataclass
from typing import Annotated

from ecom.app import POOLS
from ecom.events import catalog
from ecom.events.registry import REGISTRY
from tests.eventplugins.consumer import CONSUMER  # noqa: F401 - the loader imports these same modules
from tests.eventplugins.producer import PRODUCER, ThingHappened
from tests.helpers import start, wait_until
from tests.plugins.test_orders import EU, bearer, card, get_order, orders_config, product, user, wait_status
from tests.plugins.test_shipments import SHIP_TO, move, place

ROOT = catalog.ROOT


def test_every_field_of_every_event_says_what_it_means():
    entries = catalog.entries(builtin_only=True)
    assert len(entries) >= 17 and {"ecom/orders/status", "ecom/products/deleted"} <= {e["topic"] for e in entries}
    assert [m for e in entries for m in catalog.undocumented(e)] == []
    status = next(e for e in entries if e["topic"] == "ecom/orders/status")
    lines = next(f for f in status["fields"] if f["name"] == "lines")
    assert lines["type"] == "list[OrderLine]" and not lines["required"]
    assert {k["name"] for k in lines["fields"]} == {"product_id", "seller_id", "shipment_no", "quantity",
                                                   "unit_price_cents", "currency"}

    @dataclass(frozen=True)
    class Sloppy:  # not registered: the check must name a field declared without a meaning
        """Something happened."""
        documented: Annotated[int, "A number."]
        bare: str = ""
    Sloppy.TOPIC, Sloppy.VERSION, Sloppy.OWNER = "ecom/test/sloppy", 1, "test"
    assert catalog.undocumented(catalog.describe(Sloppy)) == ["ecom/test/sloppy: bare"]


def test_docs_events_md_is_generated_from_the_registry():
    expected = catalog.markdown(catalog.entries(builtin_only=True))
    assert (ROOT / "docs" / "events.md").read_text() == expected, \
        "docs/events.md is stale: run python -m ecom.events.catalog"
    assert "## Versioning" in expected and "| `lines[].product_id` | `int` | yes |" in expected


def test_every_event_a_built_in_plugin_publishes_is_in_the_catalog():
    """Scan the built-in plugins' sources: each class passed to ``emit(conn, Cls(...))`` and each
    ``@event`` declaration must be a catalog entry (declared in an events.py the catalog imports)."""
    names = {e["name"] for e in catalog.entries(builtin_only=True)}
    emitted, declared = set(), set()
    for path in (ROOT / "plugins").glob("*/**/*.py"):
        source = path.read_text()
        emitted |= set(re.findall(r"\.\w*emit\w*\(\s*\w+\s*,\s*(\w+)\(", source))
        if "@event(" in source:
            declared |= set(re.findall(r"@event\([^)]*\)\s*@dataclass[^\n]*\s*class (\w+)", source))
    assert {"OrderStatusChanged", "ShipmentStatusChanged", "StockChanged", "ProductDeleted",
            "PaymentRequested", "UserDeleted"} <= emitted
    assert emitted - names == set() and declared - names == set()
    assert all(REGISTRY[e["topic"]].__module__.endswith(".events") for e in catalog.entries(builtin_only=True))


async def test_api_events_serves_the_catalog_without_login(aiohttp_client, make_config):
    client = await start(aiohttp_client, make_config())
    resp = await client.get("/api/v1/events")
    assert resp.status == 200, await resp.text()
    served = (await resp.json())["events"]
    builtin = {e["topic"]: e for e in catalog.entries(builtin_only=True)}
    assert set(builtin) <= {e["topic"] for e in served}
    assert [e for e in served if e["topic"] in builtin] == json.loads(json.dumps(list(builtin.values()), default=str))
    doc = await (await client.get("/api/v1/openapi.json")).json()
    op = doc["paths"]["/api/v1/events"]["get"]
    assert op["summary"].startswith("The event catalog") and "200" in op["responses"]


async def outbox_data(pool, topic: str, order_id: str) -> list[dict]:
    rows = await pool.fetch("SELECT payload FROM outbox WHERE topic = $1 AND payload::jsonb #>> '{data,order_id}' = $2 "
                            "ORDER BY created_at, id", topic, order_id)
    return [json.loads(r["payload"])["data"] for r in rows]


async def test_order_and_shipment_events_carry_the_customer_and_lines(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    ana_id, ana = await user(client, seller=True)
    bo_id, bo = await user(client, seller=True)
    dee_id, dee = await user(client)
    mug = await product(client, ana, stock={EU: 5}, price_cents=1210, name="Ana mug")
    pen = await product(client, bo, stock={EU: 5}, price_cents=605, name="Bo pen")
    pool = client.app[POOLS]["orders"]
    order_id = await place(client, dee, [(mug, 2), (pen, 1)])
    await wait_status(client, dee, order_id, "paid")
    ships = {s["seller_id"]: s["no"] for s in (await get_order(client, dee, order_id))["shipments"]}
    ana_line = {"product_id": mug, "seller_id": ana_id, "shipment_no": ships[ana_id], "quantity": 2,
                "unit_price_cents": 1210, "currency": "EUR"}
    bo_line = {"product_id": pen, "seller_id": bo_id, "shipment_no": ships[bo_id], "quantity": 1,
               "unit_price_cents": 605, "currency": "EUR"}
    statuses = await outbox_data(pool, "ecom/orders/status", order_id)
    assert [s["status"] for s in statuses] == ["pending_payment", "paid"]
    for data in statuses:
        assert data["customer_id"] == dee_id
        assert sorted(data["lines"], key=lambda x: x["product_id"]) == sorted([ana_line, bo_line],
                                                                              key=lambda x: x["product_id"])

    n = ships[ana_id]
    for step in ("fulfilled", "shipped", "delivered"):
        resp = await move(client, ana, order_id, n, step, **({"carrier": "DHL", "tracking_number": "T1"}
                                                             if step == "shipped" else {}))
        assert resp.status == 200, await resp.text()
    delivered = (await outbox_data(pool, "ecom/orders/shipment", order_id))[-1]
    assert (delivered["status"], delivered["customer_id"], delivered["lines"]) == ("delivered", dee_id, [ana_line])

    # a whole-order cancel: each shipment's event carries its own lines (one read for all of them)
    other = await place(client, dee, [(mug, 1), (pen, 1)])
    await wait_status(client, dee, other, "paid")
    assert (await client.post(f"/api/v1/orders/{other}/cancel", headers=bearer(dee))).status == 200
    cancelled = await outbox_data(pool, "ecom/orders/shipment", other)
    assert sorted((e["seller_id"], [ln["product_id"] for ln in e["lines"]]) for e in cancelled) == sorted(
        [(ana_id, [mug]), (bo_id, [pen])])

    # a guest's order: no customer id, and its email travels in no event
    email = f"g{uuid.uuid4().hex[:10]}@example.com"
    resp = await client.post("/api/v1/orders", json={"items": [{"product_id": mug, "quantity": 1}],
                                                     "ship_to": SHIP_TO, "email": email, "payment": card()})
    assert resp.status == 201, await resp.text()
    guest_order = (await resp.json())["id"]
    placed = (await outbox_data(pool, "ecom/orders/status", guest_order))[0]
    assert placed["customer_id"] is None and placed["lines"][0]["product_id"] == mug
    raw = await pool.fetch("SELECT payload FROM outbox WHERE payload::jsonb #>> '{data,order_id}' = $1", guest_order)
    assert raw and not any(email in r["payload"] for r in raw)


@dataclass(frozen=True)
class ThingHappenedV2:
    """A newer producer's ThingHappened: one more field, and the envelope says version 2. Not registered
    (the topic is ThingHappened's); it carries the topic and owner attributes @event would set."""
    thing_id: int
    label: str
    colour: str = ""


ThingHappenedV2.TOPIC, ThingHappenedV2.VERSION, ThingHappenedV2.OWNER = ThingHappened.TOPIC, 2, "producer"


async def test_a_version_1_consumer_keeps_working_when_version_2_adds_a_field(aiohttp_client, make_config):
    """The consumer plugin's handler is typed with the version-1 class (thing_id, label). A version-2
    payload with a field it does not know goes through the producer's outbox, the broker, the signature
    and owner checks and the consumer's inbox: the handler applies it once, nothing is dead-lettered."""
    config = make_config(plugins={"enabled": ["producer", "consumer"], "paths": ["tests/eventplugins"]}, fresh=True)
    client = await start(aiohttp_client, config)
    producer = client.app[PRODUCER]
    async with producer.pool.acquire() as conn, conn.transaction():
        event_id = await producer.events.emit(conn, ThingHappenedV2(41, "newer", colour="teal"))
    sent = json.loads(await producer.pool.fetchval("SELECT payload FROM outbox WHERE event_id = $1", event_id))
    assert sent["version"] == 2 and sent["data"] == dataclasses.asdict(ThingHappenedV2(41, "newer", "teal"))
    consumer_pool = client.app[POOLS]["consumer"]
    applied = await wait_until(
        lambda: consumer_pool.fetch("SELECT thing_id, label FROM effects WHERE event_id = $1", event_id),
        lambda rows: len(rows) == 1, "the version-1 handler to apply the version-2 event", 20)
    assert (applied[0]["thing_id"], applied[0]["label"]) == (41, "newer")
    assert await consumer_pool.fetchval("SELECT count(*) FROM dead_letter WHERE event_id = $1", event_id) == 0
