"""The arithmetic of a document (plugins/invoices/compose.py), without a database: net + tax == gross per
line, per rate and for the document, in either price convention; an old order's line without a recorded
tax rate gets one derived from its tax and net (2 decimals); a credit note takes only its shipments' lines."""
from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace as NS

from plugins.invoices import compose


def line(seller, amount, tax, *, qty=1, discount=0, shipment=1, rate=None, name="Mug"):
    return NS(product_id=7, seller_id=seller, name=name, unit_price_cents=amount // qty, quantity=qty,
              line_total_cents=amount, discount_cents=discount, tax_cents=tax, shipment_no=shipment, tax_rate=rate)


def order(lines, shipments, inclusive=True):
    return NS(id="ord_1", currency="EUR", prices_include_tax=inclusive, lines=lines, shipments=shipments,
              bill_to={"name": "Ana", "country": "es"}, ship_to=None, email=None, customer_id=3)


def test_tax_inside_the_prices_with_a_discount_and_a_derived_rate():
    o = order([line(5, 2420, 378, qty=2, discount=200, rate=None), line(6, 1000, 174)],
              [NS(no=1, seller_id=5, shipping_cents=490, shipping_tax_cents=85, shipping_tax_rate=Decimal("21"))])
    doc = compose.invoice_document(o, 5, {"legal_name": "A"}, compose.buyer_of(o, None))
    item, ship = doc["lines"]
    assert (item["net_cents"], item["tax_cents"], item["gross_cents"]) == (1842, 378, 2220)
    assert item["rate"] == "20.52"  # no recorded rate: 378 / 1842, rounded to 2 decimals
    assert (ship["net_cents"], ship["gross_cents"], ship["rate"]) == (405, 490, "21.00")
    assert doc["taxes"] == [{"rate": "21.00", "base_cents": 405, "tax_cents": 85},
                            {"rate": "20.52", "base_cents": 1842, "tax_cents": 378}]
    assert (doc["net_cents"], doc["tax_cents"], doc["total_cents"]) == (2247, 463, 2710)
    assert doc["buyer"]["country"] == "ES" and doc["buyer"]["name"] == "Ana"


def test_tax_added_to_the_prices_and_a_credit_note_of_one_shipment():
    o = order([line(5, 1000, 210, rate=Decimal("21")), line(5, 500, 50, shipment=2, rate=Decimal("10"))],
              [NS(no=1, seller_id=5, shipping_cents=0, shipping_tax_cents=0, shipping_tax_rate=None),
               NS(no=2, seller_id=5, shipping_cents=300, shipping_tax_cents=63, shipping_tax_rate=None)],
              inclusive=False)
    doc = compose.invoice_document(o, 5, {}, {})
    assert [ln["gross_cents"] for ln in doc["lines"]] == [1210, 550, 363]  # no line for free shipping
    assert (doc["net_cents"], doc["tax_cents"], doc["total_cents"]) == (1800, 323, 2123)
    credit = compose.credit_document(doc, "F-5-2026-000001", "2026-01-02T10:00:00+00:00", [2], "Shipment refunded")
    assert [ln["gross_cents"] for ln in credit["lines"]] == [550, 363]
    assert credit["taxes"] == [{"rate": "21.00", "base_cents": 300, "tax_cents": 63},
                               {"rate": "10.00", "base_cents": 500, "tax_cents": 50}]
    assert credit["total_cents"] == 913 and credit["invoice"]["number"] == "F-5-2026-000001"
