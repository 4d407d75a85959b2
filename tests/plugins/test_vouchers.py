"""The vouchers plugin end to end: real PostgreSQL, real HTTP, the normal plugin loader.

Checkout's side (preview, redeem, release) is driven through the service orders uses; managing codes
through the API and the admin and seller pages.
"""
from __future__ import annotations

import asyncio
import random
import re
import uuid
from datetime import datetime, timezone

import pytest

from ecom.app import POOLS, create_app
from ecom.errors import Conflict, ValidationFailed
from plugins.vouchers.keys import VOUCHERS
from plugins.vouchers.model import VoucherLine
from plugins.vouchers.split import largest_remainder
from tests.helpers import PASSWORD, account

PLUGINS = ["users", "vouchers"]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def client(aiohttp_client, make_config):
    """Pools wide enough for real parallelism (25 connections per plugin)."""
    config = make_config(plugins={"enabled": PLUGINS}, database={"pool_max": 25})
    return await aiohttp_client(create_app(config))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def code(prefix: str = "T") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10].upper()}"


async def new_voucher(client, token: str, **fields) -> dict:
    resp = await client.post("/api/v1/vouchers", headers=bearer(token), json={"code": code(), **fields})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def admin_voucher(client, **fields) -> dict:
    _, _, admin = await account(client, admin=True)
    return await new_voucher(client, admin, **fields)


def lines(*amounts: int, seller: int = 1, category: str = "Kitchen") -> list[VoucherLine]:
    return [VoucherLine(f"l{i}", seller, category, a) for i, a in enumerate(amounts)]


async def stored(client, voucher_id: int) -> dict:
    pool = client.app[POOLS]["vouchers"]
    used = await pool.fetchval("SELECT used FROM vouchers WHERE id = $1", voucher_id)
    live = await pool.fetchval("SELECT count(*) FROM redemptions WHERE voucher_id = $1 AND status = 'redeemed'",
                               voucher_id)
    return {"used": used, "live": live}


async def outcome(coro) -> str:
    try:
        await coro
        return "ok"
    except Conflict as err:
        assert "voucher" in err.errors
        return "conflict"
    except ValidationFailed as err:
        assert "voucher" in err.errors
        return "invalid"


# --- concurrency: neither limit can be passed ---

async def test_forty_racing_redeems_of_a_five_use_code(client):
    v = await admin_voucher(client, kind="percent", percent=10, max_uses=5)
    svc = client.app[VOUCHERS]
    results = await asyncio.gather(*(outcome(svc.redeem(v["code"], f"race-{v['id']}-{i}", f"customer:{i + 1}",
                                                        lines(2000), "EUR")) for i in range(40)))
    assert results.count("ok") == 5 and results.count("conflict") == 35
    assert await stored(client, v["id"]) == {"used": 5, "live": 5}
    with pytest.raises(Conflict):
        await svc.preview(v["code"], "customer:99", lines(2000), "EUR")


async def test_per_customer_limit_holds_under_concurrency(client):
    v = await admin_voucher(client, kind="fixed", amount_cents=300, currency="EUR", max_uses_per_customer=2)
    svc = client.app[VOUCHERS]
    results = await asyncio.gather(*(outcome(svc.redeem(v["code"], f"one-{v['id']}-{i}", "email:ann@example.com",
                                                        lines(1000), "EUR")) for i in range(10)))
    assert results.count("ok") == 2 and results.count("invalid") == 8
    assert await stored(client, v["id"]) == {"used": 2, "live": 2}
    assert (await svc.redeem(v["code"], f"two-{v['id']}", "email:bob@example.com", lines(1000), "EUR")).total_cents == 300


async def test_redeem_is_idempotent_per_order_ref(client):
    v = await admin_voucher(client, kind="percent", percent=25, max_uses=3)
    other = await admin_voucher(client, kind="percent", percent=5)
    svc, ref = client.app[VOUCHERS], f"order-{v['id']}"
    first = await svc.redeem(v["code"].lower(), ref, "customer:7", lines(1000, 999), "EUR")
    assert first.total_cents == 500 and first.code == v["code"]
    again = await asyncio.gather(*(svc.redeem(v["code"], ref, "customer:7", lines(1000, 999), "EUR")
                                   for _ in range(8)))
    assert all(d == first for d in again)
    assert await stored(client, v["id"]) == {"used": 1, "live": 1}
    with pytest.raises(Conflict):  # one voucher per order
        await svc.redeem(other["code"], ref, "customer:7", lines(1000, 999), "EUR")
    racing = f"fresh-{v['id']}"  # a brand new order ref redeemed concurrently: one use taken
    results = await asyncio.gather(*(svc.redeem(v["code"], racing, "customer:8", lines(400), "EUR") for _ in range(6)))
    assert len({d.total_cents for d in results}) == 1
    assert await stored(client, v["id"]) == {"used": 2, "live": 2}


async def test_release_gives_the_use_back_once(client):
    v = await admin_voucher(client, kind="fixed", amount_cents=500, currency="EUR", max_uses=1)
    svc = client.app[VOUCHERS]
    await svc.redeem(v["code"], f"a-{v['id']}", "customer:1", lines(2000), "EUR")
    with pytest.raises(Conflict):
        await svc.redeem(v["code"], f"b-{v['id']}", "customer:2", lines(2000), "EUR")
    released = await asyncio.gather(*(svc.release(f"a-{v['id']}") for _ in range(5)))
    assert sorted(released) == [False] * 4 + [True]  # exactly one concurrent release gives the use back
    assert await stored(client, v["id"]) == {"used": 0, "live": 0}
    assert await svc.release(f"a-{v['id']}") is False and await svc.release("never-redeemed") is False
    assert (await svc.redeem(v["code"], f"b-{v['id']}", "customer:2", lines(2000), "EUR")).total_cents == 500
    with pytest.raises(Conflict):  # a released order does not take the code again
        await svc.redeem(v["code"], f"a-{v['id']}", "customer:1", lines(2000), "EUR")
    usage = await svc.usage(v["id"])
    assert (usage.redeemed, usage.released, usage.voucher.used) == (1, 1, 1)


# --- the discount and where it applies ---

def test_largest_remainder_is_exact_and_never_above_a_line():
    rng = random.Random(10)
    for _ in range(2000):
        amounts = [rng.choice([0, 1, 3, 7, 99, 1000, rng.randint(0, 10**6)]) for _ in range(rng.randint(1, 8))]
        if sum(amounts) == 0:
            continue
        total = rng.randint(0, sum(amounts))
        shares = largest_remainder(total, amounts)
        assert sum(shares) == total
        for share, amount in zip(shares, amounts):
            assert 0 <= share <= amount
            assert abs(share * sum(amounts) - total * amount) < sum(amounts)  # within a cent of its exact share
    assert largest_remainder(10, [1, 1, 1]) == [4, 3, 3]
    assert largest_remainder(100, [333, 333, 334]) == [33, 33, 34]


async def test_percent_and_fixed_discounts_split_over_lines(client):
    svc = client.app[VOUCHERS]
    pct = await admin_voucher(client, kind="percent", percent=15)
    d = await svc.preview(pct["code"], "customer:1", lines(1000, 333, 1), "EUR")
    assert d.total_cents == 200  # 1334 × 15% = 200.1, half up
    assert d.per_line == {"l0": 150, "l1": 50, "l2": 0}
    half = await admin_voucher(client, kind="percent", percent=50)
    assert (await svc.preview(half["code"], "", lines(1, 1, 1), "USD")).per_line == {"l0": 1, "l1": 1, "l2": 0}
    assert (await svc.preview(half["code"], "", lines(3), "EUR")).total_cents == 2  # 1.5 rounds half up
    fixed = await admin_voucher(client, kind="fixed", amount_cents=1000, currency="EUR")
    d = await svc.preview(fixed["code"], "customer:1", lines(2999, 2999, 3002), "EUR")
    assert d.total_cents == 1000 and sum(d.per_line.values()) == 1000
    assert d.per_line == {"l0": 333, "l1": 333, "l2": 334}
    d = await svc.preview(fixed["code"], "customer:1", lines(300, 200), "EUR")  # never more than the lines
    assert d.total_cents == 500 and d.per_line == {"l0": 300, "l1": 200}


async def test_seller_and_category_codes_apply_only_to_their_lines(client):
    svc = client.app[VOUCHERS]
    seller_id, _, seller = await account(client, seller=True)
    own = await new_voucher(client, seller, kind="percent", percent=10)
    assert own["seller_id"] == seller_id
    cart = [VoucherLine("mine", seller_id, "Kitchen", 5000), VoucherLine("theirs", seller_id + 10**6, "Kitchen", 9000),
            VoucherLine("mine2", seller_id, "Garden", 1000)]
    d = await svc.preview(own["code"], "customer:5", cart, "EUR")
    assert d.total_cents == 600 and d.per_line == {"mine": 500, "theirs": 0, "mine2": 100}
    kitchen = await admin_voucher(client, kind="fixed", amount_cents=1400, currency="EUR", category="kitchen")
    d = await svc.preview(kitchen["code"], "customer:5", cart, "EUR")
    assert d.per_line == {"mine": 500, "theirs": 900, "mine2": 0}
    with pytest.raises(ValidationFailed) as err:
        await svc.preview(own["code"], "customer:5", [cart[1]], "EUR")
    assert err.value.status == 422 and "qualifies" in err.value.errors["voucher"]


@pytest.mark.parametrize("fields, cart, currency, words", [
    ({"kind": "fixed", "amount_cents": 500, "currency": "EUR", "min_spend_cents": 3000}, (2999,), "EUR",
     "at least EUR 30.00"),
    ({"kind": "percent", "percent": 10, "currency": "EUR", "min_spend_cents": 3000}, (1000, 1000), "EUR", "at least"),
    ({"kind": "fixed", "amount_cents": 500, "currency": "EUR"}, (5000,), "USD", "EUR only"),
    ({"kind": "percent", "percent": 10, "starts_at": "2099-01-01T00:00:00Z"}, (5000,), "EUR", "not valid yet"),
    ({"kind": "percent", "percent": 10, "ends_at": "2001-01-01T00:00:00+00:00"}, (5000,), "EUR", "expired"),
    ({"kind": "percent", "percent": 10, "active": False}, (5000,), "EUR", "no longer active"),
])
async def test_codes_that_do_not_apply_are_422_on_voucher(client, fields, cart, currency, words):
    svc = client.app[VOUCHERS]
    v = await admin_voucher(client, **fields)
    for attempt in (svc.preview(v["code"], "customer:1", lines(*cart), currency),
                    svc.redeem(v["code"], f"o-{v['id']}", "customer:1", lines(*cart), currency)):
        with pytest.raises(ValidationFailed) as err:
            await attempt
        assert err.value.status == 422 and words in err.value.errors["voucher"]
    assert await stored(client, v["id"]) == {"used": 0, "live": 0}


async def test_unknown_codes_and_bad_checkout_input_are_422(client):
    svc = client.app[VOUCHERS]
    for bad in ("NOPE-NOT-THERE", "x", "ünï", None):
        with pytest.raises(ValidationFailed) as err:
            await svc.preview(bad, "customer:1", lines(100), "EUR")
        assert "does not exist" in err.value.errors["voucher"]
    v = await admin_voucher(client, kind="percent", percent=10)
    with pytest.raises(ValidationFailed) as err:
        await svc.redeem(v["code"], "o", "somebody", lines(100), "EUR")
    assert "buyer" in err.value.errors
    with pytest.raises(ValidationFailed):
        await svc.redeem(v["code"], "o", "customer:1", [VoucherLine("a", 1, "K", 1)] * 2, "EUR")
    with pytest.raises(ValidationFailed):
        await svc.redeem(v["code"], "", "customer:1", lines(100), "EUR")


# --- the API: who creates and sees what ---

async def test_sellers_create_their_own_codes_only_and_see_only_theirs(client):
    seller_id, _, seller = await account(client, seller=True)
    _, _, rival = await account(client, seller=True)
    _, _, customer = await account(client)
    _, _, admin = await account(client, admin=True)
    for body in ({"seller_id": None}, {"seller_id": seller_id + 1}):  # shop-wide or someone else's
        resp = await client.post("/api/v1/vouchers", headers=bearer(seller),
                                 json={"code": code(), "kind": "percent", "percent": 5, **body})
        assert resp.status == 403, await resp.text()
        assert resp.content_type == "application/problem+json" and "seller_id" in (await resp.json())["errors"]
    own = await new_voucher(client, seller, kind="percent", percent=5, seller_id=seller_id)
    assert own["seller_id"] == seller_id
    shop = await new_voucher(client, admin, kind="percent", percent=5)
    assert shop["seller_id"] is None
    resp = await client.post("/api/v1/vouchers", headers=bearer(admin),
                             json={"code": code(), "kind": "percent", "percent": 5, "seller_id": seller_id})
    assert resp.status == 422 and "seller_id" in (await resp.json())["errors"]

    assert (await client.get(f"/api/v1/vouchers/{own['id']}", headers=bearer(rival))).status == 404
    assert (await client.patch(f"/api/v1/vouchers/{own['id']}", headers=bearer(rival), json={"active": False})).status == 404
    assert (await client.get(f"/api/v1/vouchers/{shop['id']}", headers=bearer(seller))).status == 404
    assert own["id"] not in [v["id"] for v in await (await client.get("/api/v1/vouchers", headers=bearer(rival))).json()]
    mine = [v["id"] for v in await (await client.get("/api/v1/vouchers", headers=bearer(seller))).json()]
    assert mine == [own["id"]]
    everything = [v["id"] for v in await (await client.get("/api/v1/vouchers?limit=200", headers=bearer(admin))).json()]
    assert {own["id"], shop["id"]} <= set(everything)
    assert (await client.get("/api/v1/vouchers", headers=bearer(customer))).status == 403
    assert (await client.get("/api/v1/vouchers")).status == 401


async def test_create_and_patch_check_every_field(client):
    _, _, admin = await account(client, admin=True)
    first = await new_voucher(client, admin, kind="fixed", amount_cents=500, currency="eur", max_uses=2)
    assert (first["code"], first["currency"], first["used"], first["remaining"]) == (first["code"].upper(), "EUR", 0, 2)
    resp = await client.post("/api/v1/vouchers", headers=bearer(admin),
                             json={"code": first["code"].lower(), "kind": "percent", "percent": 5})
    assert resp.status == 409 and "code" in (await resp.json())["errors"]  # codes are case-insensitive
    for body, field in [({"code": "ab", "kind": "percent", "percent": 5}, "code"),
                        ({"code": code(), "kind": "bogo"}, "kind"),
                        ({"code": code(), "kind": "percent", "percent": 101}, "percent"),
                        ({"code": code(), "kind": "percent"}, "percent"),
                        ({"code": code(), "kind": "fixed", "amount_cents": 500}, "currency"),
                        ({"code": code(), "kind": "fixed", "amount_cents": "5"}, "amount_cents"),
                        ({"code": code(), "kind": "percent", "percent": 5, "min_spend_cents": 100}, "currency"),
                        ({"code": code(), "kind": "percent", "percent": 5, "starts_at": "2030-01-02T00:00:00Z",
                          "ends_at": "2030-01-01T00:00:00Z"}, "ends_at"),
                        ({"code": code(), "kind": "percent", "percent": 5, "ends_at": "tomorrow"}, "ends_at"),
                        ({"code": code(), "kind": "percent", "percent": 5, "max_uses": 0}, "max_uses"),
                        ({"code": code(), "kind": "percent", "percent": 5, "category": "a\x00b"}, "category"),
                        ({"code": code(), "kind": "percent", "percent": 5, "colour": "red"}, "colour")]:
        resp = await client.post("/api/v1/vouchers", headers=bearer(admin), json=body)
        assert resp.status == 422, (body, await resp.text())
        assert field in (await resp.json())["errors"], body
    assert (await client.post("/api/v1/vouchers", headers=bearer(admin), data="[1")).status in (400, 415)

    svc = client.app[VOUCHERS]
    await svc.redeem(first["code"], f"p-{first['id']}", "customer:1", lines(900), "EUR")
    url = f"/api/v1/vouchers/{first['id']}"
    resp = await client.patch(url, headers=bearer(admin), json={"max_uses": 0})
    assert resp.status == 422
    resp = await client.patch(url, headers=bearer(admin), json={"max_uses": 1})
    assert resp.status == 200 and (await resp.json())["remaining"] == 0
    resp = await client.patch(url, headers=bearer(admin), json={"active": False})
    assert resp.status == 200 and (await resp.json())["active"] is False
    with pytest.raises(ValidationFailed):
        await svc.preview(first["code"], "customer:2", lines(900), "EUR")
    assert (await client.patch(url, headers=bearer(admin), json={})).status == 422
    assert (await client.patch(url, headers=bearer(admin), json={"used": 0})).status == 422
    detail = await (await client.get(url, headers=bearer(admin))).json()
    assert (detail["used"], detail["released"], detail["active"]) == (1, 0, False)
    assert (await client.get("/api/v1/vouchers/99999999999", headers=bearer(admin))).status == 404


# --- pages ---

async def log_in(client, email: str) -> str:
    """A session on ``client``; the CSRF token of its pages."""
    page = await (await client.get("/login")).text()
    resp = await client.post("/login", data={"csrf_token": CSRF.search(page).group(1), "email": email,
                                             "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return CSRF.search(await resp.text()).group(1)


async def test_admin_pages_create_list_and_deactivate(client):
    _, email, _ = await account(client, admin=True)
    await log_in(client, email)
    resp = await client.get("/admin/vouchers")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    csrf = CSRF.search(await resp.text()).group(1)
    name = code("SPRING")
    resp = await client.post("/admin/vouchers", allow_redirects=False, data={
        "csrf_token": csrf, "code": name.lower(), "kind": "fixed", "amount": "4.99", "currency": "eur",
        "min_spend": "30", "max_uses": "5", "max_uses_per_customer": "", "starts_at": "", "ends_at": "2099-12-31T23:59",
        "category": ""})
    assert resp.status == 303, await resp.text()
    detail_url = resp.headers["Location"]
    v = (await client.app[VOUCHERS].list(seller_id=None, limit=500))[0]
    assert (v.code, v.amount_cents, v.currency, v.min_spend_cents, v.max_uses, v.seller_id) == (name, 499, "EUR", 3000, 5, None)
    assert v.ends_at == datetime(2099, 12, 31, 23, 59, tzinfo=timezone.utc)
    await client.app[VOUCHERS].redeem(name, f"page-order-{v.id}", "customer:3", lines(4000), "EUR")
    page = await (await client.get(detail_url)).text()
    assert name in page and "1 / 5" in page and f"page-order-{v.id}" in page and "€4.99" in page
    listing = await (await client.get("/admin/vouchers")).text()
    assert name in listing and "1 / 5" in listing
    resp = await client.post(f"{detail_url}/active", data={"csrf_token": csrf, "active": "0"}, allow_redirects=False)
    assert resp.status == 303
    assert (await client.app[VOUCHERS].get(v.id)).active is False
    resp = await client.post("/admin/vouchers", data={"csrf_token": csrf, "code": "x", "kind": "percent",
                                                      "percent": "fifty"})
    page = await resp.text()
    assert resp.status == 422 and "Enter a whole number" in page
    resp = await client.post("/admin/vouchers", data={"code": code(), "kind": "percent", "percent": "5"})
    assert resp.status == 403  # no CSRF token


async def test_seller_pages_show_only_their_codes(client):
    seller_id, email, _ = await account(client, seller=True)
    _, _, rival = await account(client, seller=True)
    theirs = await new_voucher(client, rival, kind="percent", percent=20)
    csrf = await log_in(client, email)
    resp = await client.get("/seller/vouchers")
    assert resp.status == 200 and theirs["code"] not in await resp.text()
    name = code("MINE")
    resp = await client.post("/seller/vouchers", allow_redirects=False, data={
        "csrf_token": csrf, "code": name, "kind": "percent", "percent": "15", "category": "Kitchen"})
    assert resp.status == 303, await resp.text()
    page = await (await client.get(resp.headers["Location"])).text()
    assert name in page and "15% off" in page and f"Seller {seller_id}" in page and "Kitchen only" in page
    created = await client.app[VOUCHERS].list(seller_id=seller_id)
    assert [(v.code, v.seller_id, v.category) for v in created] == [(name, seller_id, "Kitchen")]
    assert (await client.get(f"/seller/vouchers/{theirs['id']}")).status == 404
    resp = await client.post(f"/seller/vouchers/{theirs['id']}/active", data={"csrf_token": csrf, "active": "0"})
    assert resp.status == 404 and (await client.app[VOUCHERS].get(theirs["id"])).active is True
    assert (await client.get("/admin/vouchers")).status == 403
    resp = await client.post("/seller/vouchers", data={"csrf_token": csrf, "code": name, "kind": "percent",
                                                       "percent": "5"})
    assert resp.status == 409 and "exists already" in await resp.text()


async def test_seed_makes_demo_codes_once(client):
    from ecom.seed import SeedOptions, Seeder
    from plugins.vouchers.seed import seed
    seeder = Seeder(client.app, SeedOptions(products=10))
    await seed(seeder)
    await seed(seeder)
    codes = [v.code for v in await client.app[VOUCHERS].list(seller_id=None, limit=500)]
    assert codes.count("WELCOME10") == 1 and codes.count("SPRING5") == 1
    d = await client.app[VOUCHERS].preview("welcome10", "", lines(2000), "EUR")
    assert d.total_cents == 200


@pytest.mark.parametrize("raw, key", [({"page_size": 0}, "page_size"), ({"recent_redemptions": 5000}, "recent_redemptions"),
                                      ({"page_size": "ten"}, "page_size"), ({"colour": 1}, "colour")])
def test_bad_config_is_one_line_naming_the_key(raw, key):
    from ecom.config import ConfigError, parse_section
    from plugins.vouchers.config import VouchersConfig
    with pytest.raises(ConfigError, match=f"plugins.vouchers.{key}"):
        parse_section(VouchersConfig, raw, "plugins.vouchers")
    assert parse_section(VouchersConfig, {"page_size": 10}, "plugins.vouchers").page_size == 10
