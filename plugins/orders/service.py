"""Orders: checkout, reading with marketplace visibility, cancelling, the sellers' steps, and the saga's
reactions to payments and to time. No aiohttp here.

Who sees an order: its customer and admins (all of it), a seller with lines in it (only those lines, and
no payment details); anyone else gets NotFound, exactly as for an order that does not exist. A payment
result moves an order only once the payments service confirms it (trust.py).
"""
from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

import asyncpg

from ecom.errors import Forbidden, NotFound, ValidationFailed
from ecom.i18n import _
from plugins.payments.events import PaymentCompleted, PaymentFailed

from . import checks, db, order_view, reasons
from .cart import CartService
from .checkout import Checkout, fingerprint
from .guest import Guests
from .quote import Quoter
from .saga import Saga
from .shipments import Shipments
from .checks import CheckoutRequest
from .config import OrdersConfig
from .models import (CANCELLED, DELIVERED, IN_FULFILMENT, LABELS, PAID, STATUSES, HistoryEntry, Order,
                     OrderLine)
from .transitions import Transitions

if TYPE_CHECKING:
    from ecom.gateway.auth import Identity

log = logging.getLogger("ecom.plugins.orders")
VIEWS = ("customer", "seller", "admin")


def _order(row: asyncpg.Record, lines: list[asyncpg.Record], history: list[asyncpg.Record] = (),
           seller_view: bool = False) -> Order:
    out = [OrderLine(r["product_id"], r["seller_id"], r["name"], r["unit_price_cents"], r["quantity"],
                     r["line_total_cents"]) for r in lines]
    total = sum(line.line_total_cents for line in out) if seller_view else row["total_cents"]
    # a seller's view carries no payment details at all: no template or API shape can show them then
    brand, last4 = (None, None) if seller_view else (row["card_brand"], row["card_last4"])
    return Order(row["id"], row["customer_id"], row["status"], row["region"], total, row["currency"].strip(),
                 brand, last4, row["failure_reason"], row["expires_at"], row["created_at"],
                 row["updated_at"], tuple(out),
                 tuple(HistoryEntry(h["status"], h["previous"], h["actor"], h["reason"], h["at"]) for h in history),
                 seller_view)


def _days(days: Any) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
        raise ValidationFailed(_("days must be a whole number from 1 to 366."), errors={"days": _("From 1 to 366.")})
    return days


def actor_of(viewer: "Identity", role: str) -> str:
    return f"admin:{viewer.user_id}" if viewer.is_admin and role != "customer" else f"{role}:{viewer.user_id}"


class OrdersService:
    def __init__(self, pool: asyncpg.Pool, config: OrdersConfig, *, products: Any, inventory: Any, payments: Any,
                 events: Any, secret: bytes, addresses: Any, shipping: Any, taxes: Any, vouchers: Any, users: Any,
                 guest_secret: bytes):
        self.pool, self.config, self.payments, self.secret = pool, config, payments, secret
        self.regions = tuple(inventory.regions)
        # a failed, expired or cancelled order gives its voucher's use back (Transitions.move)
        self.transitions = Transitions(events, inventory, vouchers)
        self.carts = CartService(pool, config, products, inventory)
        self.quoter = Quoter(products, inventory, addresses=addresses, shipping=shipping, taxes=taxes,
                             vouchers=vouchers, max_lines=config.max_lines)
        self.guests = Guests(pool, guest_secret, users)
        self._checkout = Checkout(pool, config, inventory, payments, vouchers, self.carts, self.transitions,
                                  self.quoter)
        self.saga = Saga(pool, payments, self.transitions)
        self.shipments = Shipments(pool, self.transitions)

    # ------------------------------------------------------------------ checkout
    def parse_checkout(self, body: dict[str, Any]) -> CheckoutRequest:
        return checks.checkout(body, self.regions, self.config.max_lines)

    def request_hash(self, body: dict[str, Any]) -> str:
        return fingerprint(self.secret, body)

    async def checkout(self, customer_id: int | None, request: CheckoutRequest, *, key: str | None = None,
                       request_hash: str = "", email: str | None = None,
                       guest_cart: tuple[tuple[int, int], ...] = ()) -> tuple[Order, bool]:
        """(the order, whether it was created now rather than by an earlier request with ``key``).
        ``customer_id`` None: a guest's checkout (``request.email``, the session's ``guest_cart``)."""
        placed = await self._checkout.place(customer_id, request, key=key, request_hash=request_hash, email=email,
                                            guest_cart=guest_cart)
        return await self._load(self.pool, placed.order_id), placed.created

    # ------------------------------------------------------------------ reading
    async def _load(self, conn, order_id: str, seller_id: int | None = None) -> Order:
        return await order_view.load(conn, order_id, seller_id)

    async def _visible_row(self, conn, viewer: "Identity", order_id: Any, *, lock: bool = False,
                           sellers: bool = True) -> tuple[asyncpg.Record, int | None]:
        """(row, None for a full view or the seller id for a seller's view); NotFound when not visible."""
        row = await db.get_order(conn, checks.order_id(order_id), lock=lock)
        if row is not None:
            if row["customer_id"] == viewer.user_id or viewer.is_admin:
                return row, None
            if sellers and viewer.has_role("seller") and await db.seller_has_lines(conn, row["id"], viewer.user_id):
                return row, viewer.user_id
        raise NotFound(_("No such order."))

    async def get(self, viewer: "Identity", order_id: Any) -> Order:
        row, seller_id = await self._visible_row(self.pool, viewer, order_id)
        return await self._load(self.pool, row["id"], seller_id)

    async def for_guest(self, order_id: Any, key: Any) -> Order:
        """The order a guest's signed link names (NotFound for a wrong key, exactly as for no order)."""
        order_id = checks.order_id(order_id)
        self.guests.check(order_id, key)
        if await db.get_order(self.pool, order_id) is None:
            raise NotFound(_("No such order."))
        return await self._load(self.pool, order_id)

    async def record(self, order_id: Any) -> Order:
        """The whole order (every line and shipment with history, email, ship_to, bill_to, totals, locale)
        with no viewer check: for trusted in-process callers (notifications, invoices) only, never for
        a request's caller. NotFound when there is no such order."""
        order_id = checks.order_id(order_id)
        found = await order_view.load_many(self.pool, [order_id], with_history=True)
        if not found:
            raise NotFound(_("No such order."))
        return found[0]

    async def watchable(self, viewer: "Identity", order_id: Any) -> Order:
        """The order when ``viewer`` may follow it live (its customer or an admin)."""
        row, _seller = await self._visible_row(self.pool, viewer, order_id, sellers=False)
        return await self._load(self.pool, row["id"])

    async def list_orders(self, viewer: "Identity", *, view: str = "customer", status: str | None = None,
                          limit: int = 50, offset: int = 0) -> list[Order]:
        """Newest first, with lines (a seller's view: only their lines), without history."""
        if view not in VIEWS:
            raise ValidationFailed(_("as must be one of {values}.").format(values=", ".join(VIEWS)),
                                   errors={"as": _("One of {values}.").format(values=", ".join(VIEWS))})
        if status is not None and status not in STATUSES:
            raise ValidationFailed(_("status must be one of {values}.").format(values=", ".join(STATUSES)),
                                   errors={"status": _("One of {values}.").format(values=", ".join(STATUSES))})
        if view == "seller" and not viewer.has_role("seller"):
            raise Forbidden(_("Only sellers have orders to fulfil."))
        if view == "admin" and not viewer.is_admin:
            raise Forbidden(_("Only admins see every order."))
        seller_id = viewer.user_id if view == "seller" else None
        rows = await db.list_orders(self.pool, customer_id=viewer.user_id if view == "customer" else None,
                                    seller_id=seller_id, status=status, limit=limit, offset=offset)
        return await order_view.load_many(self.pool, [r["id"] for r in rows], seller_id)

    # ------------------------------------------------------------------ dashboards (read-only, days of ordering)
    async def seller_sales(self, seller_id: int | None, days: int = 30, *,
                           time_zone: str = "UTC") -> list[tuple[date, dict[str, int], int]]:
        """(day, {currency: revenue cents}, units) of ``seller_id``'s lines (None: every seller's) in orders
        paid or further along (not cancelled), for the days with sales among the last ``days``, oldest first.
        Days are days in ``time_zone`` (the reader's)."""
        out: dict[date, tuple[dict[str, int], list[int]]] = {}
        for r in await db.sales_by_day(self.pool, seller_id, _days(days), [*IN_FULFILMENT, DELIVERED], time_zone):
            revenue, units = out.setdefault(r["day"], ({}, [0]))
            revenue[r["currency"].strip()] = r["revenue"]
            units[0] += r["units"]
        return [(day, revenue, units[0]) for day, (revenue, units) in out.items()]

    async def status_counts_by_day(self, days: int = 30, *, time_zone: str = "UTC") -> list[tuple[date, dict[str, int]]]:
        """(day, {status: orders placed that day now in that status}) for the last ``days`` with orders, oldest
        first; days in ``time_zone``."""
        out: dict[date, dict[str, int]] = {}
        for r in await db.status_counts_by_day(self.pool, _days(days), time_zone):
            out.setdefault(r["day"], {})[r["status"]] = r["count"]
        return list(out.items())

    async def counts_by_status(self, seller_id: int | None = None) -> dict[str, int]:
        """{status: orders} for every status (0 included), all time; with ``seller_id`` only orders with their lines."""
        found = await db.counts_by_status(self.pool, seller_id)
        return {status: found.get(status, 0) for status in STATUSES}

    async def shipments_to_send(self, viewer: "Identity", limit: int = 5) -> tuple[list[Order], int]:
        """(the newest orders with the viewer's shipments still to send, how many such shipments): a
        seller's own in their view (ship-to, no payment data); an admin's: every seller's."""
        if not viewer.has_role("seller"):
            raise Forbidden(_("Only sellers have shipments to send."))
        return await self.shipments.to_send(viewer, limit)

    # ------------------------------------------------------------------ changes by people
    async def cancel(self, viewer: "Identity", order_id: Any) -> Order:
        """The customer (or an admin): pending_payment -> cancelled (stock released); paid -> cancelled
        (refund requested, stock put back). Conflict from any other status."""
        async with self.pool.acquire() as conn, conn.transaction():
            row, _seller = await self._visible_row(conn, viewer, order_id, lock=True, sellers=False)
            owner = row["customer_id"] == viewer.user_id
            actor = f"customer:{viewer.user_id}" if owner else f"admin:{viewer.user_id}"
            reason = reasons.CANCELLED_BY["customer" if owner else "admin"]
            await self.transitions.move(conn, row, CANCELLED, actor, reason)
            if row["status"] == PAID:
                await self.transitions.refund(conn, row, reason)
                await self.transitions.stock(conn, row["id"], "restock")
            else:
                await self.transitions.stock(conn, row["id"], "release")
            return await self._load(conn, row["id"])

    async def advance(self, viewer: "Identity", order_id: Any, status: Any) -> Order:
        """A seller's own shipments (an admin: every one) one step on: fulfilled, shipped, delivered; the
        order's status follows its shipments (shipments.py)."""
        return await self.shipments.move_all(viewer, order_id, status)

    async def move_shipment(self, viewer: "Identity", order_id: Any, shipment_no: Any, status: Any, *,
                            carrier: Any = None, tracking_number: Any = None) -> Order:
        """One shipment one step on, by its seller or an admin (shipped needs carrier and tracking number)."""
        return await self.shipments.move(viewer, order_id, shipment_no, status, carrier=carrier,
                                         tracking_number=tracking_number)

    async def refund_shipment(self, viewer: "Identity", order_id: Any, shipment_no: Any, *, note: Any = None) -> Order:
        """Cancel and refund one shipment of a paid order (its seller, an admin, or the customer while pending)."""
        return await self.shipments.refund(viewer, order_id, shipment_no, note)

    # ------------------------------------------------------------------ the saga (saga.py); names kept: they key the inbox
    async def on_payment_completed(self, conn: asyncpg.Connection, evt: PaymentCompleted) -> None:
        await self.saga.completed(conn, evt)

    async def on_payment_failed(self, conn: asyncpg.Connection, evt: PaymentFailed) -> None:
        await self.saga.failed(conn, evt)

    async def expire_due(self, limit: int = 100) -> int:
        return await self.saga.expire_due(limit)

    async def retry_stock(self, limit: int = 100, older_than_seconds: float = 1.0) -> int:
        return await self.saga.retry_stock(limit, older_than_seconds)

    async def forget_idempotency_keys(self, days: int) -> int:
        """Drop Idempotency-Keys older than ``days`` (the orders stay). Returns how many."""
        return await db.delete_old_idempotency_keys(self.pool, days)
