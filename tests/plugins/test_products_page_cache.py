"""The logged-in catalog and product pages' micro-cache (plugins/products/pagecache.py) over real HTTP and
PostgreSQL: what it saves is counted (search queries, product reads), what it must not keep is checked (the
seller's own page, a deleted product, another language, anyone's name or cart count). The TTL is the
config's ``page_cache_seconds``; its passing is simulated by moving the cache's clock, never by sleeping."""
from __future__ import annotations

import re
import time

import pytest

from ecom.app import create_app
from ecom.config import ConfigError, parse_section
from plugins.products import db, pagecache
from plugins.products.keys import PRODUCTS
from plugins.products.service import ProductsConfig

from .test_orders import EU, orders_config, product
from .test_products import ENABLED, create, uniq, user

TTL = 7


@pytest.fixture
async def client(aiohttp_client, make_config):
    return await aiohttp_client(create_app(make_config(plugins=ENABLED | {"products": {"page_cache_seconds": TTL}})))


@pytest.fixture
def searches(monkeypatch) -> list[str]:
    """The catalog search queries sent to PostgreSQL, as they are sent."""
    sent: list[str] = []
    real = db.search

    async def counting(pool, sql, args):
        sent.append(sql)
        return await real(pool, sql, args)

    monkeypatch.setattr(db, "search", counting)
    return sent


def later(monkeypatch, seconds: float) -> None:
    """The page cache's clock, ``seconds`` from now."""
    monkeypatch.setattr(pagecache, "_clock", lambda: time.monotonic() + seconds)


def names_in(page: str) -> list[str]:
    return re.findall(r'href="/products/(\d+)"', page)


async def page(client, path: str, headers: dict, status: int = 200) -> str:
    resp = await client.get(path, headers=headers)
    assert resp.status == status, (path, resp.status)
    return await resp.text()


async def test_second_shopper_within_the_ttl_runs_no_search_after_it_does(client, searches, monkeypatch):
    _, seller = await user(client)
    tag = uniq()
    lamp = await create(client, seller, name=f"Lamp {tag}", type=f"T{tag}")
    alice, alice_headers = await user(client, seller=False)
    bob, bob_headers = await user(client, seller=False)
    path = f"/products?type=T{tag}"

    first = await page(client, path, alice_headers)
    assert len(searches) == 1 and str(lamp["id"]) in names_in(first)
    second = await page(client, path, bob_headers)
    assert len(searches) == 1, "a second shopper's same catalog page within the TTL ran a search"
    assert names_in(second) == names_in(first)
    assert alice["name"] in first and bob["name"] in second and alice["name"] not in second  # personal: live

    await page(client, f"/products?type=T{tag}&sort=name", bob_headers)  # another query: its own entry
    assert len(searches) == 2

    later(monkeypatch, TTL + 0.5)
    await page(client, path, bob_headers)
    assert len(searches) == 3, "the catalog page was not searched again after the TTL"


async def test_guests_and_a_ttl_of_zero_always_search(aiohttp_client, make_config, searches):
    off = await aiohttp_client(create_app(make_config(plugins=ENABLED | {"products": {"page_cache_seconds": 0}})))
    _, shopper = await user(off, seller=False)
    for _ in range(2):
        await page(off, "/products", shopper)
        await page(off, "/products", {})  # a guest: nginx caches guests' pages, the app renders them live
    assert len(searches) == 4


async def test_cached_grid_is_per_language(client, searches):
    _, seller = await user(client)
    tag = uniq()
    await create(client, seller, name=f"Mug {tag}", type=f"T{tag}", price_cents=1234, currency="EUR")
    _, shopper = await user(client, seller=False)
    path = f"/products?type=T{tag}"
    english = await page(client, path, shopper | {"Accept-Language": "en"})
    spanish = await page(client, path, shopper | {"Accept-Language": "es"})
    assert "€12.34" in english and "12,34\xa0€" in spanish and "€12.34" not in spanish
    assert 'lang="es"' in spanish and "Mostrar productos" in spanish  # the form's button, translated
    assert len(searches) == 2  # one per language
    assert "€12.34" in await page(client, path, shopper | {"Accept-Language": "en"}) and len(searches) == 2


async def test_a_sellers_own_change_shows_at_once_and_a_deleted_product_goes_within_the_ttl(client, monkeypatch):
    seller, seller_headers = await user(client)
    _, shopper = await user(client, seller=False)
    _, other_shopper = await user(client, seller=False)
    lamp = await create(client, seller_headers, name=f"Lamp {uniq()}")
    path = f"/products/{lamp['id']}"
    svc = client.app[PRODUCTS]
    reads: list[int] = []
    real_visible = svc.visible

    async def counting_visible(product_id, viewer):
        reads.append(product_id)
        return await real_visible(product_id, viewer)

    monkeypatch.setattr(svc, "visible", counting_visible)
    assert lamp["name"] in await page(client, path, shopper)
    assert lamp["name"] in await page(client, path, other_shopper)
    assert len(reads) == 1  # the second shopper's page came from the cache

    # another worker's edit (straight in the database: this worker's cache is not told) ...
    await svc.pool.execute("UPDATE products SET name = 'Renamed lamp' WHERE id = $1", lamp["id"])
    assert lamp["name"] in await page(client, path, shopper)  # ... shoppers see it within the TTL
    assert "Renamed lamp" in await page(client, path, seller_headers)  # the seller reads live, always
    resp = await client.patch(f"/api/v1/products/{lamp['id']}", json={"price_cents": 777}, headers=seller_headers)
    assert resp.status == 200
    assert "$7.77" in await page(client, path, shopper)  # this worker's own edit dropped its entry

    await page(client, path, shopper)  # cached again
    await svc.pool.execute("UPDATE products SET deleted_at = now() WHERE id = $1", lamp["id"])
    later(monkeypatch, TTL + 0.5)
    await page(client, path, shopper, status=404)  # gone within the TTL
    await page(client, path, other_shopper, status=404)


async def test_inactive_product_is_never_kept_for_shoppers(client):
    seller, seller_headers = await user(client)
    _, shopper = await user(client, seller=False)
    hidden = await create(client, seller_headers, active=False)
    assert "Hidden from the catalog" in await page(client, f"/products/{hidden['id']}", seller_headers)
    await page(client, f"/products/{hidden['id']}", shopper, status=404)
    assert not client.app[PRODUCTS].product_pages._entries  # the seller's live read left nothing behind


async def test_personal_parts_stay_per_shopper_with_stock_and_grid_cached(aiohttp_client, make_config, searches):
    config = orders_config(make_config)  # the whole shop: inventory and the cart count
    client = await aiohttp_client(create_app(config))
    _, seller = await user(client)
    tag = uniq()
    mug = await product(client, seller["Authorization"].removeprefix("Bearer "), stock={EU: 3},
                        name=f"Mug {tag}")
    alice, alice_headers = await user(client, seller=False)
    bob, bob_headers = await user(client, seller=False)
    resp = await client.post("/api/v1/cart/items", json={"product_id": mug, "quantity": 2}, headers=alice_headers)
    assert resp.status == 200, await resp.text()
    for path in (f"/products?q={tag}", f"/products/{mug}"):
        mine = await page(client, path, alice_headers)
        theirs = await page(client, path, bob_headers)
        assert alice["name"] in mine and bob["name"] in theirs and alice["name"] not in theirs, path
        assert 'cart-badge">2<' in mine and "cart-badge" not in theirs, path  # cart counts: live, per shopper
    assert len(searches) == 1
    assert "3 in stock" in theirs


def test_page_cache_seconds_is_checked():
    assert ProductsConfig().page_cache_seconds == 10
    with pytest.raises(ConfigError, match="page_cache_seconds"):
        parse_section(ProductsConfig, {"page_cache_seconds": 61}, "plugins.products")
    with pytest.raises(ConfigError, match="page_cache_seconds"):
        parse_section(ProductsConfig, {"page_cache_seconds": -1}, "plugins.products")


def test_lru_keeps_at_most_its_bound_and_expires(monkeypatch):
    cache = pagecache.PageCache(5, max_entries=3)
    for key in "abcd":
        cache.put(key, key.upper())
    assert len(cache) == 3 and cache.get("a") is None and cache.get("b") == "B"
    cache.put("e", "E")  # "c" was the least recently used
    assert cache.get("c") is None and cache.get("b") == "B"
    later(monkeypatch, 5)
    assert cache.get("b") is None and len(cache) == 2
    off = pagecache.PageCache(0)
    off.put("a", 1)
    assert off.get("a") is None and len(off) == 0
