"""A customer who speaks Spanish, in a real browser against `run.py --instances 2` behind nginx: signs up,
verifies the email from the mail the shop sent (read at /admin/mail), buys, gets the order and payment
mails in Spanish, downloads the invoice as PDF and as UBL 2.1 XML (valid against the OASIS schema), and
resets the password from the mail's link, after which the old session is dead.

Expected texts are looked up in the shop's own catalogs (``es("...")``), so the test checks that the page
shows exactly the Spanish translation of each text."""
from __future__ import annotations

import io
import re
import time
import uuid
from pathlib import Path

import pytest
from lxml import etree
from playwright.async_api import expect
from pypdf import PdfReader

from ecom import i18n
from ecom.i18n.tools import packages
from tests.browser.conftest import ADMIN, Page
from tests.browser.test_shopper import SHIP_TO, VISA, stocked

PASSWORD, NEW_PASSWORD = "una-clave-segura-1", "otra-clave-segura-2"
i18n.configure(("en", "es"), "en", "UTC")
for package in packages():
    i18n.add_catalog_folder(package.locale_dir)


def es(text: str, **values) -> str:
    with i18n.use_locale("es"):
        translated = i18n.gettext(text)
    return translated.format(**values) if values else translated


def ubl_schema(kind: str) -> etree.XMLSchema:
    import peppol
    main = Path(peppol.__file__).parent / "schema" / "maindoc" / f"UBL-{kind}-2.1.xsd"
    return etree.XMLSchema(etree.parse(str(main)))


async def mail_to(admin: Page, email: str, subject: str, timeout: float = 60.0) -> str:
    """Open the newest mail to ``email`` with ``subject`` at /admin/mail (waiting for it); its page's HTML."""
    deadline = time.monotonic() + timeout
    while True:
        await admin.goto("/admin/mail")
        row = admin.page.get_by_role("row").filter(has_text=email).filter(has_text=subject)
        if await row.count():
            await row.first.get_by_role("link").click()
            await admin.page.wait_for_url("**/admin/mail/*")
            return await admin.page.content()
        assert time.monotonic() < deadline, f"no mail {subject!r} to {email} at /admin/mail"
        await admin.page.wait_for_timeout(500)


def link_in(html: str, path: str) -> str:
    match = re.search(rf'https?://[^"\s<>]+{re.escape(path)}\?token=[A-Za-z0-9_\-]+', html.replace("&amp;", "&"))
    assert match, f"no {path} link in the mail"
    return match.group(0)


@pytest.fixture
async def spanish(browser, stack):
    context = await browser.new_context(locale="es-ES", viewport={"width": 1280, "height": 900})
    yield Page(await context.new_page(), stack["url"])
    await context.close()


@pytest.fixture
async def admin(browser, stack):
    context = await browser.new_context(locale="en-US")
    tab = Page(await context.new_page(), stack["url"])
    await tab.log_in(*ADMIN)
    yield tab
    await context.close()


async def test_a_spanish_customer_signs_up_buys_gets_mails_and_invoices_and_resets_the_password(
        browser, stack, spanish, admin):
    page = spanish.page
    email = f"lucia-{uuid.uuid4().hex[:8]}@example.com"
    product = (await stocked(stack["url"]))[0]

    # sign up and log in, in Spanish
    await spanish.goto("/register")
    assert await page.get_attribute("html", "lang") == "es"
    await page.get_by_label(es("Name")).fill("Lucía Pérez")
    await page.get_by_label(es("Email")).fill(email)
    await page.get_by_label(es("Password")).fill(PASSWORD)
    await spanish.check("es-register")
    await page.get_by_role("button", name=es("Create account")).click()
    await page.wait_for_url("**/login?next=**")
    await page.get_by_label(es("Email")).fill(email)
    await page.get_by_label(es("Password")).fill(PASSWORD)
    await page.get_by_role("button", name=es("Log in")).click()
    await page.wait_for_url("**/account")

    # the verification mail, in Spanish, read where a new shop's mails go
    html = await mail_to(admin, email, es("Confirm your email address"))
    await spanish.page.goto(link_in(html, "/account/verify"))
    await expect(page.get_by_text(es("Your email address {email} is verified.", email=email))).to_be_visible()
    await spanish.check("es-verified")

    # buy one product: cart, checkout to a New York address, the approved test card
    await spanish.goto(f"/products/{product['id']}")
    await page.get_by_label(es("Quantity")).fill("1")
    await page.get_by_role("button", name=es("Add to cart")).click()
    await page.wait_for_url("**/cart")
    await page.get_by_role("link", name=es("Check out")).click()
    await page.wait_for_url("**/checkout")
    for label, value in SHIP_TO.items():
        await page.get_by_label(es(label), exact=label != "Country").fill(value)
    await page.get_by_label(es("Card number")).fill(VISA)
    await page.get_by_label(es("Expiry month")).fill("12")
    await page.get_by_label(es("Expiry year")).fill(str(time.gmtime().tm_year + 2))
    await page.get_by_label(es("Security code")).fill("123")
    async with page.expect_navigation(url=re.compile(r"/orders/ord_[a-z0-9]+$")):
        await page.get_by_role("button", name=re.compile("^" + re.escape(es("Place order")))).click()
    order_id = page.url.rsplit("/", 1)[1]
    await expect(page.locator("#order-status")).to_have_text(es("Paid"), timeout=30_000)
    await spanish.check("es-order-paid")

    # the order and payment mails, in Spanish
    placed = await mail_to(admin, email, es("We received your order {order}", order=order_id))
    assert "Lucía" in placed
    await mail_to(admin, email, es("Your order {order} is paid", order=order_id))

    # the invoice: a PDF in Spanish and a UBL 2.1 e-invoice valid against the OASIS schema
    deadline = time.monotonic() + 60
    while True:
        await spanish.goto("/account/invoices")
        pdf_links = page.locator('a[href$=".pdf"]')
        if await pdf_links.count():
            break
        assert time.monotonic() < deadline, "no invoice at /account/invoices"
        await page.wait_for_timeout(500)
    pdf_href = await pdf_links.first.get_attribute("href")
    pdf = await page.request.get(stack["url"] + pdf_href)
    assert pdf.ok and pdf.headers["content-type"].startswith("application/pdf")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(await pdf.body())).pages)
    assert es("Invoice") in text and order_id in text
    xml = await page.request.get(stack["url"] + pdf_href.removesuffix(".pdf") + ".xml")
    assert xml.ok
    document = etree.fromstring(await xml.body())
    schema = ubl_schema("Invoice")
    assert schema.validate(document), schema.error_log

    # forgot the password: the link in the (Spanish) mail sets a new one; the old session is dead
    stranger = await browser.new_context(locale="es-ES")
    other = Page(await stranger.new_page(), stack["url"])
    await other.goto("/password/forgot")
    await other.page.get_by_label(es("Email")).fill(email)
    await other.page.get_by_role("button", name=es("Send me a link")).click()
    html = await mail_to(admin, email, es("Reset your password"))
    await other.page.goto(link_in(html, "/password/reset"))
    await other.page.get_by_label(es("New password")).fill(NEW_PASSWORD)
    await other.page.get_by_role("button", name=es("Save the new password")).click()
    await other.page.wait_for_load_state()
    await other.goto("/login")
    await other.page.get_by_label(es("Email")).fill(email)
    await other.page.get_by_label(es("Password")).fill(NEW_PASSWORD)
    await other.page.get_by_role("button", name=es("Log in")).click()
    await other.page.wait_for_url("**/account")
    await stranger.close()

    await spanish.goto("/account")
    await page.wait_for_url("**/login?next=**")  # the session from before the reset no longer opens the account
