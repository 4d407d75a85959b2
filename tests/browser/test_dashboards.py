"""The seller's and the admin's dashboards in a real browser, against `run.py --instances 2`: a new seller
creates a product with an image and sets its stock, a customer buys it (API with a bearer token), the seller
sees the sale on /seller, an admin sees the order and the charts."""
from __future__ import annotations

import asyncio
import re
import struct
import uuid
import zlib
from datetime import datetime, timezone

import aiohttp

from ecom.i18n import format_date
from tests.browser.conftest import ADMIN

PASSWORD = "a-good-password-1"
# The bowl is priced in USD and stocked in eu-west only: the shop ships USD orders to the US (zone "us") and
# takes US orders from us-east, then eu-west (plugins/shipping/shipping.toml), so this address can have it.
SHIP_TO = {"name": "Sam Buyer", "line1": "350 5th Ave", "city": "New York", "region": "NY", "postal_code": "10118",
           "country": "US", "phone": "(212) 736-3100"}


def png(width: int = 8, height: int = 8) -> bytes:
    """A small valid PNG (a blue square), made here."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\x20\x60\xd0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


async def account(http: aiohttp.ClientSession, base: str, *, seller: bool) -> tuple[str, str]:
    """(email, bearer token) of a new account made through the API."""
    email = f"{'seller' if seller else 'buyer'}-{uuid.uuid4().hex[:8]}@example.com"
    async with http.post(f"{base}/api/v1/users", json={"email": email, "name": email.split("@")[0].title(),
                                                       "password": PASSWORD, "is_seller": seller}) as resp:
        assert resp.status == 202, await resp.text()
    async with http.post(f"{base}/api/v1/auth/token", json={"email": email, "password": PASSWORD}) as resp:
        assert resp.status == 200, await resp.text()
        return email, (await resp.json())["token"]


async def buy_and_wait_paid(http: aiohttp.ClientSession, base: str, token: str, product_id: int, quantity: int) -> str:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    body = {"items": [{"product_id": product_id, "quantity": quantity}], "ship_to": SHIP_TO,
            "payment": {"method": "card", "card_number": "4242 4242 4242 4242", "exp_month": 12,
                        "exp_year": datetime.now().year + 2, "cvc": "123"}}
    async with http.post(f"{base}/api/v1/orders", json=body, headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        order_id = (await resp.json())["id"]
    for _ in range(150):  # payments take 1 s in this stack
        async with http.get(f"{base}/api/v1/orders/{order_id}", headers=headers) as resp:
            status = (await resp.json())["status"]
        if status == "paid":
            return order_id
        assert status == "pending_payment", status
        await asyncio.sleep(0.1)
    raise AssertionError(f"order {order_id} was not paid in time")


async def test_a_seller_sells_and_the_dashboards_show_it(tab, stack):
    base, page = stack["url"], tab.page
    async with aiohttp.ClientSession() as http:
        seller_email, _ = await account(http, base, seller=True)
        _, buyer_token = await account(http, base, seller=False)

        # the seller creates a product with an image
        await tab.log_in(seller_email, PASSWORD)
        name, sku = f"Glazed bowl {uuid.uuid4().hex[:6]}", f"BOWL-{uuid.uuid4().hex[:8]}"
        await tab.goto("/seller/products/new")
        await page.get_by_label("Name").fill(name)
        await page.get_by_label("Description").fill("A hand-glazed stoneware bowl.")
        await page.get_by_label("Price").fill("12.50")
        await page.get_by_label("Currency").select_option("USD")  # the form offers the shop's display currency first
        await page.get_by_label("Category").fill("Home & Kitchen")
        await page.get_by_label("SKU").fill(sku)
        await page.get_by_label("Image").set_input_files(files=[{"name": "bowl.png", "mimeType": "image/png",
                                                                  "buffer": png()}])
        await tab.check("seller-product-form")
        await page.get_by_role("button", name="Create product").click()
        await page.wait_for_url("**/seller/products")
        assert await page.get_by_text(f"“{name}” is in the catalog.").is_visible()
        await tab.check("seller-products")
        href = await page.get_by_role("link", name=name, exact=True).get_attribute("href")
        product_id = int(href.rsplit("/", 1)[1])

        # ... and sets its stock in a region on the stock page
        await tab.goto("/seller/inventory")
        form = page.locator(f'form[action="/seller/inventory/{product_id}/eu-west"]')
        await form.get_by_label("Quantity in eu-west").fill("7")
        await form.get_by_role("button", name="Set eu-west").click()
        await page.wait_for_load_state()
        assert await page.get_by_text("Stock in eu-west set to 7 (7 available).").is_visible()
        await tab.check("seller-stock")
        await tab.goto("/seller/inventory/imports/new")
        await tab.check("seller-import")

        # the dashboard before the sale: the product is there, nothing sold yet
        await tab.goto("/seller")
        assert await page.locator("#product-count").inner_text() == "1"
        assert await page.locator("#sales-units").inner_text() == "0"

        # a customer buys two through the API
        order_id = await buy_and_wait_paid(http, base, buyer_token, product_id, 2)

    # the seller sees the sale: totals, the chart's description and the table by day
    response = await tab.goto("/seller")
    assert response.status == 200
    assert await page.locator("#sales-revenue").inner_text() == "$25.00"
    assert await page.locator("#sales-units").inner_text() == "2"
    assert await page.locator("#to-fulfil-count").inner_text() == "1"
    today = datetime.now(timezone.utc).date()
    description = await page.locator("#revenue-chart svg desc").text_content()
    assert f"{today:%b} {today.day} $25.00" in description
    row = page.locator("#sales-table tbody tr").first
    assert await row.inner_text() == f"{format_date(today)}\t$25.00\t2"
    assert await page.locator("#paid-orders").get_by_text(order_id).is_visible()
    assert await page.locator("#low-stock").get_by_role("link", name=name).is_visible()  # 7 - 2 = 5 left
    await tab.check("seller-dashboard")
    await tab.goto("/seller/orders")
    assert await page.get_by_text(order_id).first.is_visible()
    await tab.check("seller-orders")

    # an admin sees the order and the charts
    await page.context.clear_cookies()
    await tab.log_in(*ADMIN)
    response = await tab.goto("/admin")
    assert response.status == 200
    assert await page.locator("svg.ecom-chart").count() == 2
    assert int(await page.locator('#order-counts [data-status="paid"] [data-count]').get_attribute("data-count")) >= 1
    assert await page.locator("#workers tbody tr").count() >= 2  # both workers of the stack, heard by heartbeats
    assert await page.locator("#broker-status").inner_text() == "Connected"
    assert await page.locator('#databases [data-database="orders"]').get_by_text("OK").is_visible()
    await tab.check("admin-dashboard")
    await tab.goto("/admin/users")
    assert await page.get_by_role("cell", name=seller_email, exact=True).is_visible()
    revoke = re.compile(rf"Revoke seller\s*:\s*{re.escape(seller_email)}")  # the hidden part is its own box
    assert await page.get_by_role("button", name=revoke).is_visible()
    await tab.check("admin-users")
    await page.goto(f"{base}/admin/orders?status=paid")
    assert await page.get_by_text(order_id).first.is_visible()
    await tab.check("admin-orders")
    await tab.goto("/admin/payments")
    await tab.check("admin-payments")
