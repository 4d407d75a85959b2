"""Building an ``Order`` (models.py) from its rows, as one viewer may see it.

A customer or an admin sees everything: every shipment with its tracking, both addresses, the money
breakdown and the card's brand and last 4 digits. A seller sees only their lines and shipments, the
ship-to name, address and phone (they need them on the parcel) and nothing of the payment: no card,
no bill-to, no email, and totals of their own lines only. An order without shipment rows (placed before
shipments, or by a checkout that wrote none) is shown as its legacy shipments (shipment_db.legacy).
"""
from __future__ import annotations

import json
from typing import Any

import asyncpg

from . import shipment_db
from .models import HistoryEntry, Order, OrderLine, Shipment

SELLER_SHIP_TO = ("name", "company", "line1", "line2", "city", "region", "postal_code", "country", "phone")


def _json(value: Any) -> dict | None:
    if value is None:
        return None
    return json.loads(value) if isinstance(value, str) else dict(value)


def _get(row: Any, key: str, default: Any = None) -> Any:
    """A column that may be missing (rows read with the column lists of before migration 0003)."""
    try:
        return row[key]
    except (KeyError, IndexError):
        return default


def _history(rows: list) -> tuple[HistoryEntry, ...]:
    return tuple(HistoryEntry(h["status"], h["previous"], h["actor"], h["reason"], h["at"]) for h in rows)


def line(r: Any) -> OrderLine:
    return OrderLine(r["product_id"], r["seller_id"], r["name"], r["unit_price_cents"], r["quantity"],
                     r["line_total_cents"], _get(r, "shipment_no"), _get(r, "discount_cents", 0) or 0,
                     _get(r, "tax_cents", 0) or 0, _get(r, "tax_rate"))


def shipments(order: asyncpg.Record, lines: list[OrderLine], rows: list, history: list,
              sellers: list[int]) -> tuple[tuple[Shipment, ...], list[OrderLine]]:
    """(the order's shipments, its lines numbered by shipment): the rows, or the legacy shipments when it
    has none (``sellers``: every seller of the order in line order, so the numbering is the same for all)."""
    if not rows:
        rows = shipment_db.legacy(order, [{"seller_id": s} for s in sellers])
        by_seller = {r["seller_id"]: r["shipment_no"] for r in rows}
        lines = [ln if ln.shipment_no else OrderLine(**{**ln.__dict__, "shipment_no": by_seller.get(ln.seller_id)})
                 for ln in lines]
    hist = shipment_db.group(history, "shipment_no")
    seen = {ln.seller_id for ln in lines}
    out = []
    for r in rows:
        mine = tuple(ln for ln in lines if ln.shipment_no == r["shipment_no"])
        if r["seller_id"] not in seen:
            continue  # another seller's (a seller's view carries lines of theirs only)
        out.append(Shipment(r["shipment_no"], r["seller_id"], r["region"], r["status"], r["method"],
                            r["shipping_cents"], r["shipping_tax_cents"], r["carrier"], r["tracking_number"],
                            r["refund_cents"], mine, _history(hist.get(r["shipment_no"], [])),
                            _get(r, "shipping_tax_rate")))
    return tuple(out), lines


def build(row: asyncpg.Record, line_rows: list, history: list = (), *, seller_view: bool = False,
          shipment_rows: list = (), shipment_history: list = (), sellers: list[int] = ()) -> Order:
    """The order ``row`` with ``line_rows`` (a seller's: theirs only), its history and shipments."""
    lines = [line(r) for r in line_rows]
    ships, lines = shipments(row, lines, list(shipment_rows), list(shipment_history),
                             list(sellers) or list(dict.fromkeys(ln.seller_id for ln in lines)))
    ship_to = _json(_get(row, "ship_to"))
    if seller_view:  # not another seller's steps either ("Marked shipped by the seller (shipment 1)")
        mine = {f"seller:{ln.seller_id}" for ln in lines}
        history = [h for h in history if not h["actor"].startswith("seller:") or h["actor"] in mine]
        total = sum(ln.line_total_cents for ln in lines)
        ship_to = {k: ship_to.get(k, "") for k in SELLER_SHIP_TO} if ship_to else None
        money: dict[str, Any] = {"subtotal_cents": total, "shipping_cents": sum(s.shipping_cents for s in ships)}
        extra: dict[str, Any] = {}
        brand = last4 = None
    else:
        total = row["total_cents"]
        money = {k: _get(row, k, 0) or 0 for k in ("subtotal_cents", "discount_cents", "shipping_cents", "tax_cents")}
        extra = {"email": _get(row, "email"), "bill_to": _json(_get(row, "bill_to")),
                 "voucher_code": _get(row, "voucher_code")}
        brand, last4 = row["card_brand"], row["card_last4"]
    return Order(row["id"], row["customer_id"], row["status"], row["region"], total, row["currency"].strip(),
                 brand, last4, row["failure_reason"], row["expires_at"], row["created_at"], row["updated_at"],
                 tuple(lines), _history(history), seller_view, shipments=ships, ship_to=ship_to,
                 prices_include_tax=_get(row, "prices_include_tax", True), locale=_get(row, "locale"),
                 **money, **extra)


async def load(db, order_id: str, seller_id: int | None = None) -> Order:
    """One order with lines, history and shipments (``seller_id``: that seller's view)."""
    return (await load_many(db, [order_id], seller_id, with_history=True))[0]


async def load_many(db, order_ids: list[str], seller_id: int | None = None, *,
                    with_history: bool = False) -> list[Order]:
    """Orders in the order of ``order_ids`` (a seller's view: only their lines and shipments)."""
    rows = {r["id"]: r for r in await shipment_db.whole_orders(db, order_ids, seller_id, with_history)}
    ids = [i for i in order_ids if i in rows]
    lines = {i: rows[i]["_lines"] for i in ids}
    ships = {i: rows[i]["_shipments"] for i in ids}
    s_hist = {i: rows[i]["_shipment_history"] or [] for i in ids}
    o_hist = {i: rows[i]["_history"] or [] for i in ids}
    out = []
    for i in ids:
        every = lines.get(i, [])
        mine = [r for r in every if seller_id is None or r["seller_id"] == seller_id]
        out.append(build(rows[i], mine, o_hist.get(i, []), seller_view=seller_id is not None,
                         shipment_rows=ships.get(i, []), shipment_history=s_hist.get(i, []),
                         sellers=list(dict.fromkeys(r["seller_id"] for r in every))))
    return out
