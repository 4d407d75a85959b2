"""Refunds: one per (order, refund_ref), several per payment, never more in total than was paid.

Orders refunds a whole order (``refund_ref`` ""), or one shipment of it at a time (``refund_ref`` = the
shipment number). Each request is decided in the inbox transaction of its RefundRequested, with the
order's payment row locked, so two refunds of one order arriving together are decided one after the
other against the running sum (``payments.refunded_cents``). Every request leaves a ``refunds`` row:
granted ('completed') or rejected with the reason; a repeat of a granted (order, ref) leaves nothing.
No aiohttp here.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from . import db
from .events import PaymentRefunded, RefundRequested

log = logging.getLogger("ecom.plugins.payments")

MAX_REF = 100
MAX_AMOUNT = 10**12
WHOLE_ORDER = ""
REFUNDABLE = ("approved", "partially_refunded")


@dataclass(frozen=True)
class Refund:
    """A granted refund, as pages and the API show it."""
    id: uuid.UUID
    order_id: str
    payment_id: uuid.UUID
    refund_ref: str
    amount_cents: int
    currency: str
    reason: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "Refund":
        return cls(**(dict(row) | {"currency": row["currency"].strip()}))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ref(value: Any) -> str | None:
    ok = isinstance(value, str) and len(value) <= MAX_REF and (value == "" or value.isprintable())
    return value if ok else None


def decide(row: asyncpg.Record | None, ref: str | None, amount: int | None, currency: str) -> tuple[int, str | None]:
    """(the amount to give back, None) or (0, why not) for a request against payment ``row``."""
    if ref is None:
        return 0, f"refund_ref must be at most {MAX_REF} printable characters"
    if row is None:
        return 0, "no payment for this order"
    if row["status"] not in REFUNDABLE:
        return 0, "the payment is already refunded in full" if row["status"] == "refunded" else \
            f"the payment is {row['status']}"
    if currency != row["currency"].strip():
        return 0, f"currency {currency[:8]!r} differs from the payment's"
    if amount is None or not 0 < amount <= row["amount_cents"]:
        return 0, "the amount is not between 1 and the amount paid"
    left = row["amount_cents"] - row["refunded_cents"]
    if ref == WHOLE_ORDER:
        return min(amount, left), None  # the whole order: what is left of it
    if amount > left:
        return 0, f"the amount is more than the {left} left to refund"
    return amount, None


async def on_refund_requested(conn: asyncpg.Connection, events: Any, req: RefundRequested, order_id: str) -> None:
    """Grant or reject one refund request (see the module docstring)."""
    ref = _ref(getattr(req, "refund_ref", WHOLE_ORDER))
    currency = req.currency if isinstance(req.currency, str) else ""
    reason = req.reason if isinstance(req.reason, str) else ""
    row = await db.payment_for_order(conn, order_id, lock=True)
    if ref is not None and await db.refund_granted(conn, order_id, ref):
        log.info("order %s refund %r already granted; repeated refund request ignored", order_id, ref)
        return
    amount, rejection = decide(row, ref, _int(req.amount_cents), currency)
    refund_id = uuid.uuid4()
    asked = _int(req.amount_cents)
    recorded = amount if rejection is None else (asked if asked is not None and 0 <= asked <= MAX_AMOUNT else 0)
    await db.insert_refund(conn, refund_id, order_id, row and row["id"], recorded, currency[:8], reason[:500],
                           rejection, ref or WHOLE_ORDER)
    if rejection is not None:
        log.warning("refund %r for order %s rejected: %s", (ref or "")[:MAX_REF], order_id, rejection)
        return
    status = await db.add_refund(conn, row["id"], amount)
    await events.emit(conn, PaymentRefunded(order_id, str(row["id"]), str(refund_id), amount, ref))
    log.info("payment %s for order %s: refund %s of %d %s (ref %r), now %s", row["id"], order_id, refund_id,
             amount, currency, ref, status)
