"""The shopper's side in a real browser, against `run.py --instances 2` behind nginx: search, product pages,
the cart, checkout to a ship-to address (the shop picks the region stock ships from) with inline card
checks, the order page turning paid (or failing) live, the guest cart surviving a log-in from the checkout
page, and the friendly error pages. Every page visited is screenshot and checked for console errors and
serious accessibility problems."""
from __future__ import annotations

import re
import tomllib
import uuid
from datetime import datetime

import aiohttp
import pytest
from playwright.async_api import expect

from tests.browser.conftest import Page
from tests.test_cli import ROOT

PASSWORD = "a-good-password-1"
SEEDED = re.compile(r"R[0-9A-Z]+-[A-Z]{2}-[0-9]{7}")  # products of `run.py seed` (other tests make their own)
VISA, DECLINED, BAD_LUHN = "4242 4242 4242 4242", "4000 0000 0000 0002", "4242 4242 4242 4241"
# The seeded products used here are priced in USD: ship them to New York (zone "us" has USD rates). The
# shop takes a US order's stock from these regions, in this order (the stack uses the shipped data file).
SHIP_TO = {"Full name": "Robin Shopper", "Address": "350 5th Ave", "City": "New York", "State / province": "NY",
           "Postal code": "10118", "Country": "US", "Phone": "(212) 736-3100"}
US_REGIONS = tuple(tomllib.loads((ROOT / "plugins/shipping/shipping.toml").read_text())["fulfilment"]["US"])


# ----------------------------------------------------------------------------- helpers

async def stocked(base: str, want: int = 2) -> list[dict]:
    """Seeded USD products with at least ``want`` available in a region that ships to ``SHIP_TO``."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/v1/products", params={"limit": "100", "sort": "newest"}) as resp:
            items = [p for p in (await resp.json())["items"] if p["currency"] == "USD" and SEEDED.fullmatch(p["sku"])]
        products = []
        for product in items:
            async with http.get(f"{base}/api/v1/inventory/{product['id']}") as resp:
                if any(s["available"] >= want and s["region"] in US_REGIONS for s in await resp.json()):
                    products.append(product)
    assert len(products) >= 2, items
    return products


async def seller_with_product(base: str, units: int) -> tuple[dict, str, str]:
    """(a new USD product, stocked with ``units`` in the first region that serves the US, its seller's
    bearer token, that region): a product of its own, so that the test may change its stock."""
    email = f"seller-{uuid.uuid4().hex[:10]}@example.com"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/v1/users", json={"email": email, "name": "Sol Seller", "password": PASSWORD,
                                                           "is_seller": True}) as resp:
            assert resp.status == 202, await resp.text()
        async with http.post(f"{base}/api/v1/auth/token", json={"email": email, "password": PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()
            token = (await resp.json())["token"]
        auth = {"Authorization": f"Bearer {token}"}
        body = {"name": f"Tin lantern {uuid.uuid4().hex[:6]}", "description": "A punched tin lantern.",
                "price_cents": 1800, "currency": "USD", "type": "Home & Kitchen", "sku": f"LAMP-{uuid.uuid4().hex[:8]}"}
        async with http.post(f"{base}/api/v1/products", json=body, headers=auth) as resp:
            assert resp.status == 201, await resp.text()
            product = await resp.json()
        await set_stock(base, token, product["id"], US_REGIONS[0], units)
    return product, token, US_REGIONS[0]


async def set_stock(base: str, token: str, product_id: int, region: str, quantity: int) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{base}/api/v1/inventory/{product_id}/{region}", json={"quantity": quantity},
                            headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200, await resp.text()


async def register(tab: Page, name: str = "Robin Shopper") -> str:
    """A new customer, registered through the page; returns the email."""
    email = f"shopper-{uuid.uuid4().hex[:10]}@example.com"
    await tab.goto("/register")
    await tab.page.get_by_label("Name").fill(name)
    await tab.page.get_by_label("Email").fill(email)
    await tab.page.get_by_label("Password").fill(PASSWORD)
    await tab.page.get_by_role("button", name="Create account").click()
    await tab.page.wait_for_url("**/login?next=**")  # the same answer for a known email: log in next
    await tab.page.get_by_label("Email").fill(email)
    await tab.page.get_by_label("Password").fill(PASSWORD)
    await tab.page.get_by_role("button", name="Log in").click()
    await tab.page.wait_for_url("**/account")
    return email


async def add_to_cart(tab: Page, product_id: int, quantity: int = 1) -> None:
    page = tab.page
    if not page.url.endswith(f"/products/{product_id}"):
        await tab.goto(f"/products/{product_id}")
    await page.get_by_label("Quantity").fill(str(quantity))
    await page.get_by_role("button", name="Add to cart").click()
    await page.wait_for_url("**/cart")
    await expect(page.get_by_role("status").filter(has_text="Added to your cart.")).to_be_visible()


async def fill_address(page, address: dict[str, str] = SHIP_TO) -> None:
    """The checkout's new ship-to address, by the fields' labels."""
    for label, value in address.items():
        await page.get_by_label(label, exact=label != "Country").fill(value)  # "Country (two letters, e.g. ES)"


async def fill_card(page, number: str) -> None:
    await page.get_by_label("Card number").fill(number)
    await page.get_by_label("Expiry month").fill("12")
    await page.get_by_label("Expiry year").fill(str(datetime.now().year + 2))
    await page.get_by_label("Security code").fill("123")


async def my_orders(tab: Page) -> list[dict]:
    """The logged-in shopper's orders, through the API with the page's own cookie."""
    resp = await tab.page.request.get(f"{tab.base_url}/api/v1/orders")
    assert resp.ok, await resp.text()
    body = await resp.json()
    return body["items"] if isinstance(body, dict) else body


# ----------------------------------------------------------------------------- the journeys

async def test_search_two_products_check_out_and_watch_it_get_paid(tab, stack):
    page = tab.page
    products = await stocked(stack["url"])
    first, second = products[0], products[1]
    await register(tab)
    await tab.check("account")

    # search from the home page, open the first product, add it
    await tab.goto("/")
    await page.get_by_label("Search the shop").fill(first["name"])
    await page.get_by_label("Search the shop").press("Enter")
    await page.wait_for_url("**/products?q=*")
    assert await page.get_by_role("heading", level=1).inner_text() == f"Results for “{first['name']}”"
    await tab.check("search")
    await page.locator(f'a[href="/products/{first["id"]}"]').first.click()
    await page.wait_for_url(f"**/products/{first['id']}")
    await expect(page.get_by_role("heading", level=1)).to_have_text(first["name"])
    await expect(page.locator(".product-price")).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))
    await expect(page.get_by_role("heading", name="Availability")).to_be_visible()
    await tab.check("product")
    await add_to_cart(tab, first["id"])

    # back to the product, then on to a second one through the navbar search
    await page.go_back()
    await page.wait_for_url(f"**/products/{first['id']}")
    await page.get_by_label("Search products").fill(second["name"])
    await page.get_by_label("Search products").press("Enter")
    await page.wait_for_url("**/products?q=*")
    await page.locator(f'a[href="/products/{second["id"]}"]').first.click()
    await page.wait_for_url(f"**/products/{second['id']}")
    await add_to_cart(tab, second["id"])

    # the cart: two lines, a quantity change, the total and the navbar count
    rows = page.locator(".cart-line")
    await expect(rows).to_have_count(2)
    await page.get_by_label(f"Quantity of {first['name']}").fill("2")
    await page.get_by_role("button", name=f"Update {first['name']}").click()
    await page.wait_for_url("**/cart")
    total = (2 * first["price_cents"] + second["price_cents"])
    await expect(page.locator('[data-total="USD"]')).to_have_text(f"${total // 100:,}.{total % 100:02d}")
    await expect(page.get_by_role("link", name=re.compile(r"Cart 3 items"))).to_be_visible()
    await tab.check("cart")

    # checkout to a New York address (the shop picks where each line ships from), priced, then the approved test card
    await page.get_by_role("link", name="Check out").click()
    await page.wait_for_url("**/checkout")
    await fill_address(page)
    await page.get_by_role("button", name="Update the price").click()
    breakdown = page.locator("#breakdown")
    await expect(breakdown.locator(".shipping-line").first).to_be_visible()
    await expect(page.get_by_label("City", exact=True)).to_have_value("New York")  # the address is kept
    priced = int(await breakdown.get_attribute("data-total-cents"))
    assert priced >= total, (priced, total)  # the goods, plus shipping (and any tax on top)
    await fill_card(page, VISA)
    await tab.check("checkout")
    navigations: list[str] = []
    async with page.expect_navigation(url=re.compile(r"/orders/ord_[a-z0-9]+$")) as landed:
        await page.get_by_role("button", name=re.compile("^Place order")).click()
    html = await (await landed.value).text()
    assert 'data-status="pending_payment"' in html and "Awaiting payment" in html  # as the server sent it
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    await tab.check("order-pending")

    # paid, live: the badge, the steps and the note change without a reload
    await expect(page.locator("#order-status")).to_have_text("Paid", timeout=15_000)
    await expect(page.locator("#order-paid-note")).to_be_visible()
    await expect(page.locator("#order-pending-note")).to_be_hidden()
    await expect(page.locator("#order-timeline li")).to_have_count(2)
    assert navigations == [], navigations
    await tab.check("order-paid")
    order_id = page.url.rsplit("/", 1)[1]
    resp = await page.request.get(f"{tab.base_url}/api/v1/orders/{order_id}")
    assert resp.ok, await resp.text()
    assert (await resp.json())["total_cents"] == priced  # the price the checkout page showed

    await tab.goto("/orders")
    row = page.get_by_role("row").filter(has_text=order_id)
    await expect(row).to_contain_text("Paid")
    await tab.check("orders")
    await tab.goto("/account")
    await page.get_by_role("link", name=re.compile("Your payments")).click()
    await page.wait_for_url("**/account/payments")
    await expect(page.get_by_role("row").filter(has_text=order_id)).to_contain_text("Approved")
    await tab.check("payments")
    await tab.goto("/cart")
    await expect(page.get_by_text("Your cart is empty.")).to_be_visible()


async def test_card_problems_are_clear(tab, stack):
    page = tab.page
    products = await stocked(stack["url"], want=1)
    await register(tab, "Casey Declined")
    await add_to_cart(tab, products[-1]["id"])
    await tab.goto("/checkout")
    await fill_address(page, {**SHIP_TO, "Full name": "Casey Declined"})

    # a mistyped number: flagged as it is typed, and the form does not go out
    await fill_card(page, BAD_LUHN)
    card = page.get_by_label("Card number")
    await expect(card).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#card_number-error")).to_have_text("This card number is not valid; check it for typos.")
    await page.get_by_role("button", name=re.compile("^Place order")).click()
    await expect(card).to_be_focused()
    assert page.url.endswith("/checkout") and await my_orders(tab) == []
    await tab.check("checkout-invalid")
    await card.fill(VISA.replace(" ", ""))
    await expect(card).not_to_have_attribute("aria-invalid", "true")

    # the declined test card: the order page says so, and what to do next
    await card.fill(DECLINED)
    await page.get_by_role("button", name=re.compile("^Place order")).click()
    await page.wait_for_url(re.compile(r"/orders/ord_[a-z0-9]+$"))
    failed = page.locator("#order-failed-note")
    await expect(failed).to_be_visible(timeout=15_000)
    await expect(failed.get_by_role("heading")).to_have_text("Payment failed: Card declined")
    await expect(page.locator("#order-status")).to_have_text("Payment failed")
    again = page.get_by_role("button", name="Put these items back in my cart")
    await expect(again).to_be_visible()
    await tab.check("order-declined")
    await again.click()
    await page.wait_for_url("**/checkout")
    await expect(page.locator(".order-summary")).to_contain_text(products[-1]["name"])


async def test_checkout_without_javascript_shows_the_servers_answers(browser, stack):
    """No JavaScript: a bad card comes back (422) with its message next to the field and the address kept;
    asking for more units than the regions serving the address have (its last unit went while the page was
    open) comes back (409) with a clear message; with the quantity lowered, a good card places the order."""
    product, seller_token, region = await seller_with_product(stack["url"], units=2)
    context = await browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    try:
        tab = Page(await context.new_page(), stack["url"])
        page = tab.page
        place = page.get_by_role("button", name=re.compile("^Place order"))
        await register(tab, "Noa Noscript")
        await add_to_cart(tab, product["id"], 2)
        await tab.goto("/checkout")
        await fill_address(page, {**SHIP_TO, "Full name": "Noa Noscript"})
        await fill_card(page, BAD_LUHN)
        async with page.expect_navigation() as answer:
            await place.click()
        assert (await answer.value).status == 422
        await expect(page.locator("#card_number-error")).to_have_text(
            "This card number is not valid; check it for typos.")
        await expect(page.get_by_label("Card number")).to_have_attribute("aria-invalid", "true")
        await expect(page.get_by_label("Postal code")).to_have_value("10118")  # the address comes back filled in
        await tab.shot("checkout-422")  # axe needs JavaScript: the JS-enabled tests check these templates
        assert not tab.console_errors, tab.console_errors

        await set_stock(stack["url"], seller_token, product["id"], region, 1)  # one unit went meanwhile
        await fill_card(page, VISA)
        async with page.expect_navigation() as answer:
            await place.click()
        assert (await answer.value).status == 409
        problem = page.locator("#checkout-problem")
        await expect(problem).to_contain_text("Not enough stock")
        await expect(problem).to_contain_text(f"“{product['name']}” (product {product['id']}): 1 available, 2 requested")
        await expect(place).to_be_disabled()  # the cart must change first, and the page says how
        await tab.shot("checkout-409")
        assert not tab.console_errors, tab.console_errors
        assert await my_orders(tab) == []

        await problem.get_by_role("link", name="Change your cart").click()
        await page.wait_for_url("**/cart")
        await page.get_by_label(f"Quantity of {product['name']}").fill("1")
        await page.get_by_role("button", name=f"Update {product['name']}").click()
        await page.wait_for_url("**/cart")
        await tab.goto("/checkout")
        await fill_address(page, {**SHIP_TO, "Full name": "Noa Noscript"})
        await fill_card(page, VISA)
        await place.click()
        await page.wait_for_url(re.compile(r"/orders/ord_[a-z0-9]+$"))
        await expect(page.get_by_role("status").filter(has_text="is placed")).to_be_visible()
    finally:
        await context.close()


async def test_a_guest_cart_survives_logging_in(tab, stack):
    page = tab.page
    products = await stocked(stack["url"], want=1)
    email = f"guest-{uuid.uuid4().hex[:10]}@example.com"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{stack['url']}/api/v1/users",
                             json={"email": email, "name": "Gale Guest", "password": PASSWORD}) as resp:
            assert resp.status == 202, await resp.text()

    await add_to_cart(tab, products[0]["id"])
    await expect(page.locator(".cart-line")).to_have_count(1)
    await page.get_by_role("link", name="Check out").click()
    await page.wait_for_url("**/checkout")  # a guest may check out with an email, or log in from here
    await expect(page.get_by_label("Email")).to_be_visible()
    await tab.check("checkout-guest")
    await page.locator("#guest-login").get_by_role("link", name="Log in").click()
    await page.wait_for_url("**/login?next=/checkout")
    await expect(page.get_by_text("Log in to check out: your cart is kept.")).to_be_visible()
    await tab.check("login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url("**/checkout")
    await expect(page.locator(".order-summary")).to_contain_text(products[0]["name"])
    await tab.goto("/cart")
    await expect(page.locator(".cart-line")).to_have_count(1)
    await expect(page.get_by_role("link", name=re.compile(r"Cart 1 item$"))).to_be_visible()


async def test_friendly_404_and_403(tab, stack):
    page = tab.page
    response = await tab.goto("/no-such-page")
    assert response.status == 404
    await expect(page.get_by_role("heading", level=1)).to_contain_text("We could not find that page")
    await expect(page.get_by_label("Search the shop instead")).to_be_visible()
    await tab.check("404")
    response = await tab.goto("/products/987654321")
    assert response.status == 404
    await expect(page.get_by_text("This product is not in the shop")).to_be_visible()

    response = await tab.goto("/account")  # a guest is asked to log in, and comes back afterwards
    assert page.url.endswith("/login?next=/account")

    await register(tab, "Pat Customer")
    dashboards = "dashboards" in stack["config"].read_text()
    for path in ("/admin", "/seller") if dashboards else ("/admin/orders", "/seller/products"):
        response = await tab.goto(path)
        assert response.status == 403, path
        await expect(page.get_by_role("heading", level=1)).to_contain_text("This page is not open to you")
        await expect(page.get_by_text("You are logged in as Pat Customer")).to_be_visible()
        await expect(page.get_by_role("button", name="Log out", exact=True)).to_be_visible()
    await tab.check("403")


@pytest.mark.parametrize("width", [390])
async def test_mobile_menu(browser, stack, width):
    context = await browser.new_context(viewport={"width": width, "height": 844}, is_mobile=True, has_touch=True)
    try:
        tab = Page(await context.new_page(), stack["url"])
        await tab.goto("/")
        menu = tab.page.get_by_role("button", name="Menu")
        await expect(tab.page.get_by_label("Search products")).to_be_hidden()
        await menu.click()
        await expect(tab.page.get_by_label("Search products")).to_be_visible()
        await expect(menu).to_have_attribute("aria-expanded", "true")
        await expect(tab.page.locator("#main-nav")).to_have_class(re.compile(r"(^| )show( |$)"))  # opened fully
        await tab.check("home-mobile")
    finally:
        await context.close()
