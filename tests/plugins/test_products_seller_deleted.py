"""A deleted seller's products are taken off sale: the users plugin's UserDeleted event, published from
its outbox through the real broker, makes the products plugin archive (deactivate) that seller's
products, keeping the rows that orders refer to; a second delivery or a second event changes nothing."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.helpers import wait_until
from ecom.app import EVENT_BUS, POOLS, create_app
from plugins.products.keys import PRODUCTS
from plugins.users.events import UserDeleted

from .test_products import ENABLED, create, user


@pytest.fixture
async def client(aiohttp_client, make_config):
    return await aiohttp_client(create_app(make_config(plugins=ENABLED)))


async def emit_user_deleted(client, user_id: int) -> None:
    """Publish UserDeleted as the users plugin does: from its outbox, in a transaction of its database."""
    pool = client.app[POOLS]["users"]
    events = client.app[EVENT_BUS].for_plugin("users", pool)
    async with pool.acquire() as conn, conn.transaction():
        await events.emit(conn, UserDeleted(user_id, datetime.now(timezone.utc).isoformat()))


async def states(client, ids: list[int]) -> dict[int, tuple[bool, bool]]:
    """id -> (active, deleted) straight from the products database."""
    rows = await client.app[POOLS]["products"].fetch(
        "SELECT id, active, deleted_at IS NOT NULL AS deleted FROM products WHERE id = ANY($1::bigint[])", ids)
    return {r["id"]: (r["active"], r["deleted"]) for r in rows}


async def test_deleted_sellers_products_are_archived_not_deleted(client):
    gone, gone_headers = await user(client)
    stays, stays_headers = await user(client)
    on_sale = await create(client, gone_headers, name="Clay Teapot")
    hidden = await create(client, gone_headers, name="Clay Cup", active=False)
    other = await create(client, stays_headers, name="Clay Teapot")
    assert (await client.get(f"/api/v1/products/{on_sale['id']}")).status == 200

    await emit_user_deleted(client, gone["id"])
    ids = [on_sale["id"], hidden["id"], other["id"]]
    expected = {on_sale["id"]: (False, False), hidden["id"]: (False, False), other["id"]: (True, False)}
    assert await wait_until(lambda: states(client, ids), lambda s: s == expected, "the seller's products archived")
    assert (await client.get(f"/api/v1/products/{on_sale['id']}")).status == 404  # off the catalog
    assert (await client.get(f"/api/v1/products/{other['id']}")).status == 200
    found = await client.app[PRODUCTS].get_many([on_sale["id"]])  # orders still read it
    assert found[on_sale["id"]].name == "Clay Teapot" and not found[on_sale["id"]].active
    inbox = await client.app[POOLS]["products"].fetch("SELECT consumer FROM inbox WHERE topic = 'ecom/users/deleted'")
    assert [r["consumer"] for r in inbox] == ["products:ProductsService.on_user_deleted"]


async def test_archiving_again_is_harmless(client):
    seller, headers = await user(client)
    product = await create(client, headers)
    service, pool = client.app[PRODUCTS], client.app[POOLS]["products"]
    event = UserDeleted(seller["id"], datetime.now(timezone.utc).isoformat())
    async with pool.acquire() as conn, conn.transaction():
        await service.on_user_deleted(conn, event)
    stamp = await pool.fetchval("SELECT updated_at FROM products WHERE id = $1", product["id"])
    async with pool.acquire() as conn, conn.transaction():  # the same effect once more: nothing to change
        await service.on_user_deleted(conn, event)
    assert await pool.fetchval("SELECT updated_at FROM products WHERE id = $1", product["id"]) == stamp
    assert await states(client, [product["id"]]) == {product["id"]: (False, False)}
    dead = await pool.fetchval("SELECT count(*) FROM dead_letter WHERE topic = 'ecom/users/deleted'")
    assert dead == 0
