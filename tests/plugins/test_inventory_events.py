"""StockChanged (ecom/inventory/stock_changed) over the real inventory, products and users plugins and the
real PostgreSQL: every change of stock writes exactly one event per product to inventory's outbox, in the
transaction of the change (a rolled-back change writes none), with the levels after the change. The
delivery through the broker to a consumer plugin is in test_products_events.py."""
from __future__ import annotations

import json

import pytest

from tests.helpers import wait_until
from ecom.app import POOLS, create_app
from plugins.inventory.keys import INVENTORY, OutOfStock

from .test_inventory import EU, US, app_config, bearer, product, put_stock, unique, user

TOPIC = "ecom/inventory/stock_changed"


@pytest.fixture
async def client(aiohttp_client, make_config):
    return await aiohttp_client(create_app(app_config(make_config)))


async def changes(client, product_id: int) -> list[dict]:
    """The StockChanged data for ``product_id`` in inventory's outbox, oldest first."""
    rows = await client.app[POOLS]["inventory"].fetch(
        "SELECT payload FROM outbox WHERE topic = $1 ORDER BY id", TOPIC)
    return [d for d in (json.loads(r["payload"])["data"] for r in rows) if d["product_id"] == product_id]


def lv(region: str, quantity: int, reserved: int = 0) -> dict:
    return {"region": region, "quantity": quantity, "reserved": reserved, "available": quantity - reserved}


async def seller_product(client) -> tuple[int, int, str]:
    seller_id, token = await user(client, seller=True)
    return seller_id, await product(client, token), token


async def test_seller_set_and_adjust_each_emit_one_event(client):
    seller_id, product_id, token = await seller_product(client)
    assert (await put_stock(client, token, product_id, EU, 10)).status == 200
    assert await changes(client, product_id) == [
        {"product_id": product_id, "seller_id": seller_id, "reason": "set", "levels": [lv(EU, 10)], "ref": None,
         "actor": f"user:{seller_id}"}]
    assert (await put_stock(client, token, product_id, EU, 10)).status == 200  # the same number: no change
    assert len(await changes(client, product_id)) == 1
    resp = await client.post(f"/api/v1/inventory/{product_id}/{EU}/adjustments", headers=bearer(token),
                             json={"delta": -3})
    assert resp.status == 200, await resp.text()
    found = await changes(client, product_id)
    assert [(c["reason"], c["levels"]) for c in found] == [("set", [lv(EU, 10)]), ("adjustment", [lv(EU, 7)])]
    resp = await client.post(f"/api/v1/inventory/{product_id}/{EU}/adjustments", headers=bearer(token),
                             json={"delta": -8})  # refused (would go below 0): rolled back, nothing emitted
    assert resp.status == 409
    assert len(await changes(client, product_id)) == 2


async def test_reservation_life_emits_one_event_per_step(client):
    svc = client.app[INVENTORY]
    seller_id, product_id, token = await seller_product(client)
    assert (await put_stock(client, token, product_id, EU, 10)).status == 200
    sold, freed = unique("o"), unique("o")
    await svc.reserve(sold, [(product_id, 2)], EU, 600)
    await svc.reserve(sold, [(product_id, 2)], EU, 600)  # idempotent repeat: no change, no event
    await svc.commit(sold)
    await svc.commit(sold)
    await svc.reserve(freed, [(product_id, 3)], EU, 600)
    await svc.release(freed, "payment failed")
    await svc.restock(sold, "refund")
    found = await changes(client, product_id)
    assert [(c["reason"], c["ref"], c["levels"], c["seller_id"]) for c in found] == [
        ("set", None, [lv(EU, 10)], seller_id),
        ("reservation", sold, [lv(EU, 10, 2)], seller_id),
        ("sale", sold, [lv(EU, 8)], seller_id),
        ("reservation", freed, [lv(EU, 8, 3)], seller_id),
        ("release", freed, [lv(EU, 8)], seller_id),
        ("restock", sold, [lv(EU, 10)], seller_id)]
    assert {c["actor"] for c in found[1:]} == {"system:orders"}


async def test_expiry_frees_several_orders_of_a_product_in_one_event(client):
    svc, pool = client.app[INVENTORY], client.app[POOLS]["inventory"]
    _, product_id, token = await seller_product(client)
    assert (await put_stock(client, token, product_id, EU, 10)).status == 200
    refs = [unique("x") for _ in range(3)]
    for ref in refs:
        await svc.reserve(ref, [(product_id, 1)], EU, 600)
    await pool.execute("UPDATE reservations SET expires_at = now() - interval '1 second' WHERE order_ref = ANY($1)",
                       refs)
    await wait_until(lambda: changes(client, product_id), lambda c: c[-1]["reason"] == "expiry",
                     "the sweeper to free the expired holds")  # the plugin's own sweeper (0.1 s in tests)
    found = await changes(client, product_id)
    assert [c["reason"] for c in found] == ["set", "reservation", "reservation", "reservation", "expiry"]
    assert found[-1]["levels"] == [lv(EU, 10)] and found[-1]["actor"] == "system:sweeper"


async def test_rolled_back_reservation_emits_nothing(client):
    svc = client.app[INVENTORY]
    _, first, token = await seller_product(client)
    _, short, other = await seller_product(client)
    assert (await put_stock(client, token, first, EU, 6)).status == 200
    assert (await put_stock(client, other, short, EU, 1)).status == 200
    with pytest.raises(OutOfStock):  # the first line is reserved, the second fails: all rolled back
        await svc.reserve(unique("o"), [(first, 3), (short, 2)], EU, 600)
    assert [c["reason"] for c in await changes(client, first)] == ["set"]
    assert [c["reason"] for c in await changes(client, short)] == ["set"]


async def test_csv_import_emits_one_event_per_product_changed(client):
    seller_id, token = await user(client, seller=True)
    sku_a, sku_b, sku_c = unique("A-"), unique("B-"), unique("C-")
    a, b, c = [await product(client, token, sku) for sku in (sku_a, sku_b, sku_c)]
    assert (await put_stock(client, token, c, EU, 4)).status == 200
    body = f"sku,region,quantity\n{sku_a},{EU},5\n{sku_a},{US},7\n{sku_b},{EU},1\n{sku_c},{EU},4\nNOPE,{EU},1\n"
    resp = await client.post("/api/v1/inventory/imports", data=body.encode(),
                             headers={**bearer(token), "Content-Type": "text/csv"})
    assert resp.status == 202, await resp.text()
    job = await resp.json()
    await wait_until(lambda: changes(client, b), lambda found: len(found) == 1, "the import to be applied")
    found_a = await changes(client, a)
    assert [(x["reason"], x["ref"], x["levels"], x["seller_id"]) for x in found_a] == [
        ("import", f"import:{job['id']}", [lv(EU, 5), lv(US, 7)], seller_id)]  # two regions: one event
    assert (await changes(client, b))[0]["levels"] == [lv(EU, 1)]
    assert [x["reason"] for x in await changes(client, c)] == ["set"]  # 4 -> 4: nothing changed
