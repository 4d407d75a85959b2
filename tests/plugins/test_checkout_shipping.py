"""Checkout that ships (issue 10) end to end with the real addresses, shipping, taxes, vouchers, inventory
and payments plugins through HTTP: shipments per seller, shipping lines, IVA, totals to the cent, the
voucher race, products that cannot ship, address errors, guest checkout with its signed link."""
from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date

from ecom.app import POOLS
from tests.helpers import PASSWORD, start, wait_until
from tests.plugins.test_orders import (CSRF, EU, SPAIN, bearer, card, checkout, orders_config, product, user)

PLACED = "SELECT id, customer_id, email, total_cents, subtotal_cents, discount_cents, shipping_cents, tax_cents, " \
         "prices_include_tax, voucher_code, ship_to FROM orders WHERE id = $1"


async def quote(client, token: str | None, **body):
    headers = bearer(token) if token else {}
    return await client.post("/api/v1/cart/quote", json={"ship_to": SPAIN, **body}, headers=headers)


async def add(client, token: str | None, product_id: int, quantity: int = 1) -> None:
    resp = await client.post("/api/v1/cart/items", json={"product_id": product_id, "quantity": quantity},
                             headers=bearer(token) if token else {})
    assert resp.status == 200, await resp.text()


def adds_up(order, lines, shipments) -> None:
    """sum of lines - discounts + shipping (+ tax when prices exclude it) == total, to the cent."""
    goods = sum(r["line_total_cents"] - r["discount_cents"] for r in lines)
    tax = sum(r["tax_cents"] for r in lines) + sum(s["shipping_tax_cents"] for s in shipments)
    shipping = sum(s["shipping_cents"] for s in shipments)
    assert order["tax_cents"] == tax and order["shipping_cents"] == shipping
    assert goods + shipping + (0 if order["prices_include_tax"] else tax) == order["total_cents"]


async def test_two_sellers_to_spain_two_shipments_with_shipping_and_iva(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config, shipping={}))
    _, seller_a = await user(client, seller=True)
    _, seller_b = await user(client, seller=True)
    mug = await product(client, seller_a, stock={EU: 5}, price_cents=1299)
    lamp = await product(client, seller_b, stock={EU: 5}, price_cents=4550, name="Desk lamp")
    customer_id, token = await user(client)
    await add(client, token, mug, 2)
    await add(client, token, lamp, 1)

    resp = await quote(client, token)
    assert resp.status == 200, await resp.text()
    priced = await resp.json()
    assert [len(s["lines"]) for s in priced["shipments"]] == [1, 1] and priced["tax_cents"] > 0
    assert any("IVA" in t["name"] for t in priced["taxes"]), priced["taxes"]

    resp = await checkout(client, token, from_cart=True)
    assert resp.status == 201, await resp.text()
    order_id = (await resp.json())["id"]
    pool = client.app[POOLS]["orders"]
    order = await pool.fetchrow(PLACED, order_id)
    assert order["total_cents"] == priced["total_cents"] and order["customer_id"] == customer_id
    assert order["ship_to"] and '"ES"' in order["ship_to"]
    shipments = await pool.fetch("SELECT * FROM shipments WHERE order_id = $1 ORDER BY shipment_no", order_id)
    lines = await pool.fetch("SELECT * FROM order_detail WHERE order_id = $1 ORDER BY line_no", order_id)
    assert [(s["shipment_no"], s["region"], s["reservation_ref"]) for s in shipments] == [
        (1, EU, f"{order_id}/1"), (2, EU, f"{order_id}/2")]
    assert [s["shipping_cents"] for s in shipments] == [s["shipping_cents"] for s in priced["shipments"]]
    assert all(s["shipping_cents"] > 0 for s in shipments)  # neither is above a free-shipping amount
    assert [r["shipment_no"] for r in lines] == [1, 2] and all(r["tax_cents"] > 0 for r in lines)
    adds_up(order, lines, shipments)
    refs = await client.app[POOLS]["inventory"].fetch(
        "SELECT DISTINCT order_ref, region FROM reservations WHERE order_ref LIKE $1 ORDER BY 1", f"{order_id}/%")
    assert [(r["order_ref"], r["region"]) for r in refs] == [(f"{order_id}/1", EU), (f"{order_id}/2", EU)]
    # the payment asked for is the total (PaymentRequested carried it)
    payments = client.app[POOLS]["payments"]
    amount = await wait_until(lambda: payments.fetchval("SELECT amount_cents FROM payments WHERE order_id = $1",
                                                        order_id), lambda a: a is not None, "the payment")
    assert amount == order["total_cents"]


async def test_address_errors_and_products_that_cannot_ship_are_422s_naming_them(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config, shipping={}))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    tea = await product(client, seller, stock={EU: 5}, currency="GBP", name="Tea tin")  # no GBP shipping rates
    _, token = await user(client)

    resp = await checkout(client, token, [(mug, 1)], ship_to={**SPAIN, "postal_code": "ABC"})
    body = await resp.json()
    assert resp.status == 422 and "ship_to.postal_code" in body["errors"], body
    resp = await checkout(client, token, [(mug, 1)], ship_to={**SPAIN, "line1": ""})
    assert resp.status == 422 and "ship_to.line1" in (await resp.json())["errors"]
    resp = await checkout(client, token, [(mug, 1)], ship_to=None)
    assert resp.status == 422 and "ship_to" in (await resp.json())["errors"]
    resp = await checkout(client, token, [(tea, 1)])
    body = await resp.json()
    assert resp.status == 422 and "Tea tin" in body["errors"]["items"], body
    resp = await checkout(client, token, [(mug, 1)], voucher="NO-SUCH-CODE")
    assert resp.status == 422 and "voucher" in (await resp.json())["errors"]
    resp = await checkout(client, token, [(mug, 1)], ship_to=None, ship_to_address_id=987654)
    assert resp.status == 422 and "ship_to_address_id" in (await resp.json())["errors"]
    pool = client.app[POOLS]["orders"]
    assert await pool.fetchval("SELECT count(*) FROM orders") == 0
    assert await client.app[POOLS]["inventory"].fetchval("SELECT count(*) FROM reservations") == 0


async def test_forty_customers_race_for_a_five_use_voucher(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config, shipping={}))
    _, seller = await user(client, seller=True)
    _, admin = await user(client, admin=True)
    mug = await product(client, seller, stock={EU: 60}, price_cents=2000)
    code = f"RACE{uuid.uuid4().hex[:6]}".upper()
    resp = await client.post("/api/v1/vouchers", headers=bearer(admin), json={
        "code": code, "kind": "percent", "percent": 10, "max_uses": 5})
    assert resp.status == 201, await resp.text()
    tokens = [t for _, t in await asyncio.gather(*(user(client) for _ in range(40)))]

    responses = await asyncio.gather(*(checkout(client, t, [(mug, 1)], voucher=code) for t in tokens))
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] * 5 + [409] * 35, statuses
    refusals = [await r.json() for r in responses if r.status == 409]
    assert all("voucher" in b["errors"] for b in refusals)
    pool = client.app[POOLS]["orders"]
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE voucher_code = $1", code) == 5
    assert await pool.fetchval("SELECT count(*) FROM orders") == 5
    assert {r["discount_cents"] for r in await pool.fetch("SELECT discount_cents FROM orders")} == {200}
    # the 35 refused held no stock: only the five orders' units are reserved or sold
    stock = await (await client.get(f"/api/v1/inventory/{mug}")).json()
    assert next(r for r in stock if r["region"] == EU)["available"] == 55


async def test_guest_checkout_signed_link_and_adopting_account(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config, shipping={}))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    await add(client, None, mug, 2)  # a guest: the cart lives in the session cookie
    email = f"g{uuid.uuid4().hex[:10]}@example.com"

    resp = await client.post("/api/v1/orders", json={"from_cart": True, "ship_to": SPAIN, "payment": card()})
    assert resp.status == 422 and "email" in (await resp.json())["errors"]
    resp = await client.post("/api/v1/orders", json={"from_cart": True, "ship_to": SPAIN, "email": email,
                                                     "payment": card()})
    assert resp.status == 201, await resp.text()
    placed = await resp.json()
    order_id, url = placed["id"], placed["follow_url"]
    assert url.startswith(f"/orders/{order_id}?key=")
    pool = client.app[POOLS]["orders"]
    order = await pool.fetchrow(PLACED, order_id)
    assert order["customer_id"] is None and order["email"] == email
    assert (await (await client.get("/api/v1/cart")).json())["lines"] == []

    page = await client.get(url)
    assert page.status == 200
    text = await page.text()
    assert order_id in text and "Create an account" in text and "events?key=" in text
    wrong = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    assert (await client.get(wrong)).status == 404
    assert (await client.get(f"/orders/{order_id}?key=")).status == 404
    assert (await client.get(f"/api/v1/orders/{order_id}/events")).status == 401
    assert (await client.get(f"/api/v1/orders/{order_id}/events?key=nope")).status == 404
    async with client.get(f"/api/v1/orders/{order_id}/events?key={url.split('key=')[1]}") as stream:
        assert stream.status == 200
        first = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 30)
        assert order_id.encode() in first

    resp = await client.post(f"/orders/{order_id}/adopt", data={
        "csrf_token": CSRF.search(text).group(1), "key": url.split("key=")[1], "name": "Gina Guest",
        "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    token = await wait_until(lambda: client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD}),
                             lambda r: r.status == 200, "the new account")
    token = (await token.json())["token"]
    me = (await (await client.get("/api/v1/users/me", headers=bearer(token))).json())["id"]
    assert await pool.fetchval("SELECT customer_id FROM orders WHERE id = $1", order_id) == me
    resp = await client.get(f"/api/v1/orders/{order_id}", headers=bearer(token))
    assert resp.status == 200 and (await resp.json())["id"] == order_id
    assert re.fullmatch(r"/orders/ord_[a-z0-9]{24}\?key=[A-Za-z0-9_-]{43}", url)


async def test_a_guest_checks_out_through_the_pages(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config, shipping={}))
    _, seller = await user(client, seller=True)
    _, admin = await user(client, admin=True)
    mug = await product(client, seller, stock={EU: 5}, price_cents=2000)
    resp = await client.post("/api/v1/vouchers", headers=bearer(admin), json={"code": "PAGE10", "kind": "percent",
                                                                             "percent": 10})
    assert resp.status == 201, await resp.text()
    await add(client, None, mug, 1)
    page = await (await client.get("/cart?country=ES")).text()
    assert 'id="breakdown"' in page and "Shipping (standard)" in page and "IVA" in page, page[-3000:]

    page = await (await client.get("/checkout")).text()
    csrf = CSRF.search(page).group(1)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    form = {"csrf_token": csrf, "idempotency_key": key, "email": f"p{uuid.uuid4().hex[:8]}@example.com",
            "ship_to_address_id": "new", "shipping_method": "standard", "voucher": "page10",
            **{f"ship_to.{k}": v for k, v in SPAIN.items()}, "ship_to.postal_code": "ABC"}
    resp = await client.post("/checkout", data={**form, "action": "apply"})
    page = await resp.text()
    assert resp.status == 422 and 'id="ship_to.postal_code-error"' in page, page[-3000:]
    form["ship_to.postal_code"] = SPAIN["postal_code"]
    resp = await client.post("/checkout", data={**form, "action": "apply"})
    page = await resp.text()
    assert resp.status == 200 and 'id="discount-line"' in page and "PAGE10" in page and "IVA" in page
    total = int(re.search(r'data-total-cents="(\d+)"', page).group(1))
    assert total == 2000 - 200 + 490  # IVA included in the price; shipping below the free-shipping amount

    resp = await client.post("/checkout", data={**form, "action": "place", "card_number": "4242 4242 4242 4242",
                                                "exp_month": "12", "exp_year": str(date.today().year + 2), "cvc": "123"},
                             allow_redirects=False)
    assert resp.status == 303, (await resp.text())[-3000:]
    follow = resp.headers["Location"]
    assert re.fullmatch(r"/orders/ord_[a-z0-9]{24}\?key=[A-Za-z0-9_-]{43}", follow)
    order_id = follow.split("?")[0].rsplit("/", 1)[1]
    assert await client.app[POOLS]["orders"].fetchval("SELECT total_cents FROM orders WHERE id = $1", order_id) == total
    assert (await client.get(follow)).status == 200
