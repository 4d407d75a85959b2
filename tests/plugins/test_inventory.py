"""The inventory plugin over real HTTP, PostgreSQL and broker (with the real users and products plugins):
who may change stock, bad input, the ledger, reservations under concurrency, expiry, and CSV imports
applied by two app instances at once.
"""
from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any, Awaitable, Callable

import asyncpg
import pytest

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
from plugins.users.admin import create_admin

PASSWORD = "correct horse battery"
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
    email = f"{unique()}@example.com"
    resp = await client.post("/api/v1/users", json={"email": email, "name": "Tester", "password": PASSWORD,
                                                    "is_seller": seller})
    assert resp.status == 201, await resp.text()
    user_id = (await resp.json())["id"]
    if admin:
        await create_admin(client.app[POOLS]["users"], email, PASSWORD, time_cost=1, memory_kib=8)
    resp = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return user_id, (await resp.json())["token"]


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


async def wait_until(probe: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], what: str,
                     timeout: float = DEADLINE) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if done(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.05)


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
    user_id = (await resp.json())["id"]
    resp = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    await log_in(client, email)
    return user_id, (await resp.json())["token"]


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
    other_id, other_token = await user(client, seller=True)
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
