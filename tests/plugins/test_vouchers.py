"""The vouchers plugin end to end: real PostgreSQL, real HTTP, the normal plugin loader.

Checkout's side (preview, redeem, release) is driven through the service orders uses; managing codes
through the API and the admin and seller pages.
"""
from __future__ import annotations

import asyncio
import random
import re
import uuid
from datetime import datetime, timedelta, timezone

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
