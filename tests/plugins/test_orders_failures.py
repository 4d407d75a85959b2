"""The orders saga when its neighbours fail: the order transaction fails after the stock was reserved
(compensation), inventory is unreachable when a payment arrives (retried by the sweep), and a stock hold
that ran out before the payment arrived (the money goes back, nothing is sold twice)."""
from __future__ import annotations

import asyncio

from ecom.app import POOLS
from plugins.inventory.keys import INVENTORY
from plugins.orders.keys import ORDERS

from .test_orders import (EU, bearer, checkout, get_order, orders_config, payments_of, product, start, stock, user,
                          wait_status, wait_until)


async def test_a_failed_order_transaction_releases_the_reservation(aiohttp_client, make_config, monkeypatch):
    client = await start(aiohttp_client, orders_config(make_config))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    _, token = await user(client)
    transitions = client.app[ORDERS].transitions

    async def broken(*_args, **_kwargs):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(transitions, "placed", broken)
    resp = await checkout(client, token, [(mug, 2)])
    assert resp.status == 500 and "disk on fire" not in await resp.text()
    assert await client.app[POOLS]["orders"].fetchval("SELECT count(*) FROM orders") == 0
    assert await client.app[POOLS]["orders"].fetchval("SELECT count(*) FROM outbox") == 0
    assert (await stock(client, mug))["reserved"] == 0
    rows = await client.app[POOLS]["inventory"].fetch("SELECT status FROM reservations")
    assert [r["status"] for r in rows] == ["released"]

    monkeypatch.undo()
    assert (await checkout(client, token, [(mug, 2)])).status == 201  # and the shop goes on


async def test_inventory_away_when_the_payment_arrives(aiohttp_client, make_config, monkeypatch):
    """The order becomes paid at once; committing its stock is written down and retried by the sweep."""
    client = await start(aiohttp_client, orders_config(make_config))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    _, token = await user(client)
    inventory = client.app[INVENTORY]
    real_commit, calls = inventory.commit, []

    async def unreachable(order_ref, **kwargs):
        calls.append(order_ref)
        raise ConnectionRefusedError("inventory database is down")
    monkeypatch.setattr(inventory, "commit", unreachable)
    order = await (await checkout(client, token, [(mug, 2)])).json()
    await wait_status(client, token, order["id"], "paid")
    pool = client.app[POOLS]["orders"]
    assert await pool.fetchval("SELECT stock_todo FROM orders WHERE id = $1", order["id"]) == "commit"
    await wait_until(lambda: asyncio.sleep(0, len(calls)), lambda n: n >= 2, "a retry by the sweep")
    assert (await stock(client, mug))["reserved"] == 2

    monkeypatch.setattr(inventory, "commit", real_commit)
    await wait_until(lambda: pool.fetchval("SELECT stock_todo FROM orders WHERE id = $1", order["id"]),
                     lambda todo: todo is None, "the commit retried")
    assert (await stock(client, mug)) == {"region": EU, "quantity": 3, "reserved": 0, "available": 3}
    assert (await get_order(client, token, order["id"]))["status"] == "paid"


async def test_a_stock_hold_that_ran_out_before_the_payment(aiohttp_client, make_config):
    """Inventory let the hold go (its own expiry) before the payment came: the order expires instead of
    being paid, the payment is refunded, and the units are not sold."""
    client = await start(aiohttp_client, orders_config(make_config, payments={"delay_seconds": 1}))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    _, token = await user(client)
    order = await (await checkout(client, token, [(mug, 2)])).json()
    await client.app[INVENTORY].release(f"{order['id']}/1", "expired")  # its one shipment, as inventory's sweeper would

    expired = await wait_status(client, token, order["id"], "expired")
    assert expired["history"][-1]["actor"] == "system:payments" and "refunded" in expired["history"][-1]["reason"]
    await wait_until(lambda: payments_of(client, token, order["id"]), lambda p: p and p[0]["status"] == "refunded",
                     "the refund")
    assert (await stock(client, mug)) == {"region": EU, "quantity": 5, "reserved": 0, "available": 5}
    resp = await client.get(f"/api/v1/orders/{order['id']}", headers=bearer(token))
    assert (await resp.json())["status"] == "expired"


async def test_old_idempotency_keys_are_forgotten_and_orders_kept(aiohttp_client, make_config):
    # the sweep forgets old keys too: here it runs once at start-up only, so the call below is the one that does
    client = await start(aiohttp_client, orders_config(make_config, orders={"expiry_sweep_seconds": 3600}))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    _, token = await user(client)
    first = await checkout(client, token, [(mug, 1)], key="old-key")
    assert first.status == 201
    pool = client.app[POOLS]["orders"]
    await pool.execute("UPDATE idempotency_keys SET created_at = now() - interval '8 days'")
    assert await client.app[ORDERS].forget_idempotency_keys(7) == 1
    again = await checkout(client, token, [(mug, 1)], key="old-key")  # a new order now
    assert again.status == 201 and (await again.json())["id"] != (await first.json())["id"]
    assert await pool.fetchval("SELECT count(*) FROM orders") == 2
