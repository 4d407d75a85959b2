"""What one shipment's refund gives back, and the request to payments for it.

The customer paid, for a shipment: its lines after their discount shares, plus its shipping, plus (when
the shop's prices exclude tax) the tax of those lines and of that shipping; with tax-inclusive prices
the tax is inside the line and shipping amounts already. That sum, in the order's currency, is the
shipment's refund, so the refunds of every shipment of an order add up to its total to the cent
(pricing.Breakdown.total_cents is the same sum).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

import asyncpg

from plugins.payments.events import RefundRequested

log = logging.getLogger("ecom.plugins.orders")
HAS_REFUND_REF = "refund_ref" in {f.name for f in dataclasses.fields(RefundRequested)}


def refund_amount(order: Any, ship: Any, lines: Any) -> int:
    """``order``: its row (prices_include_tax); ``ship``: the shipment's row; ``lines``: shipment_db.lines_money
    (``net``: line totals less discounts, ``tax``: their tax)."""
    amount = lines["net"] + ship["shipping_cents"]
    if not order["prices_include_tax"]:
        amount += lines["tax"] + ship["shipping_tax_cents"]
    return amount


async def request_refund(events: Any, conn: asyncpg.Connection, row: Any, amount: int, refund_ref: str,
                         reason: str) -> None:
    """RefundRequested for ``amount`` of order ``row`` in the caller's transaction (outbox); payments
    refunds once per (order, refund_ref). Nothing to ask for a shipment that cost nothing."""
    if amount <= 0:
        return
    extra = {"refund_ref": refund_ref} if HAS_REFUND_REF else {}
    await events.emit(conn, RefundRequested(row["id"], amount, row["currency"].strip(), reason, **extra))
    log.info("order %s: refund of %s requested for %s (%s)", row["id"], amount, refund_ref, reason)
