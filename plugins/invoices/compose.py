"""What an invoice or a credit note says, as pure functions of an order (no I/O, no aiohttp).

Orders keep, per line, the amount before discount (``line_total_cents``), the discount share and the tax
share, in the shop's price convention (``Order.prices_include_tax``: tax inside the amount, EU style, or
added on top). A document line always carries both its net (without tax) and its gross (with tax) amount
in integer cents, so that ``net + tax == gross`` holds per line, per rate and for the document, whichever
convention the order was priced in.

The tax rate of a line is the one captured at checkout (``OrderLine.tax_rate``, a Decimal percent); an
older order has none, so it is derived from the line's tax and net and rounded to 2 decimals.
"""
from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable

CENT = Decimal("0.01")
SHIPPING = "shipping"
ITEM = "item"


def rate_of(recorded: Any, tax_cents: int, net_cents: int) -> str:
    """The rate as a percent string with 2 decimals ("21.00"): the recorded one, else tax / net."""
    if recorded is not None:
        return str(Decimal(str(recorded)).quantize(CENT, ROUND_HALF_UP))
    if net_cents <= 0 or tax_cents <= 0:
        return "0.00"
    return str((Decimal(tax_cents) * 100 / Decimal(net_cents)).quantize(CENT, ROUND_HALF_UP))


def split(amount_cents: int, tax_cents: int, inclusive: bool) -> tuple[int, int]:
    """(net, gross) of an amount whose tax is ``tax_cents``, inside it or on top of it."""
    return (amount_cents - tax_cents, amount_cents) if inclusive else (amount_cents, amount_cents + tax_cents)


def _line(kind: str, name: str, quantity: int, unit_cents: int, discount: int, amount: int, tax: int,
          rate: Any, inclusive: bool, shipment_no: int | None, product_id: int | None = None) -> dict[str, Any]:
    net, gross = split(amount, tax, inclusive)
    return {"kind": kind, "name": name, "product_id": product_id, "quantity": quantity,
            "unit_price_cents": unit_cents, "discount_cents": discount, "net_cents": net, "tax_cents": tax,
            "gross_cents": gross, "rate": rate_of(rate, tax, net), "shipment_no": shipment_no}


def seller_lines(order: Any, seller_id: int) -> list[dict[str, Any]]:
    """The seller's lines of ``order`` and one shipping line per shipment of theirs that costs something."""
    inclusive = bool(order.prices_include_tax)
    out = [_line(ITEM, ln.name, ln.quantity, ln.unit_price_cents, ln.discount_cents,
                 ln.line_total_cents - ln.discount_cents, ln.tax_cents, getattr(ln, "tax_rate", None), inclusive,
                 ln.shipment_no, ln.product_id)
           for ln in order.lines if ln.seller_id == seller_id]
    for s in order.shipments:
        if s.seller_id == seller_id and s.shipping_cents > 0:
            out.append(_line(SHIPPING, "", 1, s.shipping_cents, 0, s.shipping_cents, s.shipping_tax_cents,
                             getattr(s, "shipping_tax_rate", None), inclusive, s.no))
    return out


def seller_shipments(order: Any, seller_id: int) -> list[int]:
    nos = {s.no for s in order.shipments if s.seller_id == seller_id}
    nos |= {ln.shipment_no for ln in order.lines if ln.seller_id == seller_id and ln.shipment_no}
    return sorted(nos)


def taxes(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tax grouped per rate, highest rate first: taxable base and tax, sums of the lines' values."""
    groups: dict[str, dict[str, Any]] = {}
    for ln in lines:
        g = groups.setdefault(ln["rate"], {"rate": ln["rate"], "base_cents": 0, "tax_cents": 0})
        g["base_cents"] += ln["net_cents"]
        g["tax_cents"] += ln["tax_cents"]
    return sorted(groups.values(), key=lambda g: Decimal(g["rate"]), reverse=True)


def totals(lines: Iterable[dict[str, Any]]) -> dict[str, int]:
    lines = list(lines)
    return {"net_cents": sum(ln["net_cents"] for ln in lines), "tax_cents": sum(ln["tax_cents"] for ln in lines),
            "total_cents": sum(ln["gross_cents"] for ln in lines)}


def buyer_of(order: Any, user: Any | None) -> dict[str, str]:
    """The bill-to copy taken at checkout (else the ship-to), with the buyer's email and a name."""
    address = dict(order.bill_to or order.ship_to or {})
    keys = ("name", "company", "line1", "line2", "city", "postal_code", "region", "country")
    out = {k: str(address.get(k) or "") for k in keys}
    out["email"] = order.email or (user.email if user is not None else "") or ""
    if not out["name"]:
        out["name"] = (user.name if user is not None else "") or out["email"]
    out["country"] = out["country"].upper()[:2]
    return out


def invoice_document(order: Any, seller_id: int, seller: dict[str, str], buyer: dict[str, str]) -> dict[str, Any]:
    """Everything the invoice of ``seller_id``'s part of ``order`` says, but its number and date."""
    lines = seller_lines(order, seller_id)
    return {"kind": "invoice", "order_id": order.id, "currency": order.currency,
            "prices_include_tax": bool(order.prices_include_tax), "seller": seller, "buyer": buyer,
            "lines": lines, "taxes": taxes(lines), **totals(lines)}


def credit_document(invoice: dict[str, Any], invoice_number: str, invoice_date: str, shipments: Iterable[int],
                    reason: str) -> dict[str, Any]:
    """A credit note giving back the lines of ``shipments`` of an invoice's document."""
    wanted = set(shipments)
    lines = [dict(ln) for ln in invoice["lines"] if ln.get("shipment_no") in wanted]
    return {**{k: invoice[k] for k in ("order_id", "currency", "prices_include_tax", "seller", "buyer")},
            "kind": "credit_note", "lines": lines, "taxes": taxes(lines), **totals(lines), "reason": reason,
            "invoice": {"number": invoice_number, "issued_at": invoice_date}}


def document_of(row: Any) -> dict[str, Any]:
    """The stored snapshot of a document row (asyncpg gives jsonb as text)."""
    doc = row["document"]
    return json.loads(doc) if isinstance(doc, str) else dict(doc)
