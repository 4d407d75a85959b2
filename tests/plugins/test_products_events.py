"""ProductCreated / ProductUpdated / ProductDeleted over the real products and users plugins and PostgreSQL:
exactly one event per change in products' outbox, written in the change's transaction (a refused or
rolled-back change writes none), with the product as it is after the change. Last, a consumer plugin
(tests/eventplugins/catalogwatch) receives the catalog's and the stock's events through the real broker."""
from __future__ import annotations

import json
import types

import pytest

from tests.helpers import wait_until
from ecom.app import POOLS, create_app
from plugins.products.keys import PRODUCTS

from .test_products import ENABLED, create, payload, png, uniq, user

CREATED, UPDATED, DELETED = "ecom/products/created", "ecom/products/updated", "ecom/products/deleted"


@pytest.fixture
async def client(aiohttp_client, make_config):
    return await aiohttp_client(create_app(make_config(plugins=ENABLED)))


async def events(client, product_id: int) -> list[tuple[str, dict]]:
    """(topic, data) of every products event about ``product_id``, oldest first."""
    rows = await client.app[POOLS]["products"].fetch(
        "SELECT topic, payload FROM outbox WHERE topic LIKE 'ecom/products/%' ORDER BY id")
    found = [(r["topic"], json.loads(r["payload"])["data"]) for r in rows]
    return [(topic, data) for topic, data in found if data["product_id"] == product_id]


async def test_create_update_delete_each_emit_exactly_one_event(client):
    seller, headers = await user(client)
    made = await create(client, headers, price_cents=1299, currency="EUR")
    pid = made["id"]
    [(topic, data)] = await events(client, pid)
    assert topic == CREATED and data["actor"] == f"user:{seller['id']}"
    assert data["product"] | {"updated_at": None} == {
        "id": pid, "seller_id": seller["id"], "sku": made["sku"], "name": made["name"], "price_cents": 1299,
        "currency": "EUR", "type": made["type"], "active": True, "weight_grams": 500, "tax_class": "standard",
        "image": None, "updated_at": None}

    resp = await client.patch(f"/api/v1/products/{pid}", json={"price_cents": 999, "active": False}, headers=headers)
    assert resp.status == 200, await resp.text()
    resp = await client.patch(f"/api/v1/products/{pid}", json={"price_cents": 999}, headers=headers)
    assert resp.status == 200, await resp.text()  # nothing differs: nothing announced
    found = await events(client, pid)
    assert [t for t, _ in found] == [CREATED, UPDATED]
    assert found[1][1]["changes"] == {"price_cents": {"from": 1299, "to": 999}, "active": {"from": True, "to": False}}
    assert found[1][1]["product"]["price_cents"] == 999 and found[1][1]["product"]["active"] is False

    assert (await client.delete(f"/api/v1/products/{pid}", headers=headers)).status == 204
    assert (await client.delete(f"/api/v1/products/{pid}", headers=headers)).status == 404  # already gone
    found = await events(client, pid)
    assert [t for t, _ in found] == [CREATED, UPDATED, DELETED]
    assert found[2][1]["product"]["sku"] == made["sku"]


async def test_refused_and_rolled_back_changes_emit_nothing(client):
    _, headers = await user(client)
    _, stranger = await user(client)
    first = await create(client, headers)
    second = await create(client, headers)
    resp = await client.post("/api/v1/products", json=payload(sku=first["sku"]), headers=headers)
    assert resp.status == 409  # the same SKU again: no product, no event
    resp = await client.patch(f"/api/v1/products/{second['id']}", json={"sku": first["sku"]}, headers=headers)
    assert resp.status == 409  # the UPDATE failed on the unique index: its transaction rolled back
    resp = await client.patch(f"/api/v1/products/{second['id']}", json={"price_cents": 1}, headers=stranger)
    assert resp.status == 404  # another seller's product
    assert [t for t, _ in await events(client, second["id"])] == [CREATED]
    rows = await client.app[POOLS]["products"].fetch("SELECT payload FROM outbox WHERE topic = $1", CREATED)
    assert sum(json.loads(r["payload"])["data"]["product"]["sku"] == first["sku"] for r in rows) == 1


async def test_new_image_and_archived_seller_emit_updates(client):
    seller, headers = await user(client)
    pid = (await create(client, headers))["id"]
    resp = await client.put(f"/api/v1/products/{pid}/image", data=png(), headers={**headers,
                                                                                   "Content-Type": "image/png"})
    assert resp.status == 200, await resp.text()
    svc = client.app[PRODUCTS]
    async with client.app[POOLS]["products"].acquire() as conn, conn.transaction():  # as the inbox runs it
        await svc.on_user_deleted(conn, types.SimpleNamespace(user_id=seller["id"]))
    found = await events(client, pid)
    assert [t for t, _ in found] == [CREATED, UPDATED, UPDATED]
    assert list(found[1][1]["changes"]) == ["image"] and found[1][1]["changes"]["image"]["from"] is None
    assert found[2][1]["changes"] == {"active": {"from": True, "to": False}}
    assert found[2][1]["actor"] == "system:users"


async def test_a_consumer_plugin_receives_catalog_and_stock_events_through_the_broker(aiohttp_client, make_config):
    from tests.eventplugins.catalogwatch import WATCH
    config = make_config(fresh=True, plugins={"enabled": ["users", "products", "inventory", "catalogwatch"],
                                              "paths": ["plugins", "tests/eventplugins"]})
    client = await aiohttp_client(create_app(config))
    seller, headers = await user(client)
    pid = (await create(client, headers, sku=f"W-{uniq()}"))["id"]
    resp = await client.patch(f"/api/v1/products/{pid}", json={"name": "Renamed lamp"}, headers=headers)
    assert resp.status == 200
    resp = await client.put(f"/api/v1/inventory/{pid}/eu-west", json={"quantity": 12}, headers=headers)
    assert resp.status == 200, await resp.text()
    assert (await client.delete(f"/api/v1/products/{pid}", headers=headers)).status == 204
    watch = client.app[WATCH]

    def mine(topic: str) -> list:
        return [e for e in watch.seen[topic] if e.product_id == pid]

    async def seen() -> list[int]:
        return [len(mine(t)) for t in (CREATED, UPDATED, DELETED, "ecom/inventory/stock_changed")]
    await wait_until(seen, lambda counts: counts == [1, 1, 1, 1], "every event to reach the consumer once")
    assert mine(UPDATED)[0].changes == {"name": {"from": "Walnut Desk Lamp", "to": "Renamed lamp"}}
    stock = mine("ecom/inventory/stock_changed")[0]
    assert (stock.seller_id, stock.reason, stock.levels) == (
        seller["id"], "set", [{"region": "eu-west", "quantity": 12, "reserved": 0, "available": 12}])
