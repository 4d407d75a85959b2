"""Checkout to paid, end to end: POST /api/v1/orders, then the order's event stream until it says ``paid``
(payments' delay 0), as a ratio to GET /healthz measured in the same run.

    .venv/bin/python bench/checkout_e2e.py --orders 500 --concurrency 20

Prints one JSON report: per-order latency (checkout POST sent -> ``paid`` event received) median, p95
and p99, the checkout POST alone, throughput, and a check that every order was paid exactly once and
its stock committed. Everything runs in-process on loopback against a throwaway embedded PostgreSQL
and broker; every request is real HTTP.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
import uuid
from datetime import datetime

import aiohttp

from common import shop, summary, timed

from ecom.app import POOLS  # noqa: E402

PLUGINS = ["users", "products", "inventory", "payments", "addresses", "shipping", "taxes", "vouchers", "orders",
           "invoices", "notifications"]  # the whole default shop: an order also makes an invoice and its mails
REGION = "eu-west"
SHIP_TO = {"name": "Bench Buyer", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES",
           "phone": "+34 911 234 567"}  # the shop decides the region: eu-west serves Spain
CARD = {"method": "card", "card_number": "4242 4242 4242 4242", "exp_month": 12,
        "exp_year": datetime.now().year + 3, "cvc": "123"}


async def _json(resp: aiohttp.ClientResponse, status: int) -> dict:
    body = await resp.json()
    assert resp.status == status, (resp.status, body)
    return body


async def _account(session: aiohttp.ClientSession, url: str, seller: bool = False) -> dict[str, str]:
    email = f"b{uuid.uuid4().hex[:12]}@example.com"
    async with session.post(f"{url}/api/v1/users", json={"email": email, "name": "Bench", "password": "bench-pass-1",
                                                          "is_seller": seller}) as resp:
        await _json(resp, 202)  # sign-up answers alike for a new and a known email
    async with session.post(f"{url}/api/v1/auth/token", json={"email": email, "password": "bench-pass-1"}) as resp:
        return {"Authorization": f"Bearer {(await _json(resp, 200))['token']}"}


async def _stocked_products(session: aiohttp.ClientSession, url: str, count: int, units: int) -> list[int]:
    seller = await _account(session, url, seller=True)
    ids = []
    for n in range(count):
        async with session.post(f"{url}/api/v1/products", headers=seller, json={
                "name": f"Bench item {n}", "description": "", "price_cents": 1000 + n, "currency": "EUR",
                "type": "Bench", "sku": f"BENCH-{uuid.uuid4().hex[:10]}"}) as resp:
            product_id = (await _json(resp, 201))["id"]
        async with session.put(f"{url}/api/v1/inventory/{product_id}/{REGION}", headers=seller,
                               json={"quantity": units}) as resp:
            await _json(resp, 200)
        ids.append(product_id)
    return ids


async def _until_paid(session: aiohttp.ClientSession, url: str, headers: dict, order_id: str) -> None:
    async with session.get(f"{url}/api/v1/orders/{order_id}/events", headers=headers) as resp:
        assert resp.status == 200, resp.status
        async for raw in resp.content:
            line = raw.decode()
            if line.startswith("data: ") and json.loads(line[6:])["status"] == "paid":
                return
            if line.startswith("data: ") and json.loads(line[6:])["status"] in ("payment_failed", "expired"):
                raise AssertionError(f"order {order_id}: {line}")
    raise AssertionError(f"order {order_id}: the stream ended before it was paid")


async def main(orders: int, concurrency: int, products: int, without: tuple[str, ...] = ()) -> dict:
    enabled = [p for p in PLUGINS if p not in without]
    async with shop(enabled, plugins={"payments": {"delay_seconds": 0}}) as (url, _, app):
        connector = aiohttp.TCPConnector(limit=concurrency * 2 + 10)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
            async def healthz() -> None:
                async with session.get(f"{url}/healthz") as resp:
                    await resp.read()
            baseline = summary(await timed(healthz, 200))
            product_ids = await _stocked_products(session, url, products, orders)
            customers = await asyncio.gather(*(_account(session, url) for _ in range(concurrency)))

            latencies: list[float] = []
            posts: list[float] = []
            gate = asyncio.Semaphore(concurrency)

            async def one(n: int) -> str:
                headers = customers[n % len(customers)]
                body = {"items": [{"product_id": product_ids[n % len(product_ids)], "quantity": 1}],
                        "ship_to": SHIP_TO, "payment": CARD}
                async with gate:
                    started = time.perf_counter()
                    async with session.post(f"{url}/api/v1/orders", json=body, headers=headers) as resp:
                        order_id = (await _json(resp, 201))["id"]
                    posts.append((time.perf_counter() - started) * 1000)
                    await _until_paid(session, url, headers, order_id)
                    latencies.append((time.perf_counter() - started) * 1000)
                    return order_id

            began = time.perf_counter()
            ids = await asyncio.gather(*(one(n) for n in range(orders)))
            wall = time.perf_counter() - began

        pools = app[POOLS]
        paid_once = await pools["orders"].fetchval(
            "SELECT count(*) FROM (SELECT order_id FROM order_history WHERE status = 'paid' AND order_id = ANY($1) "
            "GROUP BY order_id HAVING count(*) = 1) t", ids)
        charged = await pools["payments"].fetchval(
            "SELECT count(*) FROM payments WHERE status = 'approved' AND order_id = ANY($1)", ids)
        sold = await pools["inventory"].fetchval("SELECT coalesce(sum(-quantity_delta), 0) FROM stock_movements "
                                                 "WHERE kind = 'sale' AND split_part(order_ref, '/', 1) = ANY($1)", ids)  # per shipment: <order>/<n>
        result = summary(latencies)
        return {
            "orders": orders, "concurrency": concurrency, "products": products, "payments_delay_seconds": 0,
            "plugins": enabled,
            "checkout_to_paid": result, "checkout_post_only": summary(posts),
            "throughput_orders_per_s": round(orders / wall, 1), "wall_seconds": round(wall, 2),
            "baseline_healthz": baseline,
            "ratio_median_to_baseline": round(result["median_ms"] / baseline["median_ms"], 1),
            "verified": {"paid_exactly_once": paid_once, "payments_approved": charged, "units_sold": int(sold),
                         "ok": paid_once == charged == sold == orders},
        }


if __name__ == "__main__":
    logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt warns of > 10 unacknowledged publishes: expected here
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20, help="checkouts in flight at once")
    parser.add_argument("--products", type=int, default=10, help="orders are spread over this many products")
    parser.add_argument("--without", default="", help="plugins left out, e.g. invoices,notifications (to see their cost)")
    args = parser.parse_args()
    without = tuple(p for p in args.without.split(",") if p)
    print(json.dumps(asyncio.run(main(args.orders, args.concurrency, args.products, without)), indent=2))
