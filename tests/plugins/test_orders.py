"""The orders plugin end to end: real PostgreSQL, real broker, real HTTP, with the real users, products,
inventory and payments plugins. Sellers, products and stock are made through their APIs; payments
answer through the broker like in production (delay 0 unless a test needs time).
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import asyncpg
import pytest

from tests.helpers import PASSWORD, account, start, wait_until, worker
from ecom.app import EVENT_BUS, POOLS
from ecom.config import Config, ConfigError, parse_section
from ecom.broker import EmbeddedBroker, client_password
from ecom.events import Envelope
from plugins.orders import order_view
from plugins.orders.config import OrdersConfig
from plugins.payments.events import PaymentCompleted, PaymentFailed
from tests.conftest import TEST_SECRET_KEY, free_port

SECRET = hashlib.sha256(TEST_SECRET_KEY.encode()).digest()
PLUGINS = ["users", "products", "inventory", "payments", "addresses", "shipping", "taxes", "vouchers", "orders"]
VISA, DECLINED, BAD_LUHN = "4242 4242 4242 4242", "4000 0000 0000 0002", "4242 4242 4242 4241"
CVC = "0917"  # a leading zero: no count, id, port or time prints as this standalone token
EU, US = "eu-west", "us-east"
SPAIN = {"name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES",
         "phone": "+34 911 234 567"}  # every checkout ships somewhere: a Spanish address unless a test says
DEADLINE = 15.0
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


FREE_SHIPPING = str(Path(__file__).with_name("free_shipping.toml"))  # totals here are the lines' sum


def orders_config(make_config, *, payments: dict | None = None, orders: dict | None = None,
                  shipping: dict | None = None, **sections) -> Config:
    """``shipping``: the [plugins.shipping] section (default: every destination ships free)."""
    return make_config(fresh=True, plugins={
        "enabled": PLUGINS, "payments": {"delay_seconds": 0, **(payments or {})},
        "shipping": {"rates_file": FREE_SHIPPING} if shipping is None else shipping,
        "inventory": {"sweep_interval_seconds": 0.2}, "orders": {"expiry_sweep_seconds": 0.2, **(orders or {})}},
        **sections)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def card(number: str = VISA, cvc: str = CVC, **changes: Any) -> dict[str, Any]:
    return {"method": "card", "card_number": number, "exp_month": 12, "exp_year": datetime.now().year + 3,
            "cvc": cvc, **changes}


async def user(client, *, seller: bool = False, admin: bool = False) -> tuple[int, str]:
    """(user id, bearer token) of a new customer, seller or admin."""
    user_id, _, token = await account(client, seller=seller, admin=admin)
    return user_id, token


async def product(client, seller_token: str, *, stock: dict[str, int] | None = None, price_cents: int = 1299,
                  currency: str = "EUR", name: str = "Blue mug") -> int:
    resp = await client.post("/api/v1/products", headers=bearer(seller_token), json={
        "name": name, "description": "A mug.", "price_cents": price_cents, "currency": currency,
        "type": "Kitchen", "sku": f"SKU-{uuid.uuid4().hex[:10]}"})
    assert resp.status == 201, await resp.text()
    product_id = (await resp.json())["id"]
    for region, quantity in (stock or {}).items():
        resp = await client.put(f"/api/v1/inventory/{product_id}/{region}", headers=bearer(seller_token),
                                json={"quantity": quantity})
        assert resp.status == 200, await resp.text()
    return product_id


async def checkout(client, token: str, items: list[tuple[int, int]] | None = None, *, number: str = VISA,
                   region: str = EU, key: str | None = None, **extra: Any):
    body: dict[str, Any] = {"region": region, "ship_to": SPAIN, "payment": card(number), **extra}
    body = {k: v for k, v in body.items() if v is not None}  # ship_to=None: none
    if items is not None:
        body["items"] = [{"product_id": p, "quantity": q} for p, q in items]
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    return await client.post("/api/v1/orders", json=body, headers=headers)


async def get_order(client, token: str, order_id: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/orders/{order_id}", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def wait_status(client, token: str, order_id: str, status: str, timeout: float = DEADLINE) -> dict[str, Any]:
    return await wait_until(lambda: get_order(client, token, order_id), lambda o: o["status"] == status,
                            f"order {order_id} to be {status}", timeout)


async def stock(client, product_id: int, region: str = EU) -> dict[str, int]:
    resp = await client.get(f"/api/v1/inventory/{product_id}")
    return next(r for r in await resp.json() if r["region"] == region)


# ============================================================================= the happy path

async def test_cart_checkout_and_payment(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 10}, price_cents=1299)
    _, token = await user(client)

    resp = await client.post("/api/v1/cart/items", json={"product_id": mug, "quantity": 2}, headers=bearer(token))
    assert resp.status == 200, await resp.text()
    cart = await resp.json()
    assert cart["total_cents"] == 2598 and cart["currency"] == "EUR" and cart["can_checkout"]

    resp = await checkout(client, token, from_cart=True)
    assert resp.status == 201, await resp.text()
    order = await resp.json()
    # the order as it is when the answer is read: with payments' delay 0 it may already be paid (history below)
    assert order["status"] in ("pending_payment", "paid") and order["id"].startswith("ord_")
    assert order["total_cents"] == 2598
    assert order["lines"] == [{"product_id": mug, "seller_id": order["lines"][0]["seller_id"], "name": "Blue mug",
                               "unit_price_cents": 1299, "quantity": 2, "line_total_cents": 2598}]
    assert order["card"] == {"brand": "visa", "last4": "4242"}
    assert (await (await client.get("/api/v1/cart", headers=bearer(token))).json())["lines"] == []

    paid = await wait_status(client, token, order["id"], "paid")
    assert [h["status"] for h in paid["history"]] == ["pending_payment", "paid"]
    assert paid["history"][1]["actor"] == "system:payments"
    async with client.app[POOLS]["orders"].acquire() as conn:  # an order is read whole in one round trip
        await order_view.load(conn, order["id"])  # (a new connection first learns the row types)
        queries: list[str] = []
        conn.add_query_logger(lambda q: queries.append(q.query))
        whole = await order_view.load(conn, order["id"])
    assert len(queries) == 1, queries
    assert [h.status for h in whole.history] == ["pending_payment", "paid"] and whole.lines[0].quantity == 2
    assert [(s.no, s.status) for s in whole.shipments] == [(1, "pending")]
    await wait_until(lambda: stock(client, mug), lambda s: s == {"region": EU, "quantity": 8, "reserved": 0,
                                                                  "available": 8}, "the sale in inventory")
    page = await (await client.get(f"/orders/{order['id']}", headers=bearer(token))).text()
    assert "Awaiting payment" in page and "Paid" in page and 'id="order-timeline"' in page
    assert "Log in to buy" not in page


# ============================================================================= carts

async def test_guest_cart_in_the_session_is_merged_at_the_first_read_with_an_identity(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 3, US: 5})
    _, token = await user(client)

    resp = await client.get(f"/products/{mug}")  # a guest: the form is there, so the page is theirs alone
    page = await resp.text()
    assert 'action="/cart/items"' in page and "Log in to buy" not in page
    assert resp.headers["Cache-Control"] == "private, no-cache"
    assert (await client.get("/products")).headers["Cache-Control"].startswith("public")

    resp = await client.post("/cart/items", data={"csrf_token": CSRF.search(page).group(1), "product_id": str(mug),
                                                  "quantity": "4"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/cart"
    page = await (await client.get("/cart")).text()
    assert "Blue mug" in page and "€51.96" in page and 'href="/checkout"' in page  # 4 units: us-east has 5
    guest = await (await client.get("/api/v1/cart")).json()
    assert [(ln["product_id"], ln["quantity"]) for ln in guest["lines"]] == [(mug, 4)]
    csrf = CSRF.search(page).group(1)
    cup = await product(client, seller, stock={EU: 1}, name="Red cup")
    for form in ({"product_id": str(cup), "quantity": "1"}, {"product_id": str(mug), "quantity": "1"}):
        await client.post("/cart/items", data={"csrf_token": csrf, **form})  # mug: 4 + 1 (us-east has 5)
    resp = await client.post(f"/cart/items/{mug}", data={"csrf_token": csrf, "quantity": "6"}, allow_redirects=False)
    assert resp.status == 303 and "Only 5 of “Blue mug” available" in await (await client.get("/cart")).text()
    await client.post(f"/cart/items/{mug}", data={"csrf_token": csrf, "quantity": "5"})
    await client.post(f"/cart/items/{cup}/remove", data={"csrf_token": csrf})
    await client.post(f"/cart/items/{mug}", data={"csrf_token": csrf, "quantity": "4"})
    guest = await (await client.get("/api/v1/cart")).json()
    assert [(ln["product_id"], ln["quantity"]) for ln in guest["lines"]] == [(mug, 4)]

    mine = await (await client.get("/api/v1/cart", headers=bearer(token))).json()  # same cookie, now with a token
    assert [(ln["product_id"], ln["quantity"], ln["available"]) for ln in mine["lines"]] == [(mug, 4, 5)]
    assert (await (await client.get("/api/v1/cart")).json())["lines"] == []  # the session cart is gone
    again = await (await client.get("/api/v1/cart", headers=bearer(token))).json()
    assert [(ln["product_id"], ln["quantity"]) for ln in again["lines"]] == [(mug, 4)]  # merged once


async def test_cart_quantities_prices_and_currencies(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 3})
    dollar = await product(client, seller, stock={EU: 3}, currency="USD", price_cents=500, name="Dollar pen")
    _, token = await user(client)
    add = lambda body: client.post("/api/v1/cart/items", json=body, headers=bearer(token))  # noqa: E731

    resp = await add({"product_id": mug, "quantity": 4})
    body = await resp.json()
    assert resp.status == 409 and "Only 3 of “Blue mug” available" in body["detail"]
    for bad in ({"product_id": mug, "quantity": 0}, {"product_id": mug, "quantity": 100},
                {"product_id": mug, "quantity": "2"}, {"product_id": 999999, "quantity": 1},
                {"product_id": mug, "quantity": 1, "mode": "double"}, {"quantity": 1}):
        resp = await add(bad)
        assert resp.status == 422 and resp.content_type == "application/problem+json", bad
    assert (await add({"product_id": mug, "quantity": 2})).status == 200
    resp = await add({"product_id": mug, "quantity": 2})  # 2 + 2 > 3
    assert resp.status == 409
    cart = await (await add({"product_id": mug, "quantity": 3, "mode": "set"})).json()
    assert cart["lines"][0]["quantity"] == 3 and cart["total_cents"] == 3897

    resp = await client.patch(f"/api/v1/products/{mug}", json={"price_cents": 1500}, headers=bearer(seller))
    assert resp.status == 200
    cart = await (await add({"product_id": dollar, "quantity": 1})).json()
    assert cart["totals"] == {"EUR": 4500, "USD": 500} and cart["currency"] is None and not cart["can_checkout"]
    assert "mixes currencies" in cart["problem"]
    resp = await checkout(client, token, from_cart=True)
    assert resp.status == 422 and "EUR, USD" in (await resp.json())["errors"]["items"]
    page = await (await client.get("/cart", headers=bearer(token))).text()
    assert "€45.00" in page and "$5.00" in page and "mixes currencies" in page

    cart = await (await client.delete(f"/api/v1/cart/items/{dollar}", headers=bearer(token))).json()
    assert cart["can_checkout"] and cart["total_cents"] == 4500
    resp = await checkout(client, token, from_cart=True)
    assert resp.status == 201 and (await resp.json())["total_cents"] == 4500  # today's price, not the old one


# ============================================================================= payment outcomes and bad input

async def test_declined_card_fails_the_order_and_releases_the_stock(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    _, token = await user(client)
    resp = await checkout(client, token, [(mug, 2)], number=DECLINED)
    assert resp.status == 201, await resp.text()
    order = await wait_status(client, token, (await resp.json())["id"], "payment_failed")
    assert order["failure_reason"] == "Card declined"
    assert order["history"][-1]["reason"] == "Payment failed: Card declined"
    await wait_until(lambda: stock(client, mug), lambda s: s["reserved"] == 0 and s["quantity"] == 5, "the release")


async def test_bad_input_is_refused_before_anything_is_reserved(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    hidden = await product(client, seller, stock={EU: 5})
    resp = await client.patch(f"/api/v1/products/{hidden}", json={"active": False}, headers=bearer(seller))
    assert resp.status == 200
    _, token = await user(client)

    resp = await checkout(client, token, [(mug, 1)], number=BAD_LUHN)
    body = await resp.json()
    assert resp.status == 422 and "card_number" in body["errors"]
    resp = await client.post("/api/v1/orders", headers=bearer(token), json={
        "items": [{"product_id": mug, "quantity": 1}], "ship_to": SPAIN, "payment": card(cvc="12", exp_year=2001)})
    assert resp.status == 422 and {"cvc", "exp_year"} <= set((await resp.json())["errors"])
    resp = await checkout(client, token, [(mug, 1), (hidden, 1), (987654321, 1)])
    detail = (await resp.json())["errors"]["items"]
    assert resp.status == 422 and set(re.findall(r"\d+", detail)) == {str(hidden), "987654321"}
    for bad in ({"ship_to": {**SPAIN, "postal_code": "mars"}}, {"ship_to": "home"}, {"items": []}, {"items": [{"product_id": mug, "quantity": 100}]},
                {"items": [{"product_id": mug, "quantity": 1}] * 51}, {"items": "all"},
                {"items": [{"product_id": mug, "quantity": 1}], "from_cart": True}, {"payment": "cash"},
                {"payment": card() | {"method": "cheque"}}):
        body = {"items": [{"product_id": mug, "quantity": 1}], "ship_to": SPAIN, "payment": card(), **bad}
        resp = await client.post("/api/v1/orders", json=body, headers=bearer(token))
        assert resp.status == 422 and resp.content_type == "application/problem+json", bad
    resp = await checkout(client, token, [(mug, 1)], key="has spaces")
    assert resp.status == 422
    assert (await client.post("/api/v1/orders", data=b"{", headers=bearer(token) | {
        "Content-Type": "application/json"})).status == 400
    resp = await client.post("/api/v1/orders", json={})  # a guest may check out: with every field
    assert resp.status == 422 and {"ship_to", "payment"} <= set((await resp.json())["errors"])

    pool = client.app[POOLS]["orders"]
    assert await pool.fetchval("SELECT count(*) FROM orders") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert (await stock(client, mug))["reserved"] == 0
    assert await client.app[POOLS]["inventory"].fetchval("SELECT count(*) FROM reservations") == 0


# ============================================================================= concurrency

async def test_forty_checkouts_for_the_last_five_units(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    tokens = [t for _, t in await asyncio.gather(*(user(client) for _ in range(40)))]

    responses = await asyncio.gather(*(checkout(client, t, [(mug, 1)]) for t in tokens))
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] * 5 + [409] * 35
    refusals = [await r.json() for r in responses if r.status == 409]
    assert all("Not enough stock of “Blue mug”" in b["detail"] and b["status"] == 409 for b in refusals)
    assert (await stock(client, mug))["available"] == 0
    pool = client.app[POOLS]["orders"]
    assert await pool.fetchval("SELECT count(*) FROM orders") == 5
    await wait_until(lambda: pool.fetchval("SELECT count(*) FROM orders WHERE status = 'paid'"), lambda n: n == 5,
                     "five paid orders")
    await wait_until(lambda: stock(client, mug), lambda s: (s["quantity"], s["reserved"]) == (0, 0), "five sales")


async def test_one_idempotency_key_sent_twenty_times_makes_one_order(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 50})
    _, token = await user(client)
    key = f"key-{uuid.uuid4()}"

    responses = await asyncio.gather(*(checkout(client, token, [(mug, 2)], key=key) for _ in range(20)))
    assert [r.status for r in responses] == [201] * 20
    ids = {(await r.json())["id"] for r in responses}
    assert len(ids) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    pool = client.app[POOLS]["orders"]
    assert await pool.fetchval("SELECT count(*) FROM orders") == 1
    assert (await stock(client, mug))["available"] in (48, 50 - 2)  # reserved (or sold) once

    resp = await checkout(client, token, [(mug, 3)], key=key)  # same key, another body
    body = await resp.json()
    assert resp.status == 422 and "different request" in body["detail"] and "Idempotency-Key" in body["errors"]
    _, other = await user(client)  # keys are per customer
    resp = await checkout(client, other, [(mug, 2)], key=key)
    assert resp.status == 201 and (await resp.json())["id"] not in ids
    payments = client.app[POOLS]["payments"]
    await wait_until(lambda: payments.fetchval("SELECT count(*) FROM payments WHERE status = 'approved'"),
                     lambda n: n == 2, "two payments, one per order")


# ============================================================================= the saga: duplicates, restarts, outages

def _mqtt_args(config: Config, role: str) -> dict[str, Any]:
    url = urlsplit(config.broker.url)
    client_id = f"test-{role}-{uuid.uuid4().hex[:8]}"
    return {"hostname": url.hostname, "port": url.port, "identifier": client_id, "username": client_id,
            "password": client_password(SECRET, client_id), "timeout": 5}


async def publish(config: Config, env: Envelope, times: int = 1) -> None:
    from ecom.events import Signer, owner_of  # consumers accept only what the topic's owner signed
    async with aiomqtt.Client(**_mqtt_args(config, "publisher")) as mqtt:
        for _ in range(times):
            await mqtt.publish(env.type, Signer(SECRET).sign(owner_of(env.type), env.to_json()), qos=1)


async def history(pool: asyncpg.Pool, order_id: str) -> list[str]:
    return [r["status"] for r in await pool.fetch("SELECT status FROM order_history WHERE order_id = $1 ORDER BY id",
                                                  order_id)]


async def test_the_same_payment_result_three_times_on_two_workers_is_one_transition(aiohttp_client, make_config):
    """The same PaymentCompleted envelope published 3 times while 2 workers listen: 6 copies, one
    transition, one history row, one status event. A late contradicting result changes nothing."""
    config = orders_config(make_config, payments={"delay_seconds": 300})  # the real payment never comes
    a = await start(aiohttp_client, config)
    b = await start(aiohttp_client, worker(config, "b"))
    _, seller = await user(a, seller=True)
    mug = await product(a, seller, stock={EU: 10})
    _, token = await user(a)
    order = await (await checkout(a, token, [(mug, 1)])).json()
    pool = a.app[POOLS]["orders"]
    # orders believes a result only when payments confirms it: payments has approved this one, silently
    payment_id = await wait_until(lambda: a.app[POOLS]["payments"].fetchval(
        "UPDATE payments SET status = 'approved', transaction_id = 'txn_test', card_token = NULL, "
        "processed_at = now() WHERE order_id = $1 RETURNING id", order["id"]), bool, "the payment recorded")

    done = Envelope.wrap(PaymentCompleted(order["id"], str(payment_id), "txn_test", order["total_cents"], "EUR",
                                          "visa", "4242"))
    await publish(config, done, times=3)
    await wait_status(b, token, order["id"], "paid")
    await asyncio.sleep(0.3)  # let every copy reach both workers
    assert await history(pool, order["id"]) == ["pending_payment", "paid"]
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", done.id) == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'ecom/orders/status'") == 2
    await publish(config, Envelope.wrap(PaymentFailed(order["id"], str(uuid.uuid4()), "Card declined")))
    await asyncio.sleep(0.3)
    assert (await get_order(a, token, order["id"]))["status"] == "paid"
    assert await history(pool, order["id"]) == ["pending_payment", "paid"]
    assert (await stock(a, mug))["quantity"] == 9


async def test_two_workers_pay_each_order_exactly_once(aiohttp_client, make_config):
    """Orders placed through two workers, each running payments' scheduler and orders' handlers and
    receiving every event: every order paid once, charged once, its sale committed once."""
    config = orders_config(make_config)
    a = await start(aiohttp_client, config)
    b = await start(aiohttp_client, worker(config, "b"))
    _, seller = await user(a, seller=True)
    mug = await product(a, seller, stock={EU: 100})
    _, token = await user(a)
    placed = await asyncio.gather(*(checkout(a if i % 2 else b, token, [(mug, 1)]) for i in range(20)))
    ids = [(await r.json())["id"] for r in placed]
    pool = a.app[POOLS]["orders"]
    await wait_until(lambda: pool.fetchval("SELECT count(*) FROM orders WHERE status = 'paid'"), lambda n: n == 20,
                     "twenty paid orders")
    await asyncio.sleep(0.3)  # any duplicate would land now
    rows = await pool.fetch("SELECT order_id, count(*) AS n FROM order_history WHERE status = 'paid' GROUP BY 1")
    assert {r["order_id"]: r["n"] for r in rows} == {i: 1 for i in ids}
    charged = await a.app[POOLS]["payments"].fetch("SELECT order_id, count(*) AS n FROM payments GROUP BY 1")
    assert {r["order_id"]: r["n"] for r in charged} == {i: 1 for i in ids}
    sales = await a.app[POOLS]["inventory"].fetchval("SELECT count(*) FROM stock_movements WHERE kind = 'sale'")
    assert sales == 20 and (await stock(a, mug)) == {"region": EU, "quantity": 80, "reserved": 0, "available": 80}


async def test_a_worker_stopped_during_the_payment_delay(aiohttp_client, make_config):
    """The worker that took the order stops before the payment is due; another one starts: the payment
    is made exactly once (its due time is in the database) and the order becomes paid."""
    config = orders_config(make_config, payments={"delay_seconds": 2})
    first = await start(aiohttp_client, config)
    _, seller = await user(first, seller=True)
    mug = await product(first, seller, stock={EU: 5})
    _, token = await user(first)
    order = await (await checkout(first, token, [(mug, 1)])).json()
    payments = first.app[POOLS]["payments"]
    await wait_until(lambda: payments.fetchval("SELECT count(*) FROM payments"), lambda n: n == 1, "the payment")
    await first.close()  # before the payment is due

    second = await start(aiohttp_client, worker(config, "second"))
    paid = await wait_status(second, token, order["id"], "paid")
    assert [h["status"] for h in paid["history"]] == ["pending_payment", "paid"]
    pool = second.app[POOLS]
    assert await pool["payments"].fetchval("SELECT count(*) FROM payments WHERE status = 'approved'") == 1
    await wait_until(lambda: stock(second, mug), lambda s: (s["quantity"], s["reserved"]) == (4, 0), "the sale")


async def test_broker_restart_mid_flow_leaves_no_order_stuck(aiohttp_client, make_config):
    """The broker dies right after checkout and comes back later: every order ends paid (its events were
    kept in the outboxes) or expired by the sweep (an event the dying broker had swallowed), never
    pending; held stock is never left behind, and a payment that still went through is refunded."""
    own = EmbeddedBroker("127.0.0.1", free_port(), SECRET)
    await own.start()
    try:
        config = orders_config(make_config, payments={"delay_seconds": 1}, orders={"reservation_ttl_seconds": 4},
                               broker={"url": f"mqtt://127.0.0.1:{own.port}"})
        client = await start(aiohttp_client, config)
        _, seller = await user(client, seller=True)
        mug = await product(client, seller, stock={EU: 10})
        _, token = await user(client)
        ids = [(await (await checkout(client, token, [(mug, 1)])).json())["id"] for _ in range(3)]
        await own.stop()
        await wait_until(lambda: asyncio.sleep(0, client.app[EVENT_BUS].connected), lambda c: not c, "the outage")
        await asyncio.sleep(1.5)  # payments fall due while the broker is away
        await own.start()

        async def statuses():
            return [(await get_order(client, token, i))["status"] for i in ids]
        final = await wait_until(statuses, lambda s: "pending_payment" not in s, "no order pending")
        assert set(final) <= {"paid", "expired"}
        sold = final.count("paid")
        await wait_until(lambda: stock(client, mug), lambda s: (s["quantity"], s["reserved"]) == (10 - sold, 0),
                         "stock settled")
        payments = client.app[POOLS]["payments"]
        for order_id, status in zip(ids, final):
            if status == "expired":  # a payment approved after all is given back
                await wait_until(lambda: payments.fetchval("SELECT status FROM payments WHERE order_id = $1", order_id),
                                 lambda s: s in (None, "declined", "refunded", "pending"), f"{order_id} settled")
    finally:
        if own.running:
            await own.stop()


async def test_an_unpaid_order_expires_and_releases_its_stock(aiohttp_client, make_config):
    config = orders_config(make_config, payments={"delay_seconds": 300}, orders={"reservation_ttl_seconds": 2})
    client = await start(aiohttp_client, config)
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    _, token = await user(client)
    order = await (await checkout(client, token, [(mug, 3)])).json()
    assert (await stock(client, mug))["reserved"] == 3
    expired = await wait_status(client, token, order["id"], "expired")
    assert expired["history"][-1]["actor"] == "system:expiry"
    assert (await stock(client, mug)) == {"region": EU, "quantity": 5, "reserved": 0, "available": 5}
    resp = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=bearer(token))
    assert resp.status == 409 and resp.content_type == "application/problem+json"

    # the payment arrives after all (a slow processor): the order stays expired and the money goes back
    await client.app[POOLS]["payments"].execute("UPDATE payments SET due_at = now()")
    payments = client.app[POOLS]["payments"]
    await wait_until(lambda: payments.fetchval("SELECT status FROM payments WHERE order_id = $1", order["id"]),
                     lambda s: s == "refunded", "the refund")
    assert (await get_order(client, token, order["id"]))["status"] == "expired"


# ============================================================================= the state machine

async def test_transitions_cancel_and_refund(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config, payments={"delay_seconds": 1}))
    seller_id, seller = await user(client, seller=True)
    _, other_seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 20})
    _, token = await user(client)

    def status(order_id: str, new: str, who: str = seller):
        return client.post(f"/api/v1/orders/{order_id}/status", json={"status": new}, headers=bearer(who))

    def cancel(order_id: str, who: str = token):
        return client.post(f"/api/v1/orders/{order_id}/cancel", headers=bearer(who))

    early, failed, shipped, refunded = [
        (await (await checkout(client, token, [(mug, n)], number=DECLINED if n == 2 else VISA)).json())["id"]
        for n in (1, 2, 3, 4)]
    resp = await cancel(early)  # before its payment is made: the stock goes back at once
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "cancelled" and body["history"][-1]["actor"].startswith("customer:")
    assert (await stock(client, mug))["reserved"] == 2 + 3 + 4
    assert (await cancel(early)).status == 409
    assert (await cancel(shipped, other_seller)).status == 404  # not theirs to see

    await wait_status(client, token, failed, "payment_failed")
    assert (await cancel(failed)).status == 409
    await wait_status(client, token, shipped, "paid")
    resp = await status(shipped, "shipped")  # skipping fulfilled
    assert resp.status == 409 and "cannot become shipped" in (await resp.json())["detail"]
    assert (await status(shipped, "fulfilled", token)).status == 403          # a customer
    assert (await status(shipped, "fulfilled", other_seller)).status == 404   # no lines in it
    assert (await status(shipped, "paid")).status == 422                      # not a seller's step
    for step in ("fulfilled", "shipped", "delivered"):
        resp = await status(shipped, step)
        assert resp.status == 200 and (await resp.json())["status"] == step
    done = await get_order(client, token, shipped)
    assert [h["status"] for h in done["history"]] == ["pending_payment", "paid", "fulfilled", "shipped", "delivered"]
    assert done["history"][2]["actor"] == f"seller:{seller_id}"
    assert (await status(shipped, "fulfilled")).status == 409
    assert (await cancel(shipped)).status == 409

    await wait_status(client, token, refunded, "paid")
    resp = await cancel(refunded)
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    for order_id in (refunded, early):  # a paid order cancelled, and a payment that came after the cancel
        await wait_until(lambda: payments_of(client, token, order_id), lambda p: p and p[0]["status"] == "refunded",
                         f"the refund of {order_id}")
    assert (await get_order(client, token, early))["status"] == "cancelled"
    await wait_until(lambda: stock(client, mug), lambda s: (s["quantity"], s["reserved"]) == (17, 0),
                     "3 units sold, the rest back on the shelf")


async def payments_of(client, token: str, order_id: str) -> list[dict]:
    resp = await client.get("/api/v1/payments", params={"order_id": order_id}, headers=bearer(token))
    return await resp.json()


# ============================================================================= the marketplace

async def test_who_sees_which_orders_and_lines(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    ana_id, ana = await user(client, seller=True)
    bo_id, bo = await user(client, seller=True)
    _, cy = await user(client, seller=True)
    _, admin = await user(client, admin=True)
    mug = await product(client, ana, stock={EU: 10}, price_cents=1000, name="Ana mug")
    pen = await product(client, bo, stock={EU: 10}, price_cents=300, name="Bo pen")
    _, dee = await user(client)
    _, eve = await user(client)
    both = await (await checkout(client, dee, [(mug, 1), (pen, 2)])).json()
    only_bo = await (await checkout(client, eve, [(pen, 1)])).json()
    assert both["total_cents"] == 1600
    await wait_status(client, dee, both["id"], "paid")

    as_ana = await get_order(client, ana, both["id"])
    assert as_ana["view"] == "seller" and [ln["name"] for ln in as_ana["lines"]] == ["Ana mug"]
    assert as_ana["total_cents"] == 1000 and {ln["seller_id"] for ln in as_ana["lines"]} == {ana_id}
    assert [ln["seller_id"] for ln in (await get_order(client, bo, both["id"]))["lines"]] == [bo_id]
    assert len((await get_order(client, admin, both["id"]))["lines"]) == 2
    for stranger in (cy, eve):
        resp = await client.get(f"/api/v1/orders/{both['id']}", headers=bearer(stranger))
        assert resp.status == 404 and resp.content_type == "application/problem+json"
    assert (await client.get(f"/api/v1/orders/{both['id']}")).status == 401
    assert (await client.get("/api/v1/orders/ord_" + "x" * 24, headers=bearer(dee))).status == 404
    assert (await client.get("/api/v1/orders/12", headers=bearer(dee))).status == 404

    async def listed(token: str, **params: str) -> list[str]:
        resp = await client.get("/api/v1/orders", params=params, headers=bearer(token))
        assert resp.status == 200, await resp.text()
        return [o["id"] for o in await resp.json()]
    assert await listed(dee) == [both["id"]] and await listed(eve) == [only_bo["id"]]
    assert await listed(ana, **{"as": "seller"}) == [both["id"]]
    assert set(await listed(bo, **{"as": "seller"})) == {both["id"], only_bo["id"]}
    assert await listed(cy, **{"as": "seller"}) == []
    assert set(await listed(admin)) == {both["id"], only_bo["id"]}
    await wait_status(client, eve, only_bo["id"], "paid")
    assert set(await listed(admin, status="paid")) == {both["id"], only_bo["id"]}
    assert await listed(admin, status="shipped") == []
    for params, code in (({"as": "seller"}, 403), ({"as": "admin"}, 403), ({"status": "lost"}, 422),
                         ({"as": "boss"}, 422), ({"limit": "0"}, 422)):
        assert (await client.get("/api/v1/orders", params=params, headers=bearer(dee))).status == code, params

    page = await (await client.get("/seller/orders", headers=bearer(ana))).text()
    assert "Ana mug" in page and "Bo pen" not in page and "Mark fulfilled" in page
    resp = await client.post(f"/orders/{both['id']}/status", data={"status": "fulfilled", "next": "/seller/orders"},
                             headers=bearer(ana), allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/seller/orders"
    page = await (await client.get("/admin/orders?status=fulfilled", headers=bearer(admin))).text()
    assert both["id"] in page and only_bo["id"] not in page
    assert (await client.get("/admin/orders", headers=bearer(ana), allow_redirects=False)).status == 403
    page = await (await client.get("/orders", headers=bearer(dee))).text()
    assert both["id"] in page and only_bo["id"] not in page and "Fulfilled" in page
    page = await (await client.get(f"/orders/{both['id']}", headers=bearer(dee))).text()
    assert "Ana mug" in page and "Bo pen" in page and "Marked fulfilled by the seller" in page
    assert (await client.get(f"/orders/{both['id']}", headers=bearer(eve))).status == 404


# ============================================================================= live status

async def read_event(resp, timeout: float = DEADLINE) -> dict[str, Any]:
    """The next ``event: status`` of a server-sent event stream (comments skipped)."""
    async with asyncio.timeout(timeout):
        fields: dict[str, str] = {}
        while True:
            line = (await resp.content.readline()).decode()
            if line in ("\n", ""):
                if fields.get("event") == "status":
                    return json.loads(fields["data"])
                if line == "":
                    raise AssertionError("the stream ended")
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.rstrip("\n").partition(": ")
                fields[name] = value


async def test_live_status_stream(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config, payments={"delay_seconds": 1}))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    _, token = await user(client)
    _, stranger = await user(client)
    order = await (await checkout(client, token, [(mug, 1)])).json()

    assert (await client.get(f"/api/v1/orders/{order['id']}/events", headers=bearer(stranger))).status == 404
    assert (await client.get(f"/api/v1/orders/{order['id']}/events", headers=bearer(seller))).status == 404
    resp = await client.get(f"/api/v1/orders/{order['id']}/events", headers=bearer(token))
    try:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["X-Accel-Buffering"] == "no" and resp.headers["Cache-Control"] == "no-store"
        first = await read_event(resp)
        assert first["order_id"] == order["id"] and first["status"] == "pending_payment"
        paid = await read_event(resp)
        assert paid["status"] == "paid" and paid["previous"] == "pending_payment" and paid["at"]
    finally:
        resp.close()

    page = await (await client.get(f"/orders/{order['id']}", headers=bearer(token))).text()
    assert f'data-events-url="/api/v1/orders/{order["id"]}/events"' in page
    assert '<script src="/static/orders/order-live.js" defer></script>' in page and "<script>" not in page
    script = await client.get("/static/orders/order-live.js")
    assert script.status == 200 and "EventSource" in await script.text()

    await client.post(f"/api/v1/orders/{order['id']}/status", json={"status": "fulfilled"}, headers=bearer(seller))
    cancelled = await (await checkout(client, token, [(mug, 1)])).json()
    resp = await client.get(f"/api/v1/orders/{cancelled['id']}/events", headers=bearer(token))
    try:
        assert (await read_event(resp))["status"] == "pending_payment"
        await client.post(f"/api/v1/orders/{cancelled['id']}/cancel", headers=bearer(token))
        assert (await read_event(resp))["status"] == "cancelled"
        async with asyncio.timeout(20):
            assert await resp.content.read() == b""  # a final status ends the stream
    finally:
        resp.close()

    resp = await client.get(f"/api/v1/orders/{order['id']}/events", headers=bearer(token))  # fulfilled: open-ended
    assert (await read_event(resp))["status"] == "fulfilled"
    started = asyncio.get_running_loop().time()
    await client.server.close()  # a shutdown ends open streams instead of waiting for them
    assert asyncio.get_running_loop().time() - started < 5


# ============================================================================= pages

async def log_in(client) -> tuple[int, str]:
    """A new customer logged in through the login page (cookie session): (user id, the page's CSRF token)."""
    email = f"p{uuid.uuid4().hex[:12]}@example.com"
    resp = await client.post("/api/v1/users", json={"email": email, "name": "Page", "password": PASSWORD})
    assert resp.status == 202, await resp.text()
    page = await (await client.get("/login")).text()
    resp = await client.post("/login", data={"csrf_token": CSRF.search(page).group(1), "email": email,
                                             "password": PASSWORD, "next": "/orders"})
    assert resp.status == 200 and resp.url.path == "/orders", await resp.text()
    user_id = (await (await client.get("/api/v1/users/me")).json())["id"]  # the session's own account
    return user_id, CSRF.search(await resp.text()).group(1)


async def test_checkout_through_the_pages(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config, payments={"delay_seconds": 300}))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    resp = await client.get("/checkout", allow_redirects=False)
    assert resp.status == 200 and 'name="email"' in await resp.text()  # guests check out with an email

    customer_id, csrf = await log_in(client)
    page = await (await client.get(f"/products/{mug}")).text()
    resp = await client.post("/cart/items", data={"csrf_token": CSRF.search(page).group(1), "product_id": str(mug),
                                                  "quantity": "9"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/products/{mug}"  # more than there is
    assert "Only 5 of “Blue mug” available" in await (await client.get(resp.headers["Location"])).text()
    await client.post("/cart/items", data={"csrf_token": csrf, "product_id": str(mug), "quantity": "2"})
    page = await (await client.get("/checkout")).text()
    assert "2 × Blue mug" in page and "€25.98" in page and 'name="idempotency_key"' in page
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    form = {"csrf_token": csrf, "idempotency_key": key, **{f"ship_to.{k}": v for k, v in SPAIN.items()},
            "card_number": BAD_LUHN, "exp_month": "12",
            "exp_year": str(datetime.now().year + 2), "cvc": CVC}
    resp = await client.post("/checkout", data=form, allow_redirects=False)
    page = await resp.text()
    assert resp.status == 422 and "not valid" in page and BAD_LUHN not in page and not holds_cvc(page)

    form["card_number"] = VISA
    first = await client.post("/checkout", data=form, allow_redirects=False)
    again = await client.post("/checkout", data=form, allow_redirects=False)  # a double submit
    assert first.status == again.status == 303 and first.headers["Location"] == again.headers["Location"]
    order_url = first.headers["Location"]
    assert re.fullmatch(r"/orders/ord_[a-z0-9]{24}", order_url)
    page = await (await client.get(order_url)).text()
    assert "Awaiting payment" in page and "Cancel order" in page and "Visa ending 4242" in page
    assert await client.app[POOLS]["orders"].fetchval("SELECT count(*) FROM orders WHERE customer_id = $1",
                                                      customer_id) == 1
    assert "Your cart is empty" in await (await client.get("/cart")).text()

    resp = await client.post(f"{order_url}/cancel", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303
    page = await (await client.get(order_url)).text()
    assert "is cancelled" in page and "Cancelled by the customer" in page and "Cancel order" not in page
    assert (await client.post(f"{order_url}/cancel", data={})).status == 403  # no CSRF token


# ============================================================================= no card data anywhere

CARD_DIGITS = re.compile(r"[^0-9A-Za-z]{0,3}".join("4242424242424242"))
CVC_FIELD = re.compile(r"\b(cvc|cvv|cvc2|cvv2|csc|security_code)\b", re.IGNORECASE)
# random ids, tokens, hashes and times may hold the CVC's 4 digits by chance: taken out before looking for it
NOISE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-fA-F]{16,}|gAAAAA[\w\-=]+|"
                   r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}(:\d{2})?)?|"
                   r"ord_[a-z0-9]+|\$argon2[^\s\"]+")
CVC_TOKEN = re.compile(rf"(?<![0-9A-Za-z]){CVC}(?![0-9A-Za-z])")


def holds_cvc(text: str) -> bool:
    """The CVC as a value of its own (in JSON, a form, a log line), not 4 digits inside a longer random word
    such as an MQTT client id ("test-c8317a5b3c" once failed this test in CI)."""
    return bool(CVC_TOKEN.search(NOISE.sub(" ", text)))


async def dump_databases(config: Config) -> str:
    """Every table of every ``<prefix>_*`` database, row by row as text (outbox payloads included)."""
    from ecom.db import database_url
    server = await asyncpg.connect(config.database.url)
    try:
        names = [r["datname"] for r in await server.fetch(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", config.database.name_prefix + "_")]
    finally:
        await server.close()
    assert {f"{config.database.name_prefix}_{p}" for p in PLUGINS if p != "taxes"} <= set(names)  # taxes: no database
    texts = []
    for name in names:
        conn = await asyncpg.connect(database_url(config.database.url, name))
        try:
            tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            for table in [r["tablename"] for r in tables]:
                texts += [r["t"] for r in await conn.fetch(f'SELECT t::text AS t FROM "{table}" t')]
        finally:
            await conn.close()
    return "\n".join(texts)


async def test_no_card_number_or_cvc_in_databases_logs_or_messages(aiohttp_client, make_config, caplog):
    caplog.set_level(logging.DEBUG)
    config = orders_config(make_config)
    client = await start(aiohttp_client, config)
    messages: list[str] = []
    async with aiomqtt.Client(**_mqtt_args(config, "wire")) as mqtt:
        await mqtt.subscribe("ecom/#", qos=1)

        async def read():
            async for message in mqtt.messages:
                messages.append(message.payload.decode())
        reader = asyncio.get_running_loop().create_task(read())
        try:
            _, seller = await user(client, seller=True)
            mug = await product(client, seller, stock={EU: 10})
            _, token = await user(client)
            paid = await (await checkout(client, token, [(mug, 1)], key="k1")).json()
            failed = await (await checkout(client, token, [(mug, 1)], number=DECLINED)).json()
            assert (await checkout(client, token, [(mug, 1)], number=BAD_LUHN)).status == 422
            await client.post("/api/v1/cart/items", json={"product_id": mug, "quantity": 1}, headers=bearer(token))
            resp = await client.post("/checkout", headers=bearer(token), allow_redirects=False, data={
                **{f"ship_to.{k}": v for k, v in SPAIN.items()}, "card_number": "4242-4242-4242-4242", "exp_month": "12",
                "exp_year": str(datetime.now().year + 1), "cvc": CVC, "idempotency_key": "page-1"})
            assert resp.status == 303
            await wait_status(client, token, paid["id"], "paid")
            await wait_status(client, token, failed["id"], "payment_failed")
            await client.post(f"/api/v1/orders/{paid['id']}/cancel", headers=bearer(token))
            await wait_until(lambda: payments_of(client, token, paid["id"]), lambda p: p[0]["status"] == "refunded",
                             "the refund")
            await wait_until(lambda: asyncio.sleep(0, messages),
                             lambda m: any("ecom/payments/refunded" in x for x in m), "the refund on the wire")
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    dump = await dump_databases(config)
    assert paid["id"] in dump and "4242" in dump and "card_token" in dump  # the dump is real (outbox too)
    sources = {"databases": dump, "logs": caplog.text, "messages": "\n".join(messages)}
    assert any("ecom/payments/requested" in m for m in messages) and "order" in caplog.text
    for where, text in sources.items():
        assert not CARD_DIGITS.search(text), f"a full card number in the {where}"
        assert not CVC_FIELD.search(text), f"a CVC field in the {where}"
        assert not holds_cvc(text), f"the CVC in the {where}"


# ============================================================================= config

def test_config_defaults_and_bad_values():
    assert OrdersConfig() == OrdersConfig(reservation_ttl_seconds=900, expiry_sweep_seconds=5.0, max_lines=50)
    for section in ({"reservation_ttl_seconds": 0}, {"reservation_ttl_seconds": 7 * 86400}, {"expiry_sweep_seconds": 0},
                    {"max_lines": 0}, {"max_lines": "50"}, {"ttl": 5}):
        with pytest.raises(ConfigError, match="plugins.orders"):
            parse_section(OrdersConfig, section, "plugins.orders")
