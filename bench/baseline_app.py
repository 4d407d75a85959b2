"""The bare baseline of `make bench`: what aiohttp + aiohttp-jinja2 + asyncpg do on this machine with no
framework of ours in between. `bench/run.py` starts two of these behind nginx; ecom's paths are divided
by these numbers.

    BENCH_DSN=postgresql://... python bench/baseline_app.py --port 8100

    GET  /hello            "hello" (aiohttp alone)
    GET  /page?after=N     a Jinja page of 20 products (one asyncpg query, a layout, a card macro)
    GET  /product/{id}     one product by primary key, as JSON
    POST /checkout         {"product_id", "quantity", "customer_id"}: in one transaction, the stock UPDATE
                           ... WHERE available >= n, then INSERT the order and its line; 201, or 409 when short

The tables live in their own database of the same PostgreSQL as the shop (`bench/run.py` makes them:
:data:`SCHEMA`, products copied from the shop's seed).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import aiohttp_jinja2
import asyncpg
import jinja2
from aiohttp import web

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id bigint PRIMARY KEY, seller_id bigint NOT NULL, name text NOT NULL, description text NOT NULL,
    price_cents bigint NOT NULL, currency char(3) NOT NULL, type text NOT NULL, sku text NOT NULL,
    created_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS stock (product_id bigint PRIMARY KEY REFERENCES products, available integer NOT NULL
    CHECK (available >= 0));
CREATE TABLE IF NOT EXISTS orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id bigint NOT NULL,
    total_cents bigint NOT NULL, currency char(3) NOT NULL, status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS order_lines (order_id bigint NOT NULL REFERENCES orders, product_id bigint NOT NULL,
    quantity integer NOT NULL, unit_price_cents bigint NOT NULL, PRIMARY KEY (order_id, product_id));
"""

KEY = web.AppKey("pool", asyncpg.Pool)
PAGE_SQL = ("SELECT id, name, description, price_cents, currency, type, sku FROM products WHERE id > $1 "
            "ORDER BY id LIMIT 20")
PRODUCT_SQL = ("SELECT id, seller_id, name, description, price_cents, currency, type, sku, created_at "
               "FROM products WHERE id = $1")
TAKE_SQL = ("UPDATE stock s SET available = s.available - $2 FROM products p "
            "WHERE s.product_id = $1 AND p.id = s.product_id AND s.available >= $2 RETURNING p.price_cents, p.currency")


def money(cents: int, currency: str) -> str:
    return f"{cents / 100:,.2f} {currency}"


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


@aiohttp_jinja2.template("page.html")
async def page(request: web.Request) -> dict:
    after = int(request.query.get("after", "0"))
    rows = await request.app[KEY].fetch(PAGE_SQL, after)
    return {"products": rows, "last": rows[-1]["id"] if rows else 0}


async def product(request: web.Request) -> web.Response:
    row = await request.app[KEY].fetchrow(PRODUCT_SQL, int(request.match_info["id"]))
    if row is None:
        raise web.HTTPNotFound()
    out = dict(row)
    out["created_at"] = out["created_at"].isoformat()
    return web.json_response(out)


async def checkout(request: web.Request) -> web.Response:
    body = await request.json()
    product_id, quantity, customer = int(body["product_id"]), int(body["quantity"]), int(body["customer_id"])
    async with request.app[KEY].acquire() as conn, conn.transaction():
        taken = await conn.fetchrow(TAKE_SQL, product_id, quantity)
        if taken is None:
            return web.json_response({"error": "out of stock"}, status=409)
        total = taken["price_cents"] * quantity
        order_id = await conn.fetchval("INSERT INTO orders (customer_id, total_cents, currency, status) "
                                       "VALUES ($1, $2, $3, 'placed') RETURNING id", customer, total, taken["currency"])
        await conn.execute("INSERT INTO order_lines (order_id, product_id, quantity, unit_price_cents) "
                           "VALUES ($1, $2, $3, $4)", order_id, product_id, quantity, taken["price_cents"])
    return web.json_response({"id": order_id, "total_cents": total, "currency": taken["currency"]}, status=201)


def make_app(dsn: str) -> web.Application:
    app = web.Application()
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
                               autoescape=True)
    env.filters["money"] = money

    async def pool(app: web.Application):
        app[KEY] = await asyncpg.create_pool(dsn, min_size=2, max_size=10)  # ecom: pool_max = 10 per process
        yield
        await app[KEY].close()

    app.cleanup_ctx.append(pool)
    app.router.add_get("/hello", hello)
    app.router.add_get("/page", page)
    app.router.add_get(r"/product/{id:\d+}", product)
    app.router.add_post("/checkout", checkout)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(os.environ["BENCH_DSN"]), host="127.0.0.1", port=args.port, access_log=None, print=None)
