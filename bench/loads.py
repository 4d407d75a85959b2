"""What `bench/run.py` sends: the accounts and products it needs, the request lists wrk replays, and the
two loads wrk cannot make (checkout to paid from the order's event stream, a rush of buyers on one
product), both bounded: a fixed number of orders at a fixed rate, one wave of buyers.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field

import aiohttp
import asyncpg

from checkout_e2e import CARD, REGION, SHIP_TO, _account, _json, _stocked_products, _until_paid
from report import Request, percentile

DEMO_CUSTOMER, DEMO_PASSWORD = "customer@demo.shop", "demo-password"  # made by `run.py seed` (users plugin)


@dataclass
class Fixtures:
    session_cookie: str = ""                                    # the demo customer, logged in through /login
    customers: list[dict[str, str]] = field(default_factory=list)   # bearer headers, one per buyer
    product_ids: list[int] = field(default_factory=list)       # seeded, active: product pages and API reads
    stocked_ids: list[int] = field(default_factory=list)       # the bench's own, 1,000,000 units: checkouts, carts
    search_words: list[str] = field(default_factory=list)


async def login(session: aiohttp.ClientSession, url: str, email: str, password: str) -> str:
    """Log in through the form like a browser; returns the ``ecom_session`` cookie's value."""
    async with session.get(f"{url}/login") as resp:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text()).group(1)
    form = {"email": email, "password": password, "csrf_token": token, "next": "/account"}
    async with session.post(f"{url}/login", allow_redirects=False, data=form) as resp:
        assert resp.status == 303, f"log-in failed: {resp.status}"
    async with session.get(f"{url}/account") as resp:  # shows (and so drops) the "welcome back" flash: a cookie
        await resp.read()                              # still holding it would be re-written on every request
    for cookie in session.cookie_jar:
        if cookie.key == "ecom_session":
            return cookie.value
    raise AssertionError("no ecom_session cookie after logging in")


async def prepare(url: str, products_db: str, buyers: int, stocked: int) -> Fixtures:
    fx = Fixtures()
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=60)) as session:
        fx.session_cookie = await login(session, url, DEMO_CUSTOMER, DEMO_PASSWORD)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        gate = asyncio.Semaphore(8)

        async def one() -> dict[str, str]:
            async with gate:
                return await _account(session, url)
        fx.customers = list(await asyncio.gather(*(one() for _ in range(buyers))))
        fx.stocked_ids = await _stocked_products(session, url, stocked, 1_000_000)
    conn = await asyncpg.connect(products_db)
    try:
        rows = await conn.fetch("SELECT id, name FROM products WHERE active AND deleted_at IS NULL "
                                "AND NOT id = ANY($1) ORDER BY md5(id::text) LIMIT 1000",
                                fx.stocked_ids)  # the same ids every time
    finally:
        await conn.close()
    fx.product_ids = [r["id"] for r in rows]
    words = sorted({r["name"].split()[-1].lower() for r in rows})
    fx.search_words = words[:: max(1, len(words) // 40)][:40]
    return fx


# ------------------------------------------------------------------ request lists for wrk

def _json_headers(extra: dict[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    return (("Content-Type", "application/json"), *(extra or {}).items())


def baseline_requests(fx: Fixtures) -> dict[str, list[Request]]:
    return {
        "hello": [Request("GET", "/hello")],
        "jinja page": [Request("GET", f"/page?after={i - 1}") for i in fx.product_ids[:500]],
        "pk read": [Request("GET", f"/product/{i}") for i in fx.product_ids],
        "checkout SQL": [Request("POST", "/checkout", _json_headers(), json.dumps(
            {"product_id": fx.stocked_ids[n % len(fx.stocked_ids)], "quantity": 1, "customer_id": n % 32 + 1}))
            for n in range(800)],
    }


def ecom_requests(fx: Fixtures, customers: int = 32) -> dict[str, list[Request]]:
    cookie = (("Cookie", f"ecom_session={fx.session_cookie}"),)
    auth = [tuple(c.items()) for c in fx.customers[:customers]]
    return {
        "catalog": [Request("GET", "/products", cookie)],
        "product page": [Request("GET", f"/products/{i}", cookie) for i in fx.product_ids[:500]],
        "product API": [Request("GET", f"/api/v1/products/{i}", auth[n % len(auth)])
                        for n, i in enumerate(fx.product_ids)],
        "search API": [Request("GET", f"/api/v1/products?q={w}", auth[n % len(auth)])
                       for n, w in enumerate(fx.search_words)],
        "anonymous catalog": [Request("GET", "/products")],
        "add to cart": [Request("POST", "/api/v1/cart/items", _json_headers(dict(auth[n % len(auth)])), json.dumps(
            {"product_id": fx.stocked_ids[n % 20], "quantity": 1, "mode": "set"})) for n in range(640)],
        "checkout": [Request("POST", "/api/v1/orders", _json_headers(dict(auth[n % len(auth)])), json.dumps(
            {"items": [{"product_id": fx.stocked_ids[n % len(fx.stocked_ids)], "quantity": 1}],
             "ship_to": SHIP_TO, "payment": CARD})) for n in range(800)],
    }


# ------------------------------------------------------------------ orders: until every one is paid

async def db_now(orders_db: str):
    conn = await asyncpg.connect(orders_db)
    try:
        return await conn.fetchval("SELECT clock_timestamp()")
    finally:
        await conn.close()


async def drain(orders_db: str, since, timeout: float) -> dict:
    """Wait (at most ``timeout`` s) until no order made since ``since`` waits for its payment; count them."""
    conn = await asyncpg.connect(orders_db)
    try:
        deadline = time.monotonic() + timeout
        while True:
            row = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE status = 'pending_payment') AS pending, "
                "count(*) FILTER (WHERE status = 'paid') AS paid, "
                "count(*) FILTER (WHERE status NOT IN ('pending_payment', 'paid')) AS other FROM orders "
                "WHERE created_at >= $1", since)
            if row["pending"] == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        last = await conn.fetchval("SELECT max(h.at) FROM order_history h JOIN orders o ON o.id = h.order_id "
                                   "WHERE o.created_at >= $1 AND h.status = 'paid'", since)
        first_paid_once = await conn.fetchval(
            "SELECT count(*) FROM (SELECT h.order_id FROM order_history h JOIN orders o ON o.id = h.order_id "
            "WHERE o.created_at >= $1 AND h.status = 'paid' GROUP BY h.order_id HAVING count(*) = 1) t", since)
        return {"pending": row["pending"], "paid": row["paid"], "other": row["other"], "paid_once": first_paid_once,
                "seconds_to_last_paid": (last - since).total_seconds() if last else None}
    finally:
        await conn.close()


# ------------------------------------------------------------------ checkout to paid, at a fixed rate

async def checkout_to_paid(url: str, fx: Fixtures, rate: float, seconds: float) -> dict:
    """``rate`` checkouts a second for ``seconds`` (open loop: each starts on time whatever the others do);
    each one's latency runs from sending its POST to reading ``paid`` on its event stream."""
    count = max(1, int(rate * seconds))
    latencies: list[float] = []
    posts: list[float] = []
    failures: list[str] = []
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def one(n: int) -> None:
            headers = fx.customers[n % len(fx.customers)]
            body = {"items": [{"product_id": fx.stocked_ids[n % len(fx.stocked_ids)], "quantity": 1}],
                    "ship_to": SHIP_TO, "payment": CARD}
            started = time.perf_counter()
            try:
                async with session.post(f"{url}/api/v1/orders", json=body, headers=headers) as resp:
                    order_id = (await _json(resp, 201))["id"]
                posts.append((time.perf_counter() - started) * 1000)
                await asyncio.wait_for(_until_paid(session, url, headers, order_id), 30)
                latencies.append((time.perf_counter() - started) * 1000)
            except (AssertionError, aiohttp.ClientError, asyncio.TimeoutError) as err:
                failures.append(repr(err)[:200])

        began = time.perf_counter()
        tasks = []
        for n in range(count):
            delay = began + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - began
    return {"requests": count, "seconds": round(wall, 3), "rps": round(len(latencies) / wall, 1),
            "p50_ms": round(percentile(latencies, 50), 1), "p99_ms": round(percentile(latencies, 99), 1),
            "max_ms": round(max(latencies, default=0), 1), "errors": len(failures),
            "x_rate_asked": round(rate, 1), "x_post_p50_ms": round(percentile(posts, 50), 1),
            "x_post_p99_ms": round(percentile(posts, 99), 1), "x_failures": failures[:3]}


# ------------------------------------------------------------------ a rush: many buyers, one product, few units

async def rush(url: str, orders_db: str, fx: Fixtures, units: int) -> dict:
    """Every buyer in ``fx.customers`` posts one checkout of the same new product (``units`` in stock) at
    once; exactly ``units`` must get 201 (the others 409) and end up paid, each once."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        product_id = (await _stocked_products(session, url, 1, units))[0]
    since = await db_now(orders_db)
    buyers = fx.customers
    go = asyncio.Event()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=len(buyers) + 10)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def one(headers: dict[str, str]) -> None:
            body = {"items": [{"product_id": product_id, "quantity": 1}], "ship_to": SHIP_TO, "payment": CARD}
            await go.wait()
            started = time.perf_counter()
            async with session.post(f"{url}/api/v1/orders", json=body, headers=headers) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
            latencies.append((time.perf_counter() - started) * 1000)

        tasks = [asyncio.create_task(one(h)) for h in buyers]
        await asyncio.sleep(0.05)  # every task waits at the gate
        began = time.perf_counter()
        go.set()
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - began
    settled = await drain(orders_db, since, 30)
    sold = statuses.get(201, 0)
    ok = sold == units and statuses.get(409, 0) == len(buyers) - units and settled["paid"] == units \
        and settled["paid_once"] == units
    return {"requests": len(buyers), "seconds": round(wall, 3), "rps": round(len(buyers) / wall, 1),
            "p50_ms": round(percentile(latencies, 50), 1), "p99_ms": round(percentile(latencies, 99), 1),
            "max_ms": round(max(latencies, default=0), 1), "errors": sum(v for k, v in statuses.items()
                                                                        if k not in (201, 409)),
            "x_ok": ok, "x_statuses": {str(k): v for k, v in sorted(statuses.items())}, "x_paid": settled["paid"],
            "x_notes": [f"{sold} of {len(buyers)} buyers got one of {units} units; {settled['paid']} paid"]}
