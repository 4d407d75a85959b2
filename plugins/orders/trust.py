"""Orders trust payments, not messages (issue 9, finding 3).

A payment result reaches orders as a message, and a message proves only that someone could publish it.
Before a result changes an order, the payments service (its own database, through the service object
it provides) must confirm it: a payment with this id exists for this order, for the order's total in
the order's currency, and it has this outcome. Anything else is refused with ``EventRejected``: the
bus dead-letters the event with the reason and rolls the handler's transaction back, so the order
stays as it was. The expiry sweep asks the same question before it settles an order from a payment.
"""
from __future__ import annotations

from typing import Any

import asyncpg

from ecom.events import EventRejected

from .models import PENDING

APPROVED, DECLINED, REFUNDED = "approved", "declined", "refunded"
PARTIALLY_REFUNDED = "partially_refunded"   # some shipments' money went back: it was approved first too


def _money(amount: Any, currency: Any, row: asyncpg.Record, whose: str) -> str | None:
    total, expected = row["total_cents"], row["currency"].strip()
    if not isinstance(currency, str) or currency.strip() != expected:
        return f"{whose} currency {str(currency).strip()[:8]!r} is not the order's {expected}"
    if type(amount) is not int or amount != total:
        return f"{whose} amount {str(amount)[:20]} is not the order's total {total}"
    return None


def mismatch(payment: Any, row: asyncpg.Record, outcome: str, payment_id: str | None = None,
             claimed: tuple[Any, Any] | None = None) -> str | None:
    """Why ``payment`` (PaymentsService.payment_for_order of the order ``row``) does not back ``outcome``
    (approved or declined), or None when it does. ``payment_id`` and ``claimed`` (amount, currency):
    what the message says, which must agree as well."""
    if payment is None:
        return "payments knows no payment for this order"
    if payment_id is not None and str(payment.id) != payment_id:
        return "payments knows another payment for this order"
    if payment.order_id != row["id"]:
        return "the payment is for another order"
    # a (partly) refunded payment was approved first: a late result for an order already settled is not forged
    expected = {outcome} if outcome != APPROVED or row["status"] == PENDING else {APPROVED, REFUNDED,
                                                                                 PARTIALLY_REFUNDED}
    if payment.status not in expected:
        return f"the payment is {payment.status}, not {outcome}"
    if outcome != APPROVED:
        return None
    return _money(payment.amount_cents, payment.currency, row, "the payment's") or \
        (_money(*claimed, row, "the message's") if claimed is not None else None)


async def confirmed(payments: Any, row: asyncpg.Record, outcome: str, payment_id: str,
                    claimed: tuple[Any, Any] | None = None) -> Any:
    """The payment that backs a message saying order ``row``'s payment ``payment_id`` was ``outcome``;
    EventRejected when payments does not confirm it. A payments outage raises what it raises (the bus
    retries that: it is not a verdict)."""
    payment = await payments.payment_for_order(row["id"])
    reason = mismatch(payment, row, outcome, payment_id, claimed)
    if reason is not None:
        raise EventRejected(f"order {row['id']}: {outcome} payment {payment_id[:64]!r} not confirmed: {reason}")
    return payment
