"""The dashboards end to end: real PostgreSQL, broker and HTTP with every plugin they read. Sellers,
products, stock and orders are made through the API; payments answer through the broker (delay 0)."""
from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from ecom.app import POOLS, create_app
from ecom.gateway.auth import Identity
from ecom.i18n import format_date, use_locale
from plugins.dashboards.service import day_label
from plugins.inventory.keys import INVENTORY
from plugins.orders.keys import ORDERS
from plugins.payments.keys import PAYMENTS
from plugins.products.keys import PRODUCTS
from plugins.users.keys import USERS
from tests.helpers import PASSWORD
from tests.helpers import account as user

PLUGINS = ["users", "products", "inventory", "payments", "addresses", "shipping", "taxes", "vouchers", "orders",
           "dashboards"]
VISA, DECLINED = "4242 4242 4242 4242", "4000 0000 0000 0002"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def client(aiohttp_client, make_config):
    config = make_config(fresh=True, plugins={"enabled": PLUGINS, "payments": {"delay_seconds": 0}})
    return await aiohttp_client(create_app(config))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}




async def product(client, token: str, price_cents: int, stock: dict[str, int], currency: str = "EUR",
                  name: str = "Blue mug") -> int:
    resp = await client.post("/api/v1/products", headers=bearer(token), json={
        "name": name, "description": "A mug.", "price_cents": price_cents, "currency": currency, "type": "Kitchen",
        "sku": f"SKU-{uuid.uuid4().hex[:10]}"})
    assert resp.status == 201, await resp.text()
    product_id = (await resp.json())["id"]
    for region, quantity in stock.items():
        resp = await client.put(f"/api/v1/inventory/{product_id}/{region}", headers=bearer(token),
                                json={"quantity": quantity})
        assert resp.status == 200, await resp.text()
    return product_id


async def buy(client, token: str, items: list[tuple[int, int]], number: str = VISA) -> str:
    """Place an order and wait until its payment is settled; the order id."""
    resp = await client.post("/api/v1/orders", headers=bearer(token), json={
        "items": [{"product_id": p, "quantity": q} for p, q in items], "ship_to": {"name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES"},
        "payment": {"method": "card", "card_number": number, "exp_month": 12,
                    "exp_year": datetime.now().year + 2, "cvc": "123"}})
    assert resp.status == 201, await resp.text()
    order_id = (await resp.json())["id"]
    for _ in range(300):
        status = (await (await client.get(f"/api/v1/orders/{order_id}", headers=bearer(token))).json())["status"]
        if status != "pending_payment":
            return order_id
        await asyncio.sleep(0.05)
    raise AssertionError(f"order {order_id} was not settled in time")


def today() -> str:
    """Today (a UTC day) as the tables show it to an English reader: 'Nov 3, 2025'."""
    with use_locale("en"):
        return format_date(datetime.now(timezone.utc).date())


async def test_seller_sees_own_sales_and_not_another_sellers(client):
    ana, _, ana_token = await user(client, seller=True)
    _, _, bo_token = await user(client, seller=True)
    _, _, customer = await user(client)
    mug = await product(client, ana_token, 1250, {"eu-west": 10}, name="Ana's mug")
    lamp = await product(client, bo_token, 9900, {"eu-west": 10}, name="Bo's lamp")
    order_id = await buy(client, customer, [(mug, 2), (lamp, 1)])  # one order, two sellers: two shipments

    page = await (await client.get("/seller", headers=bearer(ana_token))).text()
    label = day_label(datetime.now(timezone.utc).date())
    assert f"{label} €25.00" in page  # the chart's description: today's revenue, Ana's lines only
    assert re.search(rf"<td>{today()}</td><td class=\"text-end\">€25.00</td>\s*<td class=\"text-end\">2</td>", page)
    assert f"{label} €99.00" not in page and "€124.00" not in page and "Bo&#39;s lamp" not in page
    assert '<p class="display-6 mb-1" id="to-fulfil-count">1</p>' in page and "Ana&#39;s mug" in page
    # "Shipments to send": her shipment of the order only, never the card
    assert f'data-shipment="{order_id}/1"' in page and f'data-shipment="{order_id}/2"' not in page
    assert "4242" not in page and "visa" not in page.lower()

    page = await (await client.get("/seller", headers=bearer(bo_token))).text()
    assert f"{label} €99.00" in page and f"{label} €25.00" not in page and "Ana&#39;s mug" not in page
    assert f'data-shipment="{order_id}/2"' in page and f'data-shipment="{order_id}/1"' not in page

    # once Ana's shipment is on its way it is no longer hers to send; Bo's still is
    resp = await client.post(f"/api/v1/orders/{order_id}/shipments/1/status", headers=bearer(ana_token),
                             json={"status": "fulfilled"})
    assert resp.status == 200, await resp.text()
    page = await (await client.get("/seller", headers=bearer(ana_token))).text()
    assert 'id="to-fulfil-count">1</p>' in page  # packed, not sent yet
    resp = await client.post(f"/api/v1/orders/{order_id}/shipments/1/status", headers=bearer(ana_token),
                             json={"status": "shipped", "carrier": "DHL", "tracking_number": "JD1"})
    assert resp.status == 200, await resp.text()
    page = await (await client.get("/seller", headers=bearer(ana_token))).text()
    assert 'id="to-fulfil-count">0</p>' in page and f'data-shipment="{order_id}/1"' not in page
    page = await (await client.get("/seller", headers=bearer(bo_token))).text()
    assert 'id="to-fulfil-count">1</p>' in page and f'data-shipment="{order_id}/2"' in page


async def test_customers_and_guests_are_kept_out(client):
    _, _, customer = await user(client)
    _, _, seller = await user(client, seller=True)
    for path in ("/seller", "/admin"):
        assert (await client.get(path, headers=bearer(customer))).status == 403
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/login?next=")
    assert (await client.get("/admin", headers=bearer(seller))).status == 403
    assert (await client.get("/seller", headers=bearer(seller))).status == 200


async def test_admin_sees_charts_counts_and_health(client):
    _, _, admin = await user(client, admin=True)
    _, _, seller = await user(client, seller=True)
    _, _, customer = await user(client)
    mug = await product(client, seller, 1000, {"eu-west": 10})
    await buy(client, customer, [(mug, 1)])
    await buy(client, customer, [(mug, 1)], number=DECLINED)

    resp = await client.get("/admin", headers=bearer(admin))
    page = await resp.text()
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    assert page.count('<svg class="ecom-chart"') == 2 and "style=" not in page.split("<main", 1)[1]
    label = day_label(datetime.now(timezone.utc).date())
    assert "Paid: " in page and f"{label} 1" in page  # the orders chart's description
    assert "Approved: " in page and "Declined: " in page
    assert re.search(r'href="/admin/orders\?status=paid">Paid</a>\s*<span [^>]*data-count="1"', page)
    assert re.search(r'href="/admin/orders\?status=payment_failed">Payment failed</a>\s*<span [^>]*data-count="1"', page)
    assert re.search(r'href="/admin/payments\?status=declined">Declined</a>\s*<span [^>]*data-count="1"', page)
    assert 'href="/admin/payments?status=partially_refunded">Partially refunded</a>' in page
    assert re.search(r'data-role="seller">\s*<span>Sellers</span><strong data-count="1"', page)
    assert re.search(r'data-role="customer">\s*<span>Accounts</span><strong data-count="3"', page)
    # health: this process as a worker, every plugin database with its outbox backlog, the broker
    assert re.search(r'<tr data-worker="[^"]+">.*?<span class="badge text-bg-success">Alive</span>', page, re.S)
    for name in ("users", "products", "inventory", "payments", "orders"):
        assert re.search(rf'<tr data-database="{name}"><td>{name}</td><td><span class="badge text-bg-success">OK',
                         page)
    assert "dashboards" not in re.findall(r'data-database="([^"]+)"', page)  # it has no database
    assert '<span id="broker-status"><span class="badge text-bg-success">Connected</span>' in page
    assert f"<td>{today()}</td><td class=\"text-end\">1</td>" in page  # payments per day: 1 approved

    # an admin's /seller is the marketplace's
    page = await (await client.get("/seller", headers=bearer(admin))).text()
    assert "Marketplace dashboard" in page and f"{label} €10.00" in page


async def test_query_methods_on_a_known_data_set(client):
    app = client.app
    seller_id, _, seller = await user(client, seller=True)
    other_id, _, other = await user(client, seller=True)
    _, _, customer = await user(client)
    mug = await product(client, seller, 1250, {"eu-west": 20, "us-east": 3})
    cup = await product(client, seller, 500, {"eu-west": 6})
    usd = await product(client, seller, 700, {"eu-west": 9}, currency="USD")
    never = await product(client, seller, 100, {})
    lamp = await product(client, other, 9900, {"eu-west": 5})
    await buy(client, customer, [(mug, 2), (cup, 1), (lamp, 1)])
    await buy(client, customer, [(mug, 1)])
    await buy(client, customer, [(usd, 3)])
    await buy(client, customer, [(cup, 1)], number=DECLINED)
    day = datetime.now(timezone.utc).date()

    orders = app[ORDERS]
    assert await orders.seller_sales(seller_id, 30) == [(day, {"EUR": 3 * 1250 + 500, "USD": 2100}, 7)]
    assert await orders.seller_sales(other_id, 1) == [(day, {"EUR": 9900}, 1)]
    assert await orders.seller_sales(None, 30) == [(day, {"EUR": 3 * 1250 + 500 + 9900, "USD": 2100}, 8)]
    assert await orders.seller_sales(seller_id + other_id + 1000, 30) == []
    counts = await orders.counts_by_status(seller_id)
    assert counts["paid"] == 3 and counts["payment_failed"] == 1 and sum(counts.values()) == 4
    assert (await orders.counts_by_status(other_id))["paid"] == 1
    assert await orders.status_counts_by_day(7) == [(day, {"paid": 3, "payment_failed": 1})]
    with pytest.raises(Exception, match="days"):
        await orders.seller_sales(seller_id, 0)

    assert await app[PAYMENTS].counts_by_status() == {"pending": 0, "approved": 3, "declined": 1,
                                                      "partially_refunded": 0, "refunded": 0}
    assert await app[USERS].role_counts() == {"customer": 3, "seller": 2, "admin": 0}

    who = Identity(seller_id, "s@example.com", "S", frozenset({"customer", "seller"}))
    ids = await app[PRODUCTS].seller_product_ids(who)
    assert ids == [never, usd, cup, mug]
    low = await app[INVENTORY].low_stock(ids, 5)
    # never stocked: every region at 0 (first); the mug's us-east (3); the cup is at 6 - 1 sold = 5
    assert list(low) == [never, mug, cup]
    assert [(s.region, s.available) for s in low[mug]] == [("us-east", 3)]
    assert [(s.region, s.available) for s in low[cup]] == [("eu-west", 5)]
    assert {s.available for s in low[never]} == {0} and len(low[never]) == 3
    moves = await app[INVENTORY].recent_movements(ids, 50)
    assert {m.product_id for m in moves} == {mug, cup, usd} and lamp not in {m.product_id for m in moves}
    assert moves == sorted(moves, key=lambda m: m.id, reverse=True)

    # days are the reader's: orders placed at 00:30 UTC today fall on yesterday in Pago Pago (UTC-11)
    await app[POOLS]["orders"].execute(
        "UPDATE orders SET created_at = (date_trunc('day', now() AT TIME ZONE 'UTC') + interval '30 minutes') "
        "AT TIME ZONE 'UTC'")
    assert await orders.status_counts_by_day(7, time_zone="Asia/Tokyo") == [(day, {"paid": 3, "payment_failed": 1})]
    assert await orders.status_counts_by_day(7, time_zone="Pacific/Pago_Pago") == [
        (day - timedelta(days=1), {"paid": 3, "payment_failed": 1})]
    assert [d for d, _, _ in await orders.seller_sales(seller_id, 30, time_zone="Pacific/Pago_Pago")] == [
        day - timedelta(days=1)]


async def test_admin_grants_and_revokes_the_seller_role(client):
    _, admin_email, _ = await user(client, admin=True)
    customer_id, _, customer = await user(client)
    page = await (await client.get("/login")).text()
    resp = await client.post("/login", data={"csrf_token": CSRF.search(page).group(1), "email": admin_email,
                                             "password": PASSWORD, "next": "/admin/users"})
    page = await resp.text()
    assert resp.status == 200 and f'action="/admin/users/{customer_id}/seller"' in page
    token = CSRF.search(page).group(1)
    resp = await client.post(f"/admin/users/{customer_id}/seller", data={"seller": "1"})
    assert resp.status == 403  # no CSRF token
    resp = await client.post(f"/admin/users/{customer_id}/seller",
                             data={"csrf_token": token, "seller": "1", "next": "/admin/users"})
    assert resp.status == 200 and "is now a seller" in await resp.text()
    assert (await client.get("/seller", headers=bearer(customer))).status == 200
    resp = await client.post(f"/admin/users/{customer_id}/seller", data={"csrf_token": token, "seller": "0"})
    assert resp.status == 200 and "is no longer a seller" in await resp.text()
    assert (await client.get("/seller", headers=bearer(customer))).status == 403
    resp = await client.post("/admin/users/999999/seller", data={"csrf_token": token, "seller": "1"})
    assert resp.status == 404
    assert (await client.post(f"/admin/users/{customer_id}/seller", headers=bearer(customer),
                              json={"seller": "1"})).status == 403
