"""Orders: checkout, reading with marketplace visibility, cancelling, the sellers' steps, and the saga's
reactions to payments and to time. No aiohttp here.

Who sees an order: its customer and admins (all of it), a seller with lines in it (only those lines);
anyone else gets NotFound, exactly as for an order that does not exist.
"""
from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

import asyncpg

from ecom.errors import Forbidden, NotFound, ValidationFailed
from plugins.payments.events import PaymentCompleted, PaymentFailed

from . import checks, db
from .cart import CartService
from .checkout import Checkout, fingerprint
from .checks import CheckoutRequest
from .config import OrdersConfig
from .models import (CANCELLED, EXPIRED, FAILED, LABELS, PAID, PENDING, SELLER_STEPS, STATUSES, HistoryEntry, Order,
                     OrderLine)
from .transitions import EXPIRY_ACTOR, PAYMENTS_ACTOR, StockLapsed, Transitions

if TYPE_CHECKING:
    from ecom.gateway.auth import Identity

log = logging.getLogger("ecom.plugins.orders")
VIEWS = ("customer", "seller", "admin")


def _order(row: asyncpg.Record, lines: list[asyncpg.Record], history: list[asyncpg.Record] = (),
           seller_view: bool = False) -> Order:
    out = [OrderLine(r["product_id"], r["seller_id"], r["name"], r["unit_price_cents"], r["quantity"],
                     r["line_total_cents"]) for r in lines]
    total = sum(line.line_total_cents for line in out) if seller_view else row["total_cents"]
    return Order(row["id"], row["customer_id"], row["status"], row["region"], total, row["currency"].strip(),
                 row["card_brand"], row["card_last4"], row["failure_reason"], row["expires_at"], row["created_at"],
                 row["updated_at"], tuple(out),
                 tuple(HistoryEntry(h["status"], h["previous"], h["actor"], h["reason"], h["at"]) for h in history),
                 seller_view)


def _days(days: Any) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
        raise ValidationFailed("days must be a whole number from 1 to 366.", errors={"days": "From 1 to 366."})
    return days


def actor_of(viewer: "Identity", role: str) -> str:
    return f"admin:{viewer.user_id}" if viewer.is_admin and role != "customer" else f"{role}:{viewer.user_id}"


class OrdersService:
    def __init__(self, pool: asyncpg.Pool, config: OrdersConfig, *, products: Any, inventory: Any, payments: Any,
                 events: Any, secret: bytes):
        self.pool, self.config, self.payments, self.secret = pool, config, payments, secret
        self.regions = tuple(inventory.regions)
        self.transitions = Transitions(events, inventory)
        self.carts = CartService(pool, config, products, inventory)
        self._checkout = Checkout(pool, config, products, inventory, payments, self.carts, self.transitions)

    # ------------------------------------------------------------------ checkout
    def parse_checkout(self, body: dict[str, Any]) -> CheckoutRequest:
        return checks.checkout(body, self.regions, self.config.max_lines)

    def request_hash(self, body: dict[str, Any]) -> str:
        return fingerprint(self.secret, body)

    async def checkout(self, customer_id: int, request: CheckoutRequest, *, key: str | None = None,
                       request_hash: str = "") -> tuple[Order, bool]:
        """(the order, whether it was created now rather than by an earlier request with ``key``)."""
        placed = await self._checkout.place(customer_id, request, key=key, request_hash=request_hash)
        return await self._load(self.pool, placed.order_id), placed.created

    # ------------------------------------------------------------------ reading
    async def _load(self, conn, order_id: str, seller_id: int | None = None) -> Order:
        row = await db.get_order(conn, order_id)
        lines = await db.lines_of(conn, [order_id], seller_id)
        return _order(row, lines, await db.history_of(conn, [order_id]), seller_view=seller_id is not None)

    async def _visible_row(self, conn, viewer: "Identity", order_id: Any, *, lock: bool = False,
                           sellers: bool = True) -> tuple[asyncpg.Record, int | None]:
        """(row, None for a full view or the seller id for a seller's view); NotFound when not visible."""
        row = await db.get_order(conn, checks.order_id(order_id), lock=lock)
        if row is not None:
            if row["customer_id"] == viewer.user_id or viewer.is_admin:
                return row, None
            if sellers and viewer.has_role("seller") and await db.seller_has_lines(conn, row["id"], viewer.user_id):
                return row, viewer.user_id
        raise NotFound("No such order.")

    async def get(self, viewer: "Identity", order_id: Any) -> Order:
        row, seller_id = await self._visible_row(self.pool, viewer, order_id)
        return await self._load(self.pool, row["id"], seller_id)

    async def watchable(self, viewer: "Identity", order_id: Any) -> Order:
        """The order when ``viewer`` may follow it live (its customer or an admin)."""
        row, _ = await self._visible_row(self.pool, viewer, order_id, sellers=False)
        return await self._load(self.pool, row["id"])

    async def list_orders(self, viewer: "Identity", *, view: str = "customer", status: str | None = None,
                          limit: int = 50, offset: int = 0) -> list[Order]:
        """Newest first, with lines (a seller's view: only their lines), without history."""
        if view not in VIEWS:
            raise ValidationFailed(f"as must be one of {', '.join(VIEWS)}.",
                                   errors={"as": f"One of {', '.join(VIEWS)}."})
        if status is not None and status not in STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}.",
                                   errors={"status": f"One of {', '.join(STATUSES)}."})
        if view == "seller" and not viewer.has_role("seller"):
            raise Forbidden("Only sellers have orders to fulfil.")
        if view == "admin" and not viewer.is_admin:
            raise Forbidden("Only admins see every order.")
        seller_id = viewer.user_id if view == "seller" else None
        rows = await db.list_orders(self.pool, customer_id=viewer.user_id if view == "customer" else None,
                                    seller_id=seller_id, status=status, limit=limit, offset=offset)
        lines = db.group(await db.lines_of(self.pool, [r["id"] for r in rows], seller_id))
        return [_order(r, lines.get(r["id"], []), seller_view=seller_id is not None) for r in rows]

    # ------------------------------------------------------------------ dashboards (read-only, UTC days of ordering)
    async def seller_sales(self, seller_id: int | None, days: int = 30) -> list[tuple[date, dict[str, int], int]]:
        """(day, {currency: revenue cents}, units) of ``seller_id``'s lines (None: every seller's) in orders
        paid or further along (not cancelled), for the days with sales among the last ``days``, oldest first."""
        out: dict[date, tuple[dict[str, int], list[int]]] = {}
        for r in await db.sales_by_day(self.pool, seller_id, _days(days), [PAID, *SELLER_STEPS]):
            revenue, units = out.setdefault(r["day"], ({}, [0]))
            revenue[r["currency"].strip()] = r["revenue"]
            units[0] += r["units"]
        return [(day, revenue, units[0]) for day, (revenue, units) in out.items()]

    async def status_counts_by_day(self, days: int = 30) -> list[tuple[date, dict[str, int]]]:
        """(day, {status: orders placed that day now in that status}) for the last ``days`` with orders, oldest first."""
        out: dict[date, dict[str, int]] = {}
        for r in await db.status_counts_by_day(self.pool, _days(days)):
            out.setdefault(r["day"], {})[r["status"]] = r["count"]
        return list(out.items())

    async def counts_by_status(self, seller_id: int | None = None) -> dict[str, int]:
        """{status: orders} for every status (0 included), all time; with ``seller_id`` only orders with their lines."""
        found = await db.counts_by_status(self.pool, seller_id)
        return {status: found.get(status, 0) for status in STATUSES}

    # ------------------------------------------------------------------ changes by people
    async def cancel(self, viewer: "Identity", order_id: Any) -> Order:
        """The customer (or an admin): pending_payment -> cancelled (stock released); paid -> cancelled
        (refund requested, stock put back). Conflict from any other status."""
        async with self.pool.acquire() as conn, conn.transaction():
            row, _ = await self._visible_row(conn, viewer, order_id, lock=True, sellers=False)
            owner = row["customer_id"] == viewer.user_id
            actor = f"customer:{viewer.user_id}" if owner else f"admin:{viewer.user_id}"
            reason = "Cancelled by the customer" if owner else "Cancelled by an admin"
            await self.transitions.move(conn, row, CANCELLED, actor, reason)
            if row["status"] == PAID:
                await self.transitions.refund(conn, row, reason)
                await self.transitions.stock(conn, row["id"], "restock")
            else:
                await self.transitions.stock(conn, row["id"], "release")
            return await self._load(conn, row["id"])

    async def advance(self, viewer: "Identity", order_id: Any, status: Any) -> Order:
        """A seller with lines in the order (or an admin): paid -> fulfilled -> shipped -> delivered."""
        if status not in SELLER_STEPS:
            message = f"status must be one of {', '.join(SELLER_STEPS)}."
            raise ValidationFailed(message, errors={"status": message})
        if not viewer.has_role("seller"):
            raise Forbidden("Only the order's sellers and admins change its delivery status.")
        async with self.pool.acquire() as conn, conn.transaction():
            row, seller_id = await self._visible_row(conn, viewer, order_id, lock=True)
            if not viewer.is_admin and not await db.seller_has_lines(conn, row["id"], viewer.user_id):
                raise Forbidden("Only the order's sellers and admins change its delivery status.")
            role = "admin" if viewer.is_admin else "seller"
            await self.transitions.move(conn, row, status, actor_of(viewer, role),
                                        f"Marked {LABELS[status].lower()} by the {role}")
            return await self._load(conn, row["id"], seller_id)

    # ------------------------------------------------------------------ the saga (inbox transactions)
    async def on_payment_completed(self, conn: asyncpg.Connection, evt: PaymentCompleted) -> None:
        row = await db.get_order(conn, str(evt.order_id), lock=True)
        if row is None:
            log.warning("payment %s names unknown order %s; ignored", evt.payment_id, evt.order_id)
            return
        await self._paid(conn, row, str(evt.payment_id), str(evt.transaction_id),
                         f"Payment approved ({evt.brand} ending {evt.last4})")

    async def on_payment_failed(self, conn: asyncpg.Connection, evt: PaymentFailed) -> None:
        row = await db.get_order(conn, str(evt.order_id), lock=True)
        if row is None:
            log.warning("failed payment %s names unknown order %s; ignored", evt.payment_id, evt.order_id)
            return
        await self._failed(conn, row, str(evt.payment_id), str(evt.reason)[:200])

    async def _paid(self, conn, row: asyncpg.Record, payment_id: str, transaction_id: str, reason: str) -> None:
        status = row["status"]
        if status in (EXPIRED, CANCELLED, FAILED):  # the money came too late: it goes back
            await self.transitions.refund(conn, row, f"Payment arrived after the order was {LABELS[status].lower()}")
            return
        if status != PENDING:
            log.info("order %s is already %s; repeated payment result ignored", row["id"], status)
            return
        todo = None
        try:
            await self.transitions.apply(row["id"], "commit")
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
        if payment is not None and payment.status == "approved":
            await self._paid(conn, row, str(payment.id), payment.transaction_id or "",
                             f"Payment approved ({payment.brand} ending {payment.last4})")
        elif payment is not None and payment.status == "declined":
            await self._failed(conn, row, str(payment.id), payment.failure_reason or "Card declined")
        else:
            await self.transitions.move(conn, row, EXPIRED, EXPIRY_ACTOR, "Not paid in time; the stock was released")
            await self.transitions.stock(conn, row["id"], "release")

    async def forget_idempotency_keys(self, days: int) -> int:
        """Drop Idempotency-Keys older than ``days`` (the orders stay). Returns how many."""
        return await db.delete_old_idempotency_keys(self.pool, days)

    async def retry_stock(self, limit: int = 100, older_than_seconds: float = 1.0) -> int:
        """Inventory calls that failed earlier, tried again. Returns how many were claimed."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await db.claim_stock_todo(conn, limit, older_than_seconds)
            for row in rows:
                try:
                    await self.transitions.apply(row["id"], row["stock_todo"])
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
        reason = "The stock hold ran out before the sale could be recorded; the payment is refunded"
        await self.transitions.move(conn, row, CANCELLED, "system:orders", reason)
        await self.transitions.refund(conn, row, reason)
