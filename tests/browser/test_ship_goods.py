"""Issue 10 end to end in a real browser, against `run.py --instances 2` behind nginx and the demo seed:
a guest buys from two sellers with a Spanish address, sees a shipping line per shipment and the IVA,
applies a voucher an admin made on the admin page, pays and follows the order by its signed link; each
seller sees only their lines and the ship-to, and ships with a carrier and tracking number; the order goes
partially shipped, then shipped; seller B's shipment is refunded alone and its stock comes back.
Every new page is screenshot and checked for console errors and serious accessibility problems."""
from __future__ import annotations

import re
import uuid
from contextlib import asynccontextmanager

import aiohttp
from playwright.async_api import expect

from ecom.seed import SeedOptions
from tests.browser.conftest import ADMIN, Page
from tests.browser.test_shopper import SEEDED, VISA, add_to_cart, fill_card
from tests.helpers import wait_until

DEMO_PASSWORD = "demo-password"  # the seeded sellers' (plugins/users/seed.py)
SELLERS = SeedOptions(products=120).sellers  # the stack fixture seeds 120 products
GUEST_ORDER = re.compile(r"/orders/ord_[a-z0-9]+\?key=[^&]+$")
SHIP_TO = {"Full name": "Lucía Fernández", "Address": "Calle de Preciados 9", "City": "Madrid",
           "Postal code": "28013", "Country": "ES", "Phone": "+34 911 234 567"}


# ----------------------------------------------------------------------------- helpers (HTTP to the shop)

async def seller_ids(http: aiohttp.ClientSession, base: str) -> dict[int, str]:
    """seller id -> email of the seeded sellers (each logs in through the API)."""
    out = {}
    for n in range(1, SELLERS + 1):
        email = f"seller{n}@demo.shop"
        async with http.post(f"{base}/api/v1/auth/token", json={"email": email, "password": DEMO_PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()
            token = (await resp.json())["token"]
        async with http.get(f"{base}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}) as resp:
            out[(await resp.json())["id"]] = email
    return out


async def available(http: aiohttp.ClientSession, base: str, product_id: int) -> int:
    """Units of a product available in every region together (the public inventory API)."""
    async with http.get(f"{base}/api/v1/inventory/{product_id}") as resp:
        assert resp.status == 200, await resp.text()
        return sum(stock["available"] for stock in await resp.json())


async def two_sellers_products(base: str) -> tuple[dict, dict, dict[int, str]]:
    """(the cheapest product of seller A with 1+ units, the cheapest of seller B with 2+ units, in one currency:
    EUR if the seed has such a pair), and the sellers' emails by id. Cheap, so that shipping is not free."""
    async with aiohttp.ClientSession() as http:
        emails = await seller_ids(http, base)
        for currency in ("EUR", "USD"):
            by_seller: dict[int, list[tuple[dict, int]]] = {}
            cursor = ""
            for _ in range(20):  # bounded: 120 seeded products, 100 a page
                params = {"limit": "100", "currency": currency, "sort": "price_asc",  # cheap: shipping is charged
                          **({"cursor": cursor} if cursor else {})}
                async with http.get(f"{base}/api/v1/products", params=params) as resp:
                    page = await resp.json()
                for p in page["items"]:
                    if p["currency"] == currency and SEEDED.fullmatch(p["sku"]) and p["seller_id"] in emails:
                        by_seller.setdefault(p["seller_id"], []).append((p, await available(http, base, p["id"])))
                cursor = page["next_cursor"]
                if not cursor:
                    break
            a = next(((s, p) for s, ps in by_seller.items() for p, n in ps if n >= 1), None)
            b = next(((s, p) for s, ps in by_seller.items() for p, n in ps if n >= 2 and a and s != a[0]), None)
            if a and b:
                return a[1], b[1], emails
    raise AssertionError("the seed has no stocked products of two sellers in one currency")


async def admin_token(http: aiohttp.ClientSession, base: str) -> str:
    async with http.post(f"{base}/api/v1/auth/token", json={"email": ADMIN[0], "password": ADMIN[1]}) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["token"]


@asynccontextmanager
async def another_tab(browser, stack):
    """A tab in a browser context of its own (its own cookies: another person)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield Page(await context.new_page(), stack["url"])
    finally:
        await context.close()


# ----------------------------------------------------------------------------- the steps

async def admin_makes_a_voucher(browser, stack) -> str:
    """The admin dashboard links to the vouchers page; a 10 % shop-wide code is made through its form."""
    code = f"SHIP{uuid.uuid4().hex[:6].upper()}"
    async with another_tab(browser, stack) as admin:
        page = admin.page
        await admin.log_in(*ADMIN)
        await admin.goto("/admin")
        await expect(page.locator("#selling-tools").get_by_role("link", name="Shipping zones and rates")).to_be_visible()
        await page.locator("#selling-tools").get_by_role("link", name="Vouchers and their uses").click()
        await page.wait_for_url("**/admin/vouchers")
        await page.get_by_label("Code", exact=True).fill(code)
        await page.get_by_label("Kind").select_option("percent")
        await page.get_by_label("Percent", exact=True).fill("10")
        await page.get_by_role("button", name="Create code").click()
        await admin.goto("/admin/vouchers")
        await expect(page.locator("#vouchers-table").get_by_role("row").filter(has_text=code)).to_be_visible()
        await admin.check("ship-admin-vouchers")
        await admin.goto("/admin/shipping")
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await admin.check("ship-admin-shipping")
    return code


async def guest_checks_out(tab: Page, a: dict, b: dict, code: str) -> str:
    """The guest's journey up to the paid order; returns the signed order link (path and query)."""
    page = tab.page
    await add_to_cart(tab, a["id"])
    await add_to_cart(tab, b["id"], 2)
    await expect(page.locator(".cart-line")).to_have_count(2)
    await tab.check("ship-cart")
    await page.get_by_role("link", name="Check out").click()
    await page.wait_for_url("**/checkout")  # a guest checks out without an account

    await page.get_by_label("Email").fill(f"guest-{uuid.uuid4().hex[:8]}@example.com")
    for label, value in SHIP_TO.items():
        await page.get_by_label(label, exact=label != "Country").fill(value)
    await page.get_by_role("button", name="Update the price").click()
    breakdown = page.locator("#breakdown")
    await expect(breakdown.locator(".shipment")).to_have_count(2)  # one per seller
    await expect(breakdown.locator(".shipping-line")).to_have_count(2)
    shipping = await breakdown.locator(".shipping-line").all_inner_texts()
    assert any(not text.rstrip().endswith("Free") for text in shipping), shipping  # cheap items: a price
    await expect(breakdown.locator(".tax-line").filter(has_text="IVA").first).to_be_visible()
    await expect(page.get_by_label("City", exact=True)).to_have_value("Madrid")  # the address is kept
    await tab.check("ship-checkout-priced")
    total = int(await breakdown.get_attribute("data-total-cents"))

    await page.get_by_label("Voucher code").fill(code.lower())  # codes are not case-sensitive
    await page.get_by_role("button", name="Apply", exact=True).click()
    await expect(page.locator("#discount-line")).to_contain_text(code)
    discounted = int(await page.locator("#breakdown").get_attribute("data-total-cents"))
    assert 0 < discounted < total, (discounted, total)
    await tab.check("ship-checkout-voucher")

    await fill_card(page, VISA)
    async with page.expect_navigation(url=GUEST_ORDER):
        await page.get_by_role("button", name=re.compile("^Place order")).click()
    await expect(page.locator("#order-status")).to_have_text("Paid", timeout=15_000)  # live, no reload
    await expect(page.locator("#order-ship-to")).to_contain_text("28013")
    await tab.check("ship-guest-order-paid")
    return page.url[len(tab.base_url):]


async def seller_ships(browser, stack, email: str, mine: dict, other: dict, order_id: str, tracking: str) -> None:
    """A seller opens the order from their list, sees their lines and the ship-to only, and ships."""
    async with another_tab(browser, stack) as seller:
        page = seller.page
        await seller.log_in(email, DEMO_PASSWORD)
        await seller.goto("/seller")
        await expect(page.locator("#selling-tools").get_by_role("link", name="Your vouchers")).to_be_visible()
        await page.locator("#selling-tools").get_by_role("link", name="Your shipping rates").click()
        await page.wait_for_url("**/seller/shipping")
        await seller.check("ship-seller-shipping")
        await seller.goto("/seller/orders")
        await page.locator(f'a[href="/orders/{order_id}"]').first.click()
        await page.wait_for_url(f"**/orders/{order_id}")

        main = page.locator("#main")
        await expect(main).to_contain_text(mine["name"])
        await expect(main).not_to_contain_text(other["name"])
        ship_to = page.locator("#order-ship-to")
        for value in ("Lucía Fernández", "Calle de Preciados 9", "28013", "Madrid", "+34911234567"):
            await expect(ship_to).to_contain_text(value)
        await expect(main).not_to_contain_text("4242")  # never payment details
        shipment = page.locator("section[id^=shipment-]").filter(has_text=mine["name"])
        await expect(shipment).to_have_count(1)
        await seller.check("ship-seller-order")

        await shipment.get_by_role("button", name="Mark fulfilled").click()
        await expect(shipment).to_have_attribute("data-status", "fulfilled")
        await shipment.get_by_label("Carrier").fill("Correos")
        await shipment.get_by_label("Tracking number").fill(tracking)
        await shipment.get_by_role("button", name="Mark shipped").click()
        await expect(shipment).to_have_attribute("data-status", "shipped")
        await expect(shipment).to_contain_text(tracking)
        await seller.check("ship-seller-shipped")


async def seller_refunds(browser, stack, email: str, mine: dict, order_id: str) -> None:
    async with another_tab(browser, stack) as seller:
        page = seller.page
        await seller.log_in(email, DEMO_PASSWORD)
        await seller.goto(f"/orders/{order_id}")
        shipment = page.locator("section[id^=shipment-]").filter(has_text=mine["name"])
        await shipment.get_by_role("button", name=re.compile(r"^Refund shipment \d+$")).click()
        await expect(page.get_by_role("status").filter(has_text="is refunded")).to_be_visible()
        await expect(shipment).to_have_attribute("data-status", "refunded")
        await seller.check("ship-seller-refunded")


# ----------------------------------------------------------------------------- the journey

async def test_a_guest_buys_from_two_sellers_who_ship_and_refund_on_their_own(tab, browser, stack):
    base, page = stack["url"], tab.page
    a, b, emails = await two_sellers_products(base)
    async with aiohttp.ClientSession() as http:
        stock_a, stock_b = await available(http, base, a["id"]), await available(http, base, b["id"])
    code = await admin_makes_a_voucher(browser, stack)

    guest_link = await guest_checks_out(tab, a, b, code)
    order_id = guest_link.split("?")[0].rsplit("/", 1)[1]
    async with aiohttp.ClientSession() as http:  # paid: the reservations are committed
        assert await available(http, base, a["id"]) == stock_a - 1
        assert await available(http, base, b["id"]) == stock_b - 2

    await seller_ships(browser, stack, emails[a["seller_id"]], a, b, order_id, "PQ123456789ES")
    status = page.locator("#order-status")
    await expect(status).to_have_text("Partially shipped", timeout=15_000)  # live on the guest's page
    await tab.goto(guest_link)
    await expect(status).to_have_text("Partially shipped")
    await expect(page.locator("#main")).to_contain_text("PQ123456789ES")  # the guest can follow the parcel
    await tab.check("ship-guest-partially-shipped")

    await seller_ships(browser, stack, emails[b["seller_id"]], b, a, order_id, "PQ987654321ES")
    await expect(status).to_have_text("Shipped", timeout=15_000)

    await seller_refunds(browser, stack, emails[b["seller_id"]], b, order_id)
    await tab.goto(guest_link)
    await expect(status).to_have_text("Partially refunded")
    await tab.check("ship-guest-partially-refunded")
    async with aiohttp.ClientSession() as http:
        token = await admin_token(http, base)

        async def payments() -> list[dict]:
            async with http.get(f"{base}/api/v1/payments", params={"order_id": order_id},
                                headers={"Authorization": f"Bearer {token}"}) as resp:
                body = await resp.json()
            return body["items"] if isinstance(body, dict) else body

        # the refund of one shipment reaches payments through the broker: a part of the payment goes back
        await wait_until(payments, lambda ps: [p["status"] for p in ps] == ["partially_refunded"],
                         "the payment partially refunded")
        await wait_until(lambda: available(http, base, b["id"]), lambda n: n == stock_b,
                         "seller B's units back in stock")
        assert await available(http, base, a["id"]) == stock_a - 1  # seller A's stay sold
