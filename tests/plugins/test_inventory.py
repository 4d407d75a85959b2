"""The inventory plugin over real HTTP, PostgreSQL and broker (with the real users and products plugins):
who may change stock, bad input, the ledger, reservations under concurrency, expiry, and CSV imports
applied by two app instances at once.
"""
from __future__ import annotations

import asyncio
import re
import threading
import time
import urllib.request
import uuid
from typing import Any

import asyncpg
import pytest

from tests.helpers import PASSWORD, account, wait_until
from ecom.app import POOLS, create_app
from ecom.config import ConfigError, parse_section
from ecom.errors import Conflict, NotFound, ValidationFailed
from ecom.gateway.auth import Identity
from ecom.seed import Seeder, SeedOptions
from plugins.inventory import csvfile, imports_db
from plugins.inventory.config import InventoryConfig
from plugins.inventory.keys import IMPORTS, INVENTORY, OutOfStock
from plugins.inventory.seed import seed as seed_inventory
from plugins.products.keys import PRODUCTS

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PLUGINS = ["users", "products", "inventory"]
FAST = {"sweep_interval_seconds": 0.1, "import_batch_size": 100}
DEADLINE = 15.0
EU, US, AP = "eu-west", "us-east", "ap-south"


def app_config(make_config, inventory: dict | None = None, **sections):
    return make_config(plugins={"enabled": PLUGINS, "inventory": {**FAST, **(inventory or {})}}, **sections)


@pytest.fixture
async def client(aiohttp_client, make_config):
    return await aiohttp_client(create_app(app_config(make_config)))


# --- helpers ---

def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


async def user(client, *, seller: bool = False, admin: bool = False) -> tuple[int, str]:
    """(user id, bearer token) of a new customer, seller or admin."""
    user_id, _, token = await account(client, seller=seller, admin=admin)
    return user_id, token


async def product(client, token: str, sku: str | None = None) -> int:
    resp = await client.post("/api/v1/products", headers=bearer(token), json={
        "name": "Blue mug", "description": "A mug.", "price_cents": 1299, "currency": "EUR", "type": "Kitchen",
        "sku": sku or unique("SKU-")})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"]


async def put_stock(client, token: str, product_id: int, region: str, quantity: Any, **extra):
    return await client.put(f"/api/v1/inventory/{product_id}/{region}", headers=bearer(token),
                            json={"quantity": quantity, **extra})


async def stocked_product(client, quantity: int, region: str = EU) -> tuple[int, str]:
    """A new seller's product with ``quantity`` units in ``region``: (product id, seller token)."""
    _, token = await user(client, seller=True)
    product_id = await product(client, token)
    assert (await put_stock(client, token, product_id, region, quantity)).status == 200
    return product_id, token


def seller_identity(user_id: int, admin: bool = False) -> Identity:
    roles = {"customer", "seller"} | ({"admin"} if admin else set())
    return Identity(user_id, f"{user_id}@example.com", "Tester", frozenset(roles))


async def stock_row(pool: asyncpg.Pool, product_id: int, region: str) -> asyncpg.Record:
    return await pool.fetchrow("SELECT quantity, reserved FROM stock WHERE product_id = $1 AND region = $2",
                               product_id, region)


async def ledger_mismatches(pool: asyncpg.Pool, product_ids: list[int]) -> list[dict]:
    """Stock rows whose quantity or reserved differs from the sum of their movements (must be none)."""
    rows = await pool.fetch("""
        SELECT coalesce(s.product_id, m.product_id) AS product_id, coalesce(s.region, m.region) AS region,
               s.quantity, s.reserved, m.q, m.r
        FROM stock s FULL JOIN (SELECT product_id, region, sum(quantity_delta) AS q, sum(reserved_delta) AS r
                                FROM stock_movements GROUP BY 1, 2) m USING (product_id, region)
        WHERE coalesce(s.product_id, m.product_id) = ANY($1::bigint[])
          AND (s.quantity IS DISTINCT FROM m.q OR s.reserved IS DISTINCT FROM m.r)""", product_ids)
    return [dict(r) for r in rows if not (r["quantity"] == 0 and r["q"] is None and r["reserved"] == 0)]


async def csrf_from(client, path: str, headers: dict | None = None) -> str:
    resp = await client.get(path, headers=headers)
    assert resp.status == 200, await resp.text()
    return CSRF.search(await resp.text()).group(1)


async def log_in(client, token_user_email: str) -> None:
    token = await csrf_from(client, "/login")
    resp = await client.post("/login", data={"csrf_token": token, "email": token_user_email, "password": PASSWORD})
    assert resp.status == 200


async def session_seller(client) -> tuple[int, str]:
    """A seller logged in with a session cookie on ``client``: (user id, bearer token for API set-up)."""
    email = f"{unique()}@example.com"
    resp = await client.post("/api/v1/users", json={"email": email, "name": "Page Seller", "password": PASSWORD,
                                                    "is_seller": True})
    assert resp.status == 202, await resp.text()
    resp = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    token = (await resp.json())["token"]
    await log_in(client, email)
    resp = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    return (await resp.json())["id"], token


# --- stock: who may change it ---

async def test_owner_and_admin_set_stock_others_cannot(client):
    _, owner = await user(client, seller=True)
    _, other_seller = await user(client, seller=True)
    _, customer = await user(client)
    _, admin = await user(client, admin=True)
    product_id = await product(client, owner)

    resp = await put_stock(client, owner, product_id, EU, 12, reason="first delivery")
    body = await resp.json()
    assert resp.status == 200 and body["quantity"] == 12 and body["available"] == 12 and body["region"] == EU

    resp = await put_stock(client, other_seller, product_id, EU, 0)
    assert resp.status == 404 and resp.content_type == "application/problem+json"  # as the products plugin
    resp = await put_stock(client, customer, product_id, EU, 0)
    assert resp.status == 403
    resp = await client.put(f"/api/v1/inventory/{product_id}/{EU}", json={"quantity": 0})
    assert resp.status == 401
    for token in (other_seller, customer):
        resp = await client.post(f"/api/v1/inventory/{product_id}/{EU}/adjustments", headers=bearer(token),
                                 json={"delta": -12})
        assert resp.status in (403, 404)
        assert (await client.get(f"/api/v1/inventory/{product_id}/movements", headers=bearer(token))).status in (403, 404)

    resp = await put_stock(client, admin, product_id, US, 3)
    assert resp.status == 200 and (await resp.json())["quantity"] == 3
    resp = await client.post(f"/api/v1/inventory/{product_id}/{EU}/adjustments", headers=bearer(owner),
                             json={"delta": -2, "reason": "broken"})
    assert resp.status == 200 and (await resp.json())["quantity"] == 10

    resp = await client.get(f"/api/v1/inventory/{product_id}")  # public
    assert resp.status == 200
    assert await resp.json() == [{"region": EU, "quantity": 10, "reserved": 0, "available": 10},
                                 {"region": US, "quantity": 3, "reserved": 0, "available": 3},
                                 {"region": AP, "quantity": 0, "reserved": 0, "available": 0}]

    resp = await client.get(f"/api/v1/inventory/{product_id}/movements?limit=2", headers=bearer(owner))
    page = await resp.json()
    assert resp.status == 200 and [m["quantity_delta"] for m in page["items"]] == [-2, 3]
    assert page["items"][0]["reason"] == "broken" and page["items"][1]["actor"].startswith("user:")
    resp = await client.get(f"/api/v1/inventory/{product_id}/movements?cursor={page['next_cursor']}",
                            headers=bearer(admin))
    rest = await resp.json()
    assert [m["quantity_delta"] for m in rest["items"]] == [12] and rest["next_cursor"] is None
    assert rest["items"][0]["reason"] == "first delivery" and rest["items"][0]["kind"] == "adjustment"
    assert await ledger_mismatches(client.app[POOLS]["inventory"], [product_id]) == []


async def test_pages_only_for_the_owner_and_admins(client):
    _, other_token = await user(client, seller=True)
    other_product = await product(client, other_token)
    seller_id, token = await session_seller(client)
    own = await product(client, token)

    resp = await client.get("/seller/inventory")
    page = await resp.text()
    assert resp.status == 200 and f"/seller/inventory/{own}/{EU}" in page and f"/seller/inventory/{other_product}" not in page
    assert 'name="csrf_token"' in page and resp.headers["Cache-Control"] == "no-store"
    csrf = CSRF.search(page).group(1)

    resp = await client.post(f"/seller/inventory/{own}/{EU}", data={"csrf_token": csrf, "quantity": "25",
                                                                    "reason": "stocktake"})
    page = await resp.text()
    assert resp.status == 200 and resp.url.path == f"/seller/inventory/{own}"
    assert "set to 25" in page and "stocktake" in page and "adjustment" in page  # flash + history
    resp = await client.post(f"/seller/inventory/{own}/{EU}", data={"csrf_token": csrf, "quantity": "-3"})
    page = await resp.text()
    assert resp.status == 422 and "Enter a whole number" in page and 'aria-invalid="true"' in page
    resp = await client.post(f"/seller/inventory/{own}/mars", data={"csrf_token": csrf, "quantity": "3"})
    assert resp.status == 422 and "Unknown region" in await resp.text()
    resp = await client.post(f"/seller/inventory/{own}/{EU}", data={"quantity": "3"})
    assert resp.status == 403  # no CSRF token

    assert (await client.get(f"/seller/inventory/{other_product}")).status == 404
    resp = await client.post(f"/seller/inventory/{other_product}/{EU}", data={"csrf_token": csrf, "quantity": "0"})
    assert resp.status == 404
    assert (await stock_row(client.app[POOLS]["inventory"], other_product, EU)) is None

    _, customer = await user(client)
    assert (await client.get("/seller/inventory", headers=bearer(customer))).status == 403
    _, admin = await user(client, admin=True)
    resp = await client.get(f"/seller/inventory/{other_product}", headers=bearer(admin))
    assert resp.status == 200 and "History" in await resp.text()
    client.session.cookie_jar.clear()
    resp = await client.get("/seller/inventory", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login")


async def test_product_page_shows_availability_per_region(client):
    product_id, token = await stocked_product(client, 5, EU)
    await put_stock(client, token, product_id, US, 0)
    resp = await client.get(f"/products/{product_id}")
    page = await resp.text()
    assert resp.status == 200 and "Availability" in page
    assert f"{EU}: <span class=\"text-success\">5 in stock" in page
    assert f"{US}: <span class=\"text-danger\">out of stock" in page


# --- bad input ---

@pytest.mark.parametrize("kwargs, status, field", [
    ({"json": {"quantity": -1}}, 422, "quantity"),
    ({"json": {"quantity": 10**12}}, 422, "quantity"),
    ({"json": {"quantity": 10**40}}, 422, "quantity"),
    ({"json": {"quantity": 1.5}}, 422, "quantity"),
    ({"json": {"quantity": "5"}}, 422, "quantity"),
    ({"json": {"quantity": True}}, 422, "quantity"),
    ({"json": {}}, 422, "quantity"),
    ({"json": {"quantity": 1, "reason": ["x"]}}, 422, "reason"),
    ({"json": {"quantity": 1, "reason": "x" * 501}}, 422, "reason"),
    ({"json": {"quantity": 1, "reason": "a\x00b"}}, 422, "reason"),
    ({"json": [1]}, 422, None),
    ({"data": "{nope", "headers": {"Content-Type": "application/json"}}, 400, None),
    ({"data": b"\xff\xfe", "headers": {"Content-Type": "application/json"}}, 400, None),
    ({"data": "quantity=1", "headers": {"Content-Type": "text/plain"}}, 415, None),
])
async def test_bad_stock_input_is_a_clear_4xx(client, kwargs, status, field):
    product_id, token = await stocked_product(client, 1)
    headers = {**bearer(token), **kwargs.pop("headers", {})}
    resp = await client.put(f"/api/v1/inventory/{product_id}/{EU}", headers=headers, **kwargs)
    body = await resp.json(content_type=None)
    assert resp.status == status and body["status"] == status
    assert field is None or field in body["errors"]
    assert (await stock_row(client.app[POOLS]["inventory"], product_id, EU))["quantity"] == 1


async def test_bad_paths_regions_and_states(client):
    product_id, token = await stocked_product(client, 4)
    resp = await put_stock(client, token, product_id, "mars-1", 3)
    body = await resp.json()
    assert resp.status == 422 and "mars-1" in body["detail"] and "region" in body["errors"]
    for path in ("/api/v1/inventory/abc", "/api/v1/inventory/1.5", "/api/v1/inventory/-1",
                 "/api/v1/inventory/99999999999999999999", "/api/v1/inventory/9223372036854775808",
                 "/api/v1/inventory/0", "/api/v1/inventory/imports/x", "/seller/inventory/imports/1e3"):
        resp = await client.get(path, headers=bearer(token))
        assert resp.status == 404, path
    assert (await client.get("/api/v1/inventory/9223372036854775807")).status == 404  # no such product
    resp = await client.post(f"/api/v1/inventory/{product_id}/{EU}/adjustments", headers=bearer(token),
                             json={"delta": -5})
    assert resp.status == 409 and "below 0" in (await resp.json())["detail"]
    resp = await client.post(f"/api/v1/inventory/{product_id}/{EU}/adjustments", headers=bearer(token),
                             json={"delta": 10**12})
    assert resp.status == 422


# --- reservations ---

async def test_reserve_commit_release_restock_and_idempotency(client):
    svc, pool = client.app[INVENTORY], client.app[POOLS]["inventory"]
    p1, _ = await stocked_product(client, 10)
    p2, _ = await stocked_product(client, 5)
    order = unique("order-")

    held = await svc.reserve(order, [(p2, 1), (p1, 2), (p2, 2)], EU, 60)  # repeated ids are summed
    assert [(r.product_id, r.quantity, r.status) for r in held] == [(p1, 2, "held"), (p2, 3, "held")]
    again = await svc.reserve(order, [(p1, 9)], EU, 60)  # the same order_ref: the existing reservation
    assert again == held
    assert [(s.region, s.available) for s in await svc.availability(p2)] == [(EU, 2), (US, 0), (AP, 0)]
    assert await svc.availability_many([p1, p2, 10**15]) == {p1: 8, p2: 2, 10**15: 0}
    assert await svc.availability_many([p1], region=US) == {p1: 0}
    for bad in ([2**63], [0], ["1"]):
        with pytest.raises(ValidationFailed):
            await svc.availability_many(bad)
    with pytest.raises(ValidationFailed):
        await svc.availability_many([p1], region="mars")

    sold = await svc.commit(order)
    assert {r.status for r in sold} == {"committed"}
    assert dict(await stock_row(pool, p1, EU)) == {"quantity": 8, "reserved": 0}
    assert await svc.commit(order) == sold  # idempotent
    with pytest.raises(Conflict, match="restock"):
        await svc.release(order, "too late")
    await svc.restock(order, "refund")
    await svc.restock(order, "refund")  # idempotent
    assert dict(await stock_row(pool, p1, EU)) == {"quantity": 10, "reserved": 0}

    second = unique("order-")
    await svc.reserve(second, [(p1, 4)], EU, 60)
    assert dict(await stock_row(pool, p1, EU)) == {"quantity": 10, "reserved": 4}
    released = await svc.release(second, "payment failed")
    assert {r.status for r in released} == {"released"}
    assert await svc.release(second, "again") == released  # idempotent
    assert dict(await stock_row(pool, p1, EU)) == {"quantity": 10, "reserved": 0}
    with pytest.raises(Conflict, match="released"):
        await svc.commit(second)
    with pytest.raises(Conflict):
        await svc.restock(second)
    with pytest.raises(NotFound):
        await svc.commit(unique("nobody-"))
    with pytest.raises(NotFound):
        await svc.release(unique("nobody-"))

    kinds = [r["kind"] for r in await pool.fetch(
        "SELECT kind FROM stock_movements WHERE product_id = $1 ORDER BY id", p1)]
    assert kinds == ["adjustment", "reservation", "sale", "adjustment", "reservation", "release"]
    assert await ledger_mismatches(pool, [p1, p2]) == []


async def test_per_shipment_order_refs_with_a_slash(client):
    """Orders reserves per shipment with order_ref "<order id>/<shipment no>" (issue 10): two shipments
    of one order are separate reservations, committed, released and restocked on their own."""
    svc, pool = client.app[INVENTORY], client.app[POOLS]["inventory"]
    p1, _ = await stocked_product(client, 10)
    p2, _ = await stocked_product(client, 5, US)
    order = unique("ord_")
    first, second = f"{order}/1", f"{order}/2"
    assert [r.order_ref for r in await svc.reserve(first, [(p1, 2)], EU, 60)] == [first]
    await svc.reserve(second, [(p2, 3)], US, 60)
    assert [(r.order_ref, r.region, r.quantity) for r in await svc.reservation(second)] == [(second, US, 3)]
    assert {r.status for r in await svc.commit(first)} == {"committed"}
    assert {r.status for r in await svc.release(second, "shipment 2 cancelled")} == {"released"}
    assert [r.status for r in await svc.reservation(first)] == ["committed"]  # the other shipment is untouched
    await svc.restock(first, "shipment 1 refunded")
    assert dict(await stock_row(pool, p1, EU)) == {"quantity": 10, "reserved": 0}
    assert dict(await stock_row(pool, p2, US)) == {"quantity": 5, "reserved": 0}
    assert await svc.reservation(order) == []  # the order id alone names no reservation
    assert await ledger_mismatches(pool, [p1, p2]) == []
    _, admin = await user(client, admin=True)
    resp = await client.get(f"/api/v1/inventory/reservations/{first.replace('/', '%2F')}", headers=bearer(admin))
    body = await resp.json()  # the admin API takes it too, with the slash percent-encoded
    assert resp.status == 200 and body["order_ref"] == first and body["items"][0]["restocked"] is True


async def test_reservation_is_all_or_nothing_and_checks_its_input(client):
    svc, pool = client.app[INVENTORY], client.app[POOLS]["inventory"]
    p1, _ = await stocked_product(client, 10)
    p2, _ = await stocked_product(client, 2)
    with pytest.raises(OutOfStock) as caught:
        await svc.reserve(unique("order-"), [(p1, 5), (p2, 3)], EU, 60)
    assert isinstance(caught.value, Conflict) and (caught.value.product_id, caught.value.available) == (p2, 2)
    assert f"product {p2}" in caught.value.detail and "2 available" in caught.value.detail
    assert dict(await stock_row(pool, p1, EU)) == {"quantity": 10, "reserved": 0}  # nothing stays reserved
    assert await pool.fetchval("SELECT count(*) FROM reservations WHERE product_id = $1", p1) == 0

    bad_calls = [
        (unique(), [(p1, 0)], EU, 60), (unique(), [(p1, 10_001)], EU, 60), (unique(), [(p1, 6000), (p1, 6000)], EU, 60),
        (unique(), [], EU, 60), (unique(), [(p1, True)], EU, 60), (unique(), [("1", 1)], EU, 60),
        (unique(), [(p1, 1)], "mars", 60), (unique(), [(p1, 1)], EU, 0), (unique(), [(p1, 1)], EU, 10**9),
        ("", [(p1, 1)], EU, 60), ("x" * 101, [(p1, 1)], EU, 60), (" padded", [(p1, 1)], EU, 60), (5, [(p1, 1)], EU, 60),
    ]
    for args in bad_calls:
        with pytest.raises(ValidationFailed):
            await svc.reserve(*args)
    assert await ledger_mismatches(pool, [p1, p2]) == []


async def test_admin_reservation_api(client):
    product_id, seller = await stocked_product(client, 3)
    _, admin = await user(client, admin=True)
    order = unique("bo-")
    body = {"order_ref": order, "region": EU, "items": [{"product_id": product_id, "quantity": 2}]}
    assert (await client.post("/api/v1/inventory/reservations", headers=bearer(seller), json=body)).status == 403
    resp = await client.post("/api/v1/inventory/reservations", headers=bearer(admin), json=body)
    held = await resp.json()
    assert resp.status == 201 and held["status"] == "held" and held["items"][0]["quantity"] == 2
    resp = await client.post("/api/v1/inventory/reservations", headers=bearer(admin),
                             json={**body, "order_ref": unique("bo-")})
    problem = await resp.json()
    assert resp.status == 409 and "1 available" in problem["detail"] and problem["errors"]["items"]
    for bad in ({**body, "items": "x"}, {**body, "items": [1]}, {**body, "items": [{"product_id": "a", "quantity": 1}]},
                {**body, "region": "mars"}, {**body, "ttl_seconds": -1}, {**body, "order_ref": None}):
        resp = await client.post("/api/v1/inventory/reservations", headers=bearer(admin), json=bad)
        assert resp.status == 422, bad
    resp = await client.post(f"/api/v1/inventory/reservations/{order}/commit", headers=bearer(admin))
    assert resp.status == 200 and (await resp.json())["status"] == "committed"
    resp = await client.post(f"/api/v1/inventory/reservations/{order}/release", headers=bearer(admin),
                             json={"reason": "x"})
    assert resp.status == 409
    assert (await client.post("/api/v1/inventory/reservations/nope/commit", headers=bearer(admin))).status == 404
    resp = await client.get(f"/api/v1/inventory/reservations/{order}", headers=bearer(admin))
    assert resp.status == 200 and (await resp.json())["items"][0]["status"] == "committed"
    assert (await client.get(f"/api/v1/inventory/{product_id}")).status == 200
    stock = {s["region"]: s for s in await (await client.get(f"/api/v1/inventory/{product_id}")).json()}
    assert stock[EU] == {"region": EU, "quantity": 1, "reserved": 0, "available": 1}


async def test_expired_reservation_is_released_by_the_sweeper(client):
    svc, pool = client.app[INVENTORY], client.app[POOLS]["inventory"]
    product_id, _ = await stocked_product(client, 4)
    order = unique("slow-")
    await svc.reserve(order, [(product_id, 3)], EU, 1)
    assert dict(await stock_row(pool, product_id, EU)) == {"quantity": 4, "reserved": 3}
    await wait_until(lambda: svc.reservation(order), lambda rows: rows[0].status == "released",
                     "the sweeper to release an expired reservation")
    assert dict(await stock_row(pool, product_id, EU)) == {"quantity": 4, "reserved": 0}
    move = await pool.fetchrow("SELECT kind, actor, reason FROM stock_movements WHERE order_ref = $1 "
                               "ORDER BY id DESC LIMIT 1", order)
    assert dict(move) == {"kind": "release", "actor": "system:sweeper", "reason": "expired"}
    with pytest.raises(Conflict):
        await svc.commit(order)
    assert await svc.release_expired() == 0  # nothing left to release, nothing released twice
    assert await ledger_mismatches(pool, [product_id]) == []


async def test_concurrent_sweeps_release_each_hold_once(client):
    svc, pool = client.app[INVENTORY], client.app[POOLS]["inventory"]
    product_id, _ = await stocked_product(client, 40)
    orders = [unique("sweep-") for _ in range(30)]
    for order in orders:
        await svc.reserve(order, [(product_id, 1)], EU, 3600)
    await pool.execute("UPDATE reservations SET expires_at = now() - interval '1 second' WHERE order_ref = ANY($1)",
                       orders)
    released = await asyncio.gather(*(svc.release_expired(limit=7) for _ in range(8)))
    await wait_until(lambda: stock_row(pool, product_id, EU), lambda row: row["reserved"] == 0,
                     "every expired hold to be released")
    assert sum(released) <= 30
    count = await pool.fetchval("SELECT count(*) FROM stock_movements WHERE kind = 'release' AND order_ref = ANY($1)",
                                orders)
    assert count == 30 and await ledger_mismatches(pool, [product_id]) == []


# --- concurrency ---

@pytest.fixture
async def wide_client(aiohttp_client, make_config):
    """An app whose pools allow real parallelism (25 connections per plugin)."""
    config = app_config(make_config, database={"pool_max": 25}, inventory={"sweep_interval_seconds": 5.0})
    return await aiohttp_client(create_app(config))


async def test_fifty_concurrent_reservations_for_seven_units_through_the_service(wide_client):
    client = wide_client
    svc, pool = client.app[INVENTORY], client.app[POOLS]["inventory"]
    product_id, _ = await stocked_product(client, 7)

    async def attempt(i: int) -> str:
        try:
            await svc.reserve(f"race-{product_id}-{i}", [(product_id, 1)], EU, 600)
            return "ok"
        except OutOfStock:
            return "out"
    results = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert results.count("ok") == 7 and results.count("out") == 43
    assert dict(await stock_row(pool, product_id, EU)) == {"quantity": 7, "reserved": 7}
    assert (await svc.availability(product_id))[0].available == 0
    assert await ledger_mismatches(pool, [product_id]) == []


async def test_fifty_concurrent_reservations_for_seven_units_over_http(wide_client):
    client = wide_client
    pool = client.app[POOLS]["inventory"]
    product_id, _ = await stocked_product(client, 7)
    _, admin = await user(client, admin=True)

    async def attempt(i: int) -> int:
        resp = await client.post("/api/v1/inventory/reservations", headers=bearer(admin), json={
            "order_ref": f"http-{product_id}-{i}", "region": EU, "items": [{"product_id": product_id, "quantity": 1}]})
        return resp.status
    statuses = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert statuses.count(201) == 7 and statuses.count(409) == 43
    stock = {s["region"]: s for s in await (await client.get(f"/api/v1/inventory/{product_id}")).json()}
    assert stock[EU]["available"] == 0 and stock[EU]["reserved"] == 7
    assert await pool.fetchval("SELECT min(quantity - reserved) FROM stock WHERE product_id = $1", product_id) == 0
    assert await ledger_mismatches(pool, [product_id]) == []


async def test_opposite_item_orders_do_not_deadlock(wide_client):
    client = wide_client
    svc, pool = client.app[INVENTORY], client.app[POOLS]["inventory"]
    p1, _ = await stocked_product(client, 100)
    p2, _ = await stocked_product(client, 100)
    for round_ in range(15):
        async with asyncio.timeout(DEADLINE):
            await asyncio.gather(
                svc.reserve(f"fwd-{p1}-{round_}", [(p1, 1), (p2, 2)], EU, 600),
                svc.reserve(f"rev-{p1}-{round_}", [(p2, 2), (p1, 1)], EU, 600),
                svc.reserve(f"mix-{p1}-{round_}", [(p2, 1), (p1, 1), (p2, 1)], EU, 600))
    assert dict(await stock_row(pool, p1, EU)) == {"quantity": 100, "reserved": 45}
    assert dict(await stock_row(pool, p2, EU)) == {"quantity": 100, "reserved": 90}
    assert await ledger_mismatches(pool, [p1, p2]) == []


async def test_concurrent_same_order_ref_reserves_once(wide_client):
    client = wide_client
    svc, pool = client.app[INVENTORY], client.app[POOLS]["inventory"]
    product_id, _ = await stocked_product(client, 1)
    order = unique("twice-")
    results = await asyncio.gather(*(svc.reserve(order, [(product_id, 1)], EU, 600) for _ in range(10)))
    assert all(r == results[0] for r in results)
    assert dict(await stock_row(pool, product_id, EU)) == {"quantity": 1, "reserved": 1}
    assert await ledger_mismatches(pool, [product_id]) == []


async def test_stock_cannot_drop_below_what_is_reserved(client):
    svc = client.app[INVENTORY]
    product_id, token = await stocked_product(client, 5)
    await svc.reserve(unique("o-"), [(product_id, 4)], EU, 600)
    resp = await put_stock(client, token, product_id, EU, 3)
    assert resp.status == 409 and "4 units are reserved" in (await resp.json())["detail"]
    resp = await client.post(f"/api/v1/inventory/{product_id}/{EU}/adjustments", headers=bearer(token),
                             json={"delta": -2})
    assert resp.status == 409
    resp = await put_stock(client, token, product_id, EU, 4)
    assert resp.status == 200 and (await resp.json())["available"] == 0
    with pytest.raises(asyncpg.CheckViolationError):  # even a bug cannot make availability negative
        await client.app[POOLS]["inventory"].execute(
            "UPDATE stock SET reserved = reserved + 1 WHERE product_id = $1 AND region = $2", product_id, EU)


# --- CSV imports ---

async def catalog(client, count: int) -> tuple[int, str, list[Any]]:
    """A new seller with ``count`` products (made through the products service: fast): (id, token, products)."""
    seller_id, token = await user(client, seller=True)
    products, who = client.app[PRODUCTS], seller_identity(seller_id)
    items = [await products.create(who, {"name": f"Item {i}", "price_cents": 100 + i, "currency": "EUR",
                                         "type": "Bulk", "sku": f"B{seller_id}-{i:04d}"}) for i in range(count)]
    return seller_id, token, items


async def job_of(client, token: str, import_id: int) -> dict:
    resp = await client.get(f"/api/v1/inventory/imports/{import_id}", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_csv_import_of_2000_lines_applied_once_by_two_workers(aiohttp_client, make_config):
    worker_a = await aiohttp_client(create_app(app_config(make_config)))
    worker_b = await aiohttp_client(create_app(app_config(make_config)))  # same databases, same broker
    pool = worker_a.app[POOLS]["inventory"]
    _, token, items = await catalog(worker_a, 667)
    regions = (EU, US, AP)
    combos = [(p, region) for p in items for region in regions]
    bad = {102: f"NOPE-{uuid.uuid4().hex[:6]},{EU},5", 1003: f"{items[0].sku},mars,5", 1998: f"{items[1].sku},{EU},-4"}
    lines, expected, good = ["sku,region,quantity"], {}, iter(combos)
    for line_no in range(2, 2002):
        if line_no in bad:
            lines.append(bad[line_no])
            continue
        p, region = next(good)
        expected[p.id, region] = (line_no * 7) % 501
        lines.append(f"{p.sku},{region},{expected[p.id, region]}")
    assert len(lines) == 2001 and len(expected) == 1997

    resp = await worker_a.post("/api/v1/inventory/imports", data="\r\n".join(lines) + "\r\n",
                               headers={**bearer(token), "Content-Type": "text/csv"})
    queued = await resp.json()
    assert resp.status == 202 and resp.headers["Location"] == f"/api/v1/inventory/imports/{queued['id']}"
    assert queued["total"] == 2000 and queued["rejected"] == 3
    assert [r["line"] for r in queued["rejected_lines"]] == [102, 1003, 1998]
    errors = [r["error"] for r in queued["rejected_lines"]]
    assert "No product with SKU" in errors[0] and "Unknown region 'mars'" in errors[1] and "negative" in errors[2]

    job = await wait_until(lambda: job_of(worker_b, token, queued["id"]), lambda j: j["status"] == "done",
                           "the import to be applied")
    assert (job["applied"], job["rejected"], job["total"]) == (1997, 3, 2000)
    moves = await pool.fetchval("SELECT count(*) FROM stock_movements WHERE kind = 'import' AND import_id = $1",
                                queued["id"])
    assert moves == 1997
    rows = await pool.fetch("SELECT product_id, region, quantity, reserved FROM stock WHERE product_id = ANY($1)",
                            [p.id for p in items])
    assert {(r["product_id"], r["region"]): r["quantity"] for r in rows if (r["product_id"], r["region"]) in expected} \
        == expected
    assert all(r["reserved"] == 0 for r in rows)
    assert await ledger_mismatches(pool, [p.id for p in items]) == []
    assert await pool.fetchval("SELECT count(*) FROM import_lines WHERE import_id = $1 AND status = 'pending'",
                               queued["id"]) == 0
    consumers = await pool.fetch("SELECT consumer FROM inbox WHERE topic = 'ecom/inventory/import_queued'")
    assert consumers, "the import_queued event went through the outbox, the broker and an inbox"

    resp = await worker_b.get(f"/seller/inventory/imports/{queued['id']}", headers=bearer(token))
    page = await resp.text()
    assert resp.status == 200 and ">done<" in page and 'http-equiv="refresh"' not in page
    assert 'value="2000"' in page and "<td>1002</td>" not in page and "<td>1003</td>" in page and "<td>1998</td>" in page


async def test_import_survives_a_worker_dying_mid_batch(aiohttp_client, make_config, monkeypatch):
    client = await aiohttp_client(create_app(app_config(make_config, {"sweep_interval_seconds": 3600,
                                                                      "import_batch_size": 2})))
    pool, imports = client.app[POOLS]["inventory"], client.app[IMPORTS]
    _, token, items = await catalog(client, 5)
    csv_text = "sku,region,quantity\n" + "".join(f"{p.sku},{EU},{10 + i}\n" for i, p in enumerate(items))

    attempts = []

    async def dies(*args, **kwargs):  # the worker "dies" after setting stock, before marking its lines
        attempts.append(args)
        raise RuntimeError("worker killed")
    monkeypatch.setattr(imports_db, "mark_lines", dies)
    resp = await client.post("/api/v1/inventory/imports", data=csv_text,
                             headers={**bearer(token), "Content-Type": "text/csv"})
    job = await resp.json()
    await wait_until(lambda: asyncio.sleep(0, attempts), bool, "the worker to attempt a batch")
    assert (await job_of(client, token, job["id"]))["status"] == "queued"
    assert await pool.fetchval("SELECT count(*) FROM stock_movements WHERE import_id = $1", job["id"]) == 0
    assert await pool.fetchval("SELECT count(*) FROM stock WHERE product_id = ANY($1) AND quantity > 0",
                               [p.id for p in items]) == 0
    resp = await client.get(f"/seller/inventory/imports/{job['id']}", headers=bearer(token))
    page = await resp.text()
    assert 'http-equiv="refresh"' in page and 'value="0"' in page and "0 of 5 lines processed" in page

    monkeypatch.undo()
    imports.wake.set()  # the next worker (or the next poll) resumes the job
    done = await wait_until(lambda: job_of(client, token, job["id"]), lambda j: j["status"] == "done",
                            "the job to resume")
    assert done["applied"] == 5
    assert await pool.fetchval("SELECT count(*) FROM stock_movements WHERE import_id = $1", job["id"]) == 5
    assert [r["quantity"] for r in await pool.fetch(
        f"SELECT quantity FROM stock WHERE product_id = ANY($1) AND region = '{EU}' ORDER BY product_id",
        [p.id for p in items])] == [10, 11, 12, 13, 14]
    assert await ledger_mismatches(pool, [p.id for p in items]) == []


async def test_import_upload_page_and_access(client):
    seller_id, token = await session_seller(client)
    products = client.app[PRODUCTS]
    item = await products.create(seller_identity(seller_id), {"name": "Lamp", "price_cents": 500, "currency": "EUR",
                                                              "type": "Home", "sku": f"L-{seller_id}"})
    csrf = await csrf_from(client, "/seller/inventory/imports/new")
    resp = await client.get("/seller/inventory/imports", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/seller/inventory/imports/new"

    form = aiohttp_form({"csrf_token": csrf}, f"sku,region,quantity\n{item.sku},{US},9\n\n{item.sku},{US},3\n")
    resp = await client.post("/seller/inventory/imports", data=form)
    page = await resp.text()
    assert resp.status == 200 and "/seller/inventory/imports/" in str(resp.url)
    assert "1 lines to apply, 1 rejected" in page and "Duplicate of line 2" in page and "<td>4</td>" in page
    import_id = int(str(resp.url).rsplit("/", 1)[1])
    await wait_until(lambda: job_of(client, token, import_id), lambda j: j["status"] == "done", "the import")
    assert [s.quantity for s in await client.app[INVENTORY].availability(item.id)] == [0, 9, 0]

    resp = await client.post("/seller/inventory/imports", data=aiohttp_form({"csrf_token": csrf}, "name,qty\nx,1\n"))
    page = await resp.text()
    assert resp.status == 422 and "must be the header" in page and 'id="file-error"' in page
    resp = await client.post("/seller/inventory/imports", data=aiohttp_form({"csrf_token": csrf}, None))
    assert resp.status == 422 and "Choose a CSV file" in await resp.text()

    _, other = await user(client, seller=True)
    _, customer = await user(client)
    _, admin = await user(client, admin=True)
    assert (await client.get(f"/api/v1/inventory/imports/{import_id}", headers=bearer(other))).status == 404
    assert (await client.get(f"/seller/inventory/imports/{import_id}", headers=bearer(other))).status == 404
    assert (await client.get(f"/api/v1/inventory/imports/{import_id}", headers=bearer(admin))).status == 200
    resp = await client.post("/api/v1/inventory/imports", data="sku,region,quantity\n",
                             headers={**bearer(customer), "Content-Type": "text/csv"})
    assert resp.status == 403
    resp = await client.post(f"/api/v1/inventory/imports?seller_id={seller_id}", data=f"sku,region,quantity\n{item.sku},{AP},2\n",
                             headers={**bearer(admin), "Content-Type": "text/csv"})
    assert resp.status == 202 and (await resp.json())["seller_id"] == seller_id  # admins import for a seller
    resp = await client.post("/api/v1/inventory/imports", data=f"sku,region,quantity\n{item.sku},{AP},2\n",
                             headers={**bearer(other), "Content-Type": "text/csv"})
    body = await resp.json()
    assert resp.status == 202 and body["rejected"] == 1 and body["status"] == "done"  # not their SKU


def aiohttp_form(fields: dict, csv_text: str | None):
    import aiohttp
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    if csv_text is not None:
        form.add_field("file", csv_text.encode(), filename="stock.csv", content_type="text/csv")
    return form


@pytest.mark.parametrize("data, content_type, status, detail", [
    (b"sku,region,quantity\n", "text/csv", 422, "no lines"),
    (b"", "text/csv", 422, "empty"),
    (b"\xff\xfe\x00garbage", "text/csv", 422, "UTF-8"),
    (b"sku,quantity\nA,1\n", "text/csv", 422, "header"),
    (b"a\x00b", "text/csv", 422, "NUL"),
    ("sku,region,quantity\n" + "A,eu-west,1\n" * 51, "text/csv", 422, "more than 50 lines"),
    ("sku,region,quantity\n" + "ABCDEFGHIJ,eu-west,1\n" * 48, "text/csv", 422, "larger than"),
    (b"{}", "application/json", 415, None),
    (b"sku,region,quantity\n", "application/x-foo", 415, None),
])
async def test_import_file_problems_are_clear_4xx(aiohttp_client, make_config, data, content_type, status, detail):
    client = await aiohttp_client(create_app(app_config(make_config, {"max_import_lines": 50,
                                                                      "max_import_bytes": 1024})))
    _, token = await user(client, seller=True)
    resp = await client.post("/api/v1/inventory/imports", data=data,
                             headers={**bearer(token), "Content-Type": content_type})
    body = await resp.json(content_type=None)
    assert resp.status == status and body["status"] == status
    assert detail is None or detail in body["detail"]


def test_csv_lines_are_checked_one_by_one():
    text = ("\ufeffSKU, Region ,Quantity\r\n"
            "A-1,eu-west,5\r\n"
            "\r\n"
            "A-2,eu-west\r\n"            # 4: too few columns
            "A-3,eu-west,1,2\r\n"        # 5: too many
            "A-4,eu-west,ten\r\n"        # 6: not a number
            "A-5,eu-west,1.5\r\n"        # 7
            "A-6,eu-west,-3\r\n"         # 8: negative
            "A-7,eu-west,99999999999\r\n"  # 9: too many units
            "bad sku!,eu-west,1\r\n"     # 10
            "A-8,moon,1\r\n"             # 11
            "A-1,eu-west,6\r\n"          # 12: duplicate of line 2
            '"A-9",us-east," 7 "\r\n'    # 13: quoted and padded: fine
            ",,\r\n")                    # 14: blank
    parsed = csvfile.parse(csvfile.decode(text.encode(), 10_000), (EU, US), 100)
    assert [(l.line_no, l.sku, l.region, l.quantity) for l in parsed.lines] == [(2, "A-1", EU, 5), (13, "A-9", US, 7)]
    assert [r.line_no for r in parsed.rejected] == [4, 5, 6, 7, 8, 9, 10, 11, 12]
    messages = [r.error for r in parsed.rejected]
    assert "found 2" in messages[0] and "found 4" in messages[1] and "not a whole number" in messages[2]
    assert "negative" in messages[4] and "more than" in messages[5] and "not valid" in messages[6]
    assert "Unknown region 'moon'" in messages[7] and "Duplicate of line 2" in messages[8]
    assert parsed.total == 11


# --- seed and config ---

async def test_seed_stocks_every_product_with_its_ledger(client):
    _, _, items = await catalog(client, 30)
    seeder = Seeder(client.app, SeedOptions(products=30))
    await seed_inventory(seeder)
    await seed_inventory(seeder)  # twice: keeps what the first run made
    pool = client.app[POOLS]["inventory"]
    ids = [p.id for p in items]
    per_product = await pool.fetch("SELECT product_id, count(*) AS n FROM stock WHERE product_id = ANY($1) "
                                   "GROUP BY product_id", ids)
    assert len(per_product) == 30 and all(1 <= r["n"] <= 3 for r in per_product)
    assert await ledger_mismatches(pool, ids) == []
    assert await pool.fetchval("SELECT count(DISTINCT kind) FROM stock_movements WHERE product_id = ANY($1)", ids) == 1


@pytest.mark.parametrize("raw, key", [
    ({"regions": []}, "regions"), ({"regions": ["eu-west", "eu-west"]}, "regions"), ({"regions": ["EU West"]}, "regions"),
    ({"reservation_ttl_seconds": 0}, "reservation_ttl_seconds"), ({"sweep_interval_seconds": 0}, "sweep_interval_seconds"),
    ({"import_batch_size": 0}, "import_batch_size"), ({"max_import_lines": 0}, "max_import_lines"),
    ({"max_import_bytes": 10}, "max_import_bytes"), ({"regions": "eu-west"}, "regions"), ({"colour": 1}, "colour"),
])
def test_bad_config_is_one_line_naming_the_key(raw, key):
    with pytest.raises(ConfigError, match=f"plugins.inventory.{key}"):
        parse_section(InventoryConfig, raw, "plugins.inventory")
    assert parse_section(InventoryConfig, {"regions": ["eu-west"]}, "plugins.inventory").regions == ("eu-west",)


async def test_a_100k_line_import_does_not_stall_the_event_loop(aiohttp_client, make_config):
    """Reading, checking and queueing 100,000 lines runs off the event loop: /healthz, asked every 50 ms
    while the file is uploaded and parsed, never waits as long as parsing the file takes (measured in the
    same run; 0.3 s at least): a parse and match on the loop would hold it longer (the worst is printed)."""
    client = await aiohttp_client(create_app(app_config(make_config, {"sweep_interval_seconds": 60})))
    _, token, items = await catalog(client, 20)
    lines = ["sku,region,quantity"] + [
        f"{items[i % 20].sku if i < 60 else f'X{i:06d}'},{(EU, US, AP)[i % 3]},{i % 500}" for i in range(100_000)]
    body = ("\r\n".join(lines) + "\r\n").encode()
    url, done, times = str(client.make_url("/healthz")), threading.Event(), []

    def probe() -> None:  # another thread, like any other client: it sees the server's loop stall
        while not done.is_set():
            began = time.monotonic()
            with urllib.request.urlopen(url, timeout=10) as answer:
                assert answer.status == 200
            times.append(time.monotonic() - began)
            done.wait(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    loop = asyncio.get_running_loop()
    try:
        await asyncio.sleep(0.2)
        began = loop.time()
        resp = await client.post("/api/v1/inventory/imports", data=body,
                                 headers={**bearer(token), "Content-Type": "text/csv"})
        took = loop.time() - began
    finally:
        done.set()
        await asyncio.to_thread(prober.join, 15)
    worst = max(times)
    queued = await resp.json()
    assert resp.status == 202 and queued["total"] == 100_000, queued
    assert queued["rejected"] == 100_000 - 60
    print(f"\n100k-line import queued in {took:.2f} s; slowest /healthz meanwhile {worst * 1000:.0f} ms")
    # a parse on the loop would hold one /healthz longer than the parse alone takes: measured here, in
    # this run, on the same machine and load (a busy machine slows both alike), with 0.3 s as the floor
    config = parse_section(InventoryConfig, {"regions": [EU, US, AP]}, "plugins.inventory")
    parse_began = time.monotonic()
    assert csvfile.parse(csvfile.decode(body, config.max_import_bytes), config.regions,
                         config.max_import_lines).rejected is not None
    parse = time.monotonic() - parse_began
    print(f"parsing the file alone takes {parse:.2f} s here")
    assert worst < max(0.3, parse), f"/healthz took {worst:.2f} s; parsing the file takes {parse:.2f} s"


async def test_lines_of_old_imports_are_purged_by_the_sweep_and_the_job_stays(aiohttp_client, make_config):
    client = await aiohttp_client(create_app(app_config(make_config, {"import_retention_days": 30})))
    pool = client.app[POOLS]["inventory"]
    _, token, items = await catalog(client, 2)
    ids = []
    for _ in range(2):
        resp = await client.post("/api/v1/inventory/imports", data=f"sku,region,quantity\n{items[0].sku},{EU},3\n"
                                 f"nope,{EU},1\n", headers={**bearer(token), "Content-Type": "text/csv"})
        assert resp.status == 202, await resp.text()
        ids.append((await resp.json())["id"])
    for import_id in ids:
        await wait_until(lambda: job_of(client, token, import_id), lambda j: j["status"] == "done", "applied")
    old, recent = ids
    await pool.execute("UPDATE imports SET finished_at = now() - interval '31 days' WHERE id = $1", old)
    await pool.execute("UPDATE imports SET finished_at = now() - interval '29 days' WHERE id = $1", recent)
    count = "SELECT count(*) FROM import_lines WHERE import_id = $1"
    await wait_until(lambda: pool.fetchval(count, old), lambda n: n == 0, "the old import's lines purged")
    assert await pool.fetchval(count, recent) == 2  # within the retention period: kept
    job = await job_of(client, token, old)  # the summary stays
    assert (job["status"], job["total"], job["applied"], job["rejected"]) == ("done", 2, 1, 1)
    with pytest.raises(ConfigError, match="import_retention_days"):
        parse_section(InventoryConfig, {"import_retention_days": 0}, "plugins.inventory")
