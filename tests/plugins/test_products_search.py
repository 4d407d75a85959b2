"""Catalog search over real HTTP and PostgreSQL: full text, typos, SKU prefixes, filters, sort orders,
keyset pagination, cursors, and the query plans of the catalog queries."""
from __future__ import annotations

import base64
import json
import random
import re
from datetime import datetime, timezone

import pytest

from ecom.app import POOLS, create_app
from plugins.products import db
from plugins.products.keys import PRODUCTS
from plugins.products.seed import make_rows
from plugins.products.searching import sku_range as _sku_range

from .test_products import ENABLED, create, uniq, user

SORTS = {  # sort -> the order it promises, as a key on an item
    "price_asc": lambda p: (p["price_cents"], p["id"]),
    "price_desc": lambda p: (-p["price_cents"], -p["id"]),
    "newest": lambda p: (-datetime.fromisoformat(p["created_at"]).timestamp(), -p["id"]),
    "name": lambda p: (p["name"].lower(), p["id"]),
}


@pytest.fixture
async def client(aiohttp_client, make_config):
    return await aiohttp_client(create_app(make_config(plugins=ENABLED)))


async def search(client, **params) -> dict:
    resp = await client.get("/api/v1/products", params={k: str(v) for k, v in params.items()})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def ids(client, **params) -> set[int]:
    return {p["id"] for p in (await search(client, limit=100, **params))["items"]}


async def walk(client, limit: int, cursor: str | None = None, **params) -> list[dict]:
    """Every item of every page (from ``cursor`` on), following next_cursor to the end."""
    items = []
    for _ in range(100):
        page = await search(client, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination does not end")


async def test_search_by_description_word_misspelled_name_and_sku_prefix(client):
    _, headers = await user(client)
    u = uniq()
    a = await create(client, headers, name="Marvellous Headphones", description="Hand-stitched from reclaimed sailcloth.",
                     sku=f"ZQ{u}-001")
    b = await create(client, headers, name="Garden Trowel", description="Forged steel blade.", sku=f"ZQ{u}-002")
    c = await create(client, headers, name="Kitchen Scale", description="Weighs flour and sugar.", sku=f"OT{u}")
    assert await ids(client, q="sailcloth") == {a["id"]}
    assert a["id"] in await ids(client, q="hedphones")  # a typo finds it (trigram word similarity)
    assert await ids(client, q="marvelous hedphones") == {a["id"]}
    assert await ids(client, q=f"zq{u}") == {a["id"], b["id"]}  # SKU prefix, any case
    assert await ids(client, q=f"ZQ{u}-00") == {a["id"], b["id"]}
    assert await ids(client, q=f"ZQ{u}-002") == {b["id"]}
    assert await ids(client, q="weighing sugar") == {c["id"]}  # stemmed words
    assert await ids(client, q='"forged steel" -flour') == {b["id"]}  # web search syntax
    assert await ids(client, q=f"nothing{u}") == set()
    assert await ids(client, q="the and of") == set()  # only stop words: no error, no match


async def test_type_and_price_filters(client):
    _, headers = await user(client)
    kind = f"Filter {uniq()}"
    made = {price: (await create(client, headers, type=kind, price_cents=price))["id"] for price in (100, 500, 1000, 5000)}
    other = await create(client, headers, type=f"{kind} other", price_cents=500)
    assert await ids(client, type=kind) == set(made.values())
    usd = {"currency": "USD"}  # price filters compare within one currency (the test products are in USD)
    assert await ids(client, type=kind, min_price=500, **usd) == {made[500], made[1000], made[5000]}
    assert await ids(client, type=kind, max_price=1000, **usd) == {made[100], made[500], made[1000]}
    assert await ids(client, type=kind, min_price=500, max_price=1000, **usd) == {made[500], made[1000]}
    assert other["id"] in await ids(client, min_price=500, max_price=500, **usd)
    types = await (await client.get("/api/v1/products/types")).json()
    assert {"type": kind, "count": 4} in types
    hidden = await create(client, headers, type=kind, price_cents=700, active=False)
    assert hidden["id"] not in await ids(client, type=kind)  # the catalog shows active products only


async def test_each_sort_order(client):
    _, headers = await user(client)
    kind = f"Sort {uniq()}"
    specs = [("banana Bread Tin", 900, "tin"), ("apple Corer", 300, "apple apple apple"), ("Cherry Pitter", 300, "apple"),
             ("Apple Peeler", 1200, "peels"), ("date Knife", 50, "knife")]
    made = [await create(client, headers, type=kind, name=n, price_cents=p, description=d) for n, p, d in specs]
    for sort, key in SORTS.items():
        items = (await search(client, type=kind, sort=sort, currency="USD"))["items"]
        assert [p["id"] for p in items] == [p["id"] for p in sorted(made, key=key)], sort
    assert [p["id"] for p in (await search(client, type=kind))["items"]] == [p["id"] for p in reversed(made)]
    ranked = (await search(client, type=kind, q="apple"))["items"]  # relevance by default with q
    assert {p["name"] for p in ranked[:2]} == {"apple Corer", "Apple Peeler"}  # name (weight A) beats description
    assert ranked[-1]["name"] == "Cherry Pitter" and len(ranked) == 3


async def test_keyset_pagination_walks_every_result_exactly_once(client):
    _, headers = await user(client)
    kind = f"Walk {uniq()}"
    rng = random.Random(5)
    made = [await create(client, headers, type=kind, name=rng.choice(["Alpha Mug", "beta Mug", "Gamma Mug"]),
                         price_cents=rng.choice([100, 250, 999]), description="mug " * rng.randint(1, 4))
            for _ in range(23)]  # many ties in price and name: the id breaks them
    expected = {p["id"] for p in made}
    for sort, key in [*SORTS.items(), ("relevance", None)]:
        for limit in (1, 4, 23, 100):
            params = {"type": kind, "sort": sort, "currency": "USD"} | ({"q": "mug"} if sort == "relevance" else {})
            items = await walk(client, limit, **params)
            got = [p["id"] for p in items]
            assert len(got) == len(set(got)) == 23 and set(got) == expected, (sort, limit)
            if key:
                assert items == sorted(items, key=key), (sort, limit)

    first = await search(client, type=kind, sort="price_asc", limit=5, currency="USD")  # a product added mid-walk on an earlier
    await create(client, headers, type=kind, price_cents=1)           # page does not shift the later pages
    rest = await walk(client, 5, type=kind, sort="price_asc", cursor=first["next_cursor"], currency="USD")
    got = [p["id"] for p in first["items"] + rest]
    assert len(got) == len(set(got)) and set(got) == expected


def _cursor(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize("params, field", [
    ({"cursor": "abc"}, "cursor"), ({"cursor": "!!!!"}, "cursor"), ({"cursor": "é"}, "cursor"),
    ({"cursor": base64.urlsafe_b64encode(b"\xff\xfe").decode()}, "cursor"),
    ({"cursor": _cursor({"sort": "newest"})}, "cursor"), ({"cursor": _cursor(["newest", "2024-01-01T00:00:00+00:00"])}, "cursor"),
    ({"cursor": _cursor(["price_asc", 100, 5])}, "cursor"),  # a newest cursor is not a price cursor
    ({"cursor": _cursor(["newest", "yesterday", 5])}, "cursor"),
    ({"cursor": _cursor(["newest", "2024-01-01T00:00:00", 5])}, "cursor"),
    ({"cursor": _cursor(["price_asc", "100", 5]), "sort": "price_asc"}, "cursor"),
    ({"cursor": _cursor(["price_asc", 100, -5]), "sort": "price_asc"}, "cursor"),
    ({"cursor": _cursor(["price_asc", 100, 2**63]), "sort": "price_asc"}, "cursor"),
    ({"cursor": _cursor(["price_asc", 100, True]), "sort": "price_asc"}, "cursor"),
    ({"cursor": _cursor(["name", "a\u0000", 5]), "sort": "name"}, "cursor"),
    ({"cursor": _cursor(["relevance", "NaN", 5]), "sort": "relevance", "q": "x"}, "cursor"),
    ({"cursor": "A" * 5000}, "cursor"),
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"sort": "cheapest"}, "sort"), ({"sort": "relevance"}, "sort"),
    ({"min_price": "-1"}, "min_price"), ({"max_price": "1.5"}, "max_price"), ({"min_price": "9", "max_price": "3"}, "max_price"),
    ({"q": "a\u0000b"}, "q"), ({"q": "q" * 201}, "q"), ({"type": "t" * 61}, "type"),
])
async def test_bad_search_parameters_are_422(client, params, field):
    resp = await client.get("/api/v1/products", params=params)
    body = await resp.json()
    assert resp.status == 422 and resp.content_type == "application/problem+json", body
    assert field in body["errors"]


async def test_catalog_page_next_link_follows_the_cursor(client):
    _, headers = await user(client)
    kind = f"Page {uniq()}"
    made = {(await create(client, headers, type=kind))["id"] for _ in range(30)}
    resp = await client.get("/products", params={"type": kind})
    page = await resp.text()
    seen = set()
    for _ in range(3):
        seen |= {int(i) for i in re.findall(r'href="/products/(\d+)"', page)}
        if "Next page" not in page:
            break
        link = re.search(r'href="([^"]+)" rel="next"', page).group(1).replace("&amp;", "&")
        page = await (await client.get(link)).text()
    assert seen == made


# --- query plans ---

@pytest.fixture
async def seeded(client):
    """A few thousand catalog rows with fresh statistics (once per module database)."""
    svc = client.app[PRODUCTS]
    pool = client.app[POOLS]["products"]
    run = await pool.fetchval("SELECT min(split_part(sku, '-', 1)) FROM products WHERE seller_id = 999999")
    if run is None:
        run = "EX" + uniq()[:4].upper()
        await svc.bulk_insert(make_rows(random.Random(1), 4000, [999999, 999998], run, datetime.now(timezone.utc)))
    await svc.refresh_statistics()
    return pool, run


async def plan(pool, generic: bool = False, **params) -> str:
    q = params.get("q")
    sql, args = db.search_query(q, _sku_range(q) if q else None, params.get("type"), params.get("min_price"),
                                params.get("max_price"), params.get("sort", "relevance" if q else "newest"),
                                params.get("after"), 25, params.get("currency"))
    async with pool.acquire() as conn, conn.transaction():
        if generic:  # what a prepared statement runs after its first executions
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        return "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))


@pytest.mark.parametrize("generic", [False, True])
@pytest.mark.parametrize("params, indexes", [
    ({"q": "teapot"}, ["products_search", "products_name_trgm"]),
    ({"q": "tepot"}, ["products_name_trgm"]),
    ({"q": "headphones"}, ["products_search", "products_name_trgm"]),
    ({"q": "{run}-EL-00001"}, ["products_sku_prefix"]),
    ({"type": "Garden"}, ["products_type"]),
    ({"type": "Garden", "after": (datetime(2030, 1, 1, tzinfo=timezone.utc), 10**9)}, ["products_type"]),
    ({"sort": "price_asc", "currency": "USD"}, ["products_currency_price"]),
    ({"sort": "price_desc", "currency": "EUR", "after": (5000, 10**9)}, ["products_currency_price"]),
    ({"min_price": 1000, "max_price": 1010, "currency": "USD"}, ["products_currency_price"]),
    ({}, ["products_created"]),
    ({"sort": "name"}, ["products_name"]),
])
async def test_catalog_queries_use_their_indexes(seeded, params, indexes, generic):
    pool, run = seeded
    if "q" in params:
        params = params | {"q": params["q"].format(run=run)}
    text = await plan(pool, generic, **params)
    for index in indexes:
        assert index in text, f"{params}: {index} not used\n{text}"
    assert "Seq Scan" not in text, text


async def test_seeded_search_finds_sku_prefix_of_a_seeded_run(seeded, client):
    _, run = seeded
    found = (await search(client, q=f"{run}-EL-0000", sort="newest"))["items"]
    assert found and all(p["sku"].startswith(f"{run}-EL-0000") for p in found)
