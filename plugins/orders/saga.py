"""The payment saga's orders side (DESIGN §6): what payment results and time do to an order.

A payment result (PaymentCompleted / PaymentFailed, in the inbox transaction the bus opens) moves an
order only when the payments service confirms it (trust.py); the sweep settles unpaid orders past their
time from payments' own record, or expires them; inventory calls that failed are retried. Every change
goes through Transitions (status, history, event, stock) in the caller's transaction.
"""
from __future__ import annotations

import logging
from typing import Any

import asyncpg

from ecom.events import EventRejected
from plugins.payments.events import PaymentCompleted, PaymentFailed

from . import checks, db, shipment_db, trust
from . import reasons
from .models import CANCELLED, EXPIRED, FAILED, PAID, PENDING
from .transitions import EXPIRY_ACTOR, PAYMENTS_ACTOR, StockLapsed, Transitions

log = logging.getLogger("ecom.plugins.orders")


class Saga:
    def __init__(self, pool: asyncpg.Pool, payments: Any, transitions: Transitions):
        self.pool, self.payments, self.transitions = pool, payments, transitions

    # ------------------------------------------------------------------ payment results (inbox transactions)
    async def completed(self, conn: asyncpg.Connection, evt: PaymentCompleted) -> None:
        """Paid, once payments confirms this approved payment for this order's total (else EventRejected).
        History reasons are neutral: sellers read them, and card details are not theirs to see."""
        row = await self._order_of(conn, evt)
        payment = await trust.confirmed(self.payments, row, trust.APPROVED, str(evt.payment_id),
                                        (evt.amount_cents, evt.currency))
        await self._paid(conn, row, str(payment.id), payment.transaction_id or "", reasons.PAID_REASON)

    async def failed(self, conn: asyncpg.Connection, evt: PaymentFailed) -> None:
        """Failed, once payments confirms this payment of this order was declined (a forged failure of a
        good order is rejected); the reason shown is payments' own."""
        row = await self._order_of(conn, evt)
        payment = await trust.confirmed(self.payments, row, trust.DECLINED, str(evt.payment_id))
        await self._failed(conn, row, str(payment.id), (payment.failure_reason or reasons.CARD_DECLINED)[:200])

    async def _order_of(self, conn: asyncpg.Connection, evt: Any) -> asyncpg.Record:
        """The order a payment result names, locked; EventRejected for an unknown or malformed id."""
        order_id = evt.order_id if isinstance(evt.order_id, str) and checks.ORDER_ID.fullmatch(evt.order_id) else None
        row = await db.get_order(conn, order_id, lock=True) if order_id else None
        if row is None:
            raise EventRejected(f"payment result for unknown order {str(evt.order_id)[:64]!r}")
        return row

    async def _paid(self, conn, row: asyncpg.Record, payment_id: str, transaction_id: str, reason: str) -> None:
        status = row["status"]
        if status in (EXPIRED, CANCELLED, FAILED):  # the money came too late: it goes back
            await self.transitions.refund(conn, row, reasons.LATE[status])
            return
        if status != PENDING:
            log.info("order %s is already %s; repeated payment result ignored", row["id"], status)
            return
        todo = None
        try:
            await self.transitions.apply_all(conn, row["id"], "commit")
        except StockLapsed:
            await self.transitions.move(conn, row, EXPIRED, PAYMENTS_ACTOR,
                                        "The stock hold ran out before the payment arrived; the payment is refunded")
            await self.transitions.refund(conn, row, "Payment arrived after the stock hold ran out")
            return
        except Exception as err:  # noqa: BLE001 - inventory unreachable: paid now, stock committed by the sweep
            log.warning("order %s: committing stock failed (%s); will retry", row["id"], type(err).__name__)
            todo = "commit"
        await self.transitions.move(conn, row, PAID, PAYMENTS_ACTOR, reason, payment_id=payment_id,
                                    transaction_id=transaction_id)
        if todo:
            await db.set_stock_todo(conn, row["id"], todo)

    async def _failed(self, conn, row: asyncpg.Record, payment_id: str, reason: str) -> None:
        if row["status"] != PENDING:
            log.info("order %s is %s; payment failure (%s) ignored", row["id"], row["status"], reason)
            return
        await self.transitions.move(conn, row, FAILED, PAYMENTS_ACTOR, f"Payment failed: {reason}",
                                    payment_id=payment_id, failure_reason=reason)
        await self.transitions.stock(conn, row["id"], "release")

    # ------------------------------------------------------------------ the sweep (worker.py)
    async def expire_due(self, limit: int = 100) -> int:
        """Unpaid orders past their time: a payment result that never arrived is looked up first (approved:
        paid; declined: failed); otherwise expired, stock released. Returns how many were claimed."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await db.claim_expired(conn, limit)
            for row in rows:
                try:
                    async with conn.transaction():  # a savepoint: one bad order does not hold up the rest
                        await self._expire(conn, row)
                except Exception:  # noqa: BLE001 - it stays pending; the next sweep retries it
                    log.exception("order %s could not be expired; retrying", row["id"])
            return len(rows)

    async def _expire(self, conn, row: asyncpg.Record) -> None:
        try:
            payment = await self.payments.payment_for_order(row["id"])
        except Exception as err:  # noqa: BLE001 - expire anyway: a payment arriving later is refunded
            log.warning("order %s: payment lookup failed (%s)", row["id"], type(err).__name__)
            payment = None
        if payment is not None and payment.status == trust.APPROVED and \
                (reason := trust.mismatch(payment, row, trust.APPROVED)) is not None:
            log.error("order %s: payment %s does not match the order (%s); expiring it", row["id"], payment.id, reason)
            payment = None
        if payment is not None and payment.status == trust.APPROVED:
            await self._paid(conn, row, str(payment.id), payment.transaction_id or "", reasons.PAID_REASON)
        elif payment is not None and payment.status == trust.DECLINED:
            await self._failed(conn, row, str(payment.id), payment.failure_reason or reasons.CARD_DECLINED)
        else:
            await self.transitions.move(conn, row, EXPIRED, EXPIRY_ACTOR, reasons.OTHERS[3])
            await self.transitions.stock(conn, row["id"], "release")

    async def retry_stock(self, limit: int = 100, older_than_seconds: float = 1.0) -> int:
        """Inventory calls that failed earlier (an order's, a refunded shipment's), tried again. Returns how
        many were claimed."""
        return await self._retry_orders(limit, older_than_seconds) + \
            await self._retry_shipments(limit, older_than_seconds)

    async def _retry_shipments(self, limit: int, older_than_seconds: float) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await shipment_db.claim_stock_todo(conn, limit, older_than_seconds)
            for row in rows:
                todo = None
                try:
                    await self.transitions.apply(row["reservation_ref"], row["stock_todo"])
                except Exception as err:  # noqa: BLE001 - still away: try again at a later sweep
                    log.warning("order %s shipment %s: stock %s failed again (%s)", row["order_id"],
                                row["shipment_no"], row["stock_todo"], type(err).__name__)
                    todo = row["stock_todo"]
                await shipment_db.set_stock_todo(conn, row["order_id"], row["shipment_no"], todo)
            return len(rows)

    async def _retry_orders(self, limit: int, older_than_seconds: float) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await db.claim_stock_todo(conn, limit, older_than_seconds)
            for row in rows:
                try:
                    await self.transitions.apply_all(conn, row["id"], row["stock_todo"])
                except StockLapsed:
                    await self._lapsed_after_payment(conn, row["id"])
                except Exception as err:  # noqa: BLE001 - still away: try again at a later sweep
                    log.warning("order %s: stock %s failed again (%s)", row["id"], row["stock_todo"],
                                type(err).__name__)
                    await db.set_stock_todo(conn, row["id"], row["stock_todo"])
                    continue
                await db.set_stock_todo(conn, row["id"], None)
            return len(rows)

    async def _lapsed_after_payment(self, conn, order_id: str) -> None:
        """A paid order whose stock hold ran out before it could be committed: cancelled and refunded."""
        row = await db.get_order(conn, order_id)
        if row["status"] != PAID:
            log.error("order %s is %s but its stock hold ran out; check it by hand", order_id, row["status"])
            return
        reason = reasons.OTHERS[2]
        await self.transitions.move(conn, row, CANCELLED, "system:orders", reason)
        await self.transitions.refund(conn, row, reason)
