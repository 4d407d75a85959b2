"""LowStock (ecom/inventory/low_stock) over the real inventory, products and users plugins, PostgreSQL and
broker: emitted once per downward crossing of [plugins.inventory] low_stock_threshold, written to the
outbox in the transaction that lowered the stock (so a rolled-back change emits nothing), and published
by the outbox relay."""
from __future__ import annotations

import asyncio
import json

import pytest

from tests.helpers import wait_until
from ecom.app import POOLS, create_app
from ecom.config import ConfigError, parse_section
from plugins.inventory.config import InventoryConfig
from plugins.inventory.keys import INVENTORY, OutOfStock

from .test_inventory import EU, US, app_config, bearer, product, put_stock, unique, user

THRESHOLD = 5


@pytest.fixture
async def client(aiohttp_client, make_config):
    return await aiohttp_client(create_app(app_config(make_config, {"low_stock_threshold": THRESHOLD})))


async def alerts(client, product_id: int) -> list[dict]:
    """The LowStock envelopes' data for ``product_id`` in inventory's outbox, oldest first."""
    rows = await client.app[POOLS]["inventory"].fetch(
        "SELECT payload FROM outbox WHERE topic = 'ecom/inventory/low_stock' ORDER BY id")
    found = [json.loads(r["payload"]) for r in rows]
    return [env["data"] for env in found if env["data"]["product_id"] == product_id]


async def seller_product(client, quantity: int, region: str = EU) -> tuple[int, int, str]:
    seller_id, token = await user(client, seller=True)
    product_id = await product(client, token)
    assert (await put_stock(client, token, product_id, region, quantity)).status == 200
    return seller_id, product_id, token


async def test_emitted_once_when_reservations_cross_the_threshold(client):
    svc = client.app[INVENTORY]
    seller_id, product_id, _ = await seller_product(client, 10)
    assert await alerts(client, product_id) == []  # 10 units: above the line
    await svc.reserve(unique("o"), [(product_id, 4)], EU, 600)  # 6 left
    assert await alerts(client, product_id) == []
    await svc.reserve(unique("o"), [(product_id, 1)], EU, 600)  # 5 left: crossed
    expected = {"product_id": product_id, "seller_id": seller_id, "region": EU, "available": 5, "threshold": THRESHOLD}
    assert await alerts(client, product_id) == [expected]
    ref = unique("o")
    await svc.reserve(ref, [(product_id, 2)], EU, 600)  # 3 left: still below, nothing new
    await svc.commit(ref)  # a sale of reserved units does not change what is available
    assert await alerts(client, product_id) == [expected]


async def test_seller_changes_alert_again_only_after_stock_went_back_up(client):
    seller_id, product_id, token = await seller_product(client, 20)
    assert (await put_stock(client, token, product_id, EU, 5)).status == 200  # crossing by a set
    assert (await put_stock(client, token, product_id, EU, 2)).status == 200  # lower still: no second alert
    assert [a["available"] for a in await alerts(client, product_id)] == [5]
    assert (await put_stock(client, token, product_id, EU, 30)).status == 200  # restocked
    resp = await client.post(f"/api/v1/inventory/{product_id}/{EU}/adjustments", headers=bearer(token),
                             json={"delta": -27})  # 30 -> 3: crossed again
    assert resp.status == 200, await resp.text()
    found = await alerts(client, product_id)
    assert [(a["available"], a["seller_id"], a["region"]) for a in found] == [(5, seller_id, EU), (3, seller_id, EU)]
    assert (await put_stock(client, token, product_id, US, 4)).status == 200  # from 0: never above, no alert
    assert len(await alerts(client, product_id)) == 2


async def test_rolled_back_reservation_emits_nothing(client):
    svc = client.app[INVENTORY]
    _, first, _ = await seller_product(client, 6)
    _, short, _ = await seller_product(client, 1)
    with pytest.raises(OutOfStock):  # the first line would cross (6 -> 3), the second fails: all rolled back
        await svc.reserve(unique("o"), [(first, 3), (short, 2)], EU, 600)
    assert await alerts(client, first) == []
    assert (await svc.availability_many([first], EU)) == {first: 6}


async def test_concurrent_sales_across_the_line_alert_exactly_once(client):
    svc = client.app[INVENTORY]
    _, product_id, _ = await seller_product(client, 12)
    results = await asyncio.gather(*(svc.reserve(unique("o"), [(product_id, 1)], EU, 600) for _ in range(12)))
    assert len(results) == 12 and (await svc.availability_many([product_id], EU)) == {product_id: 0}
    found = await alerts(client, product_id)
    assert [a["available"] for a in found] == [THRESHOLD]


async def test_csv_import_that_lowers_stock_alerts_with_the_seller(client):
    seller_id, product_id, token = await seller_product(client, 50)
    sku = (await (await client.get(f"/api/v1/products/{product_id}")).json())["sku"]
    resp = await client.post("/api/v1/inventory/imports", data=f"sku,region,quantity\r\n{sku},{EU},1\r\n",
                             headers={**bearer(token), "Content-Type": "text/csv"})
    assert resp.status == 202, await resp.text()
    found = await wait_until(lambda: alerts(client, product_id), bool, "the import's LowStock alert")
    assert found == [{"product_id": product_id, "seller_id": seller_id, "region": EU, "available": 1,
                      "threshold": THRESHOLD}]


async def test_alert_is_published_by_the_outbox_relay(client):
    _, product_id, token = await seller_product(client, 9)
    assert (await put_stock(client, token, product_id, EU, 0)).status == 200
    pool = client.app[POOLS]["inventory"]

    async def sent():
        return await pool.fetchval("""SELECT sent_at IS NOT NULL FROM outbox WHERE topic = 'ecom/inventory/low_stock'
                                      AND (payload::json -> 'data' ->> 'product_id')::bigint = $1""", product_id)
    assert await wait_until(sent, bool, "the relay to publish the LowStock event")


def test_threshold_setting_is_checked():
    assert parse_section(InventoryConfig, {}, "plugins.inventory").low_stock_threshold == 5
    assert parse_section(InventoryConfig, {"low_stock_threshold": 0}, "plugins.inventory").low_stock_threshold == 0
    with pytest.raises(ConfigError, match="low_stock_threshold"):
        parse_section(InventoryConfig, {"low_stock_threshold": -1}, "plugins.inventory")
