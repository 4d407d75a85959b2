"""Moving an order through the state machine (models.TRANSITIONS), inside the caller's transaction:
the status, a history row and an OrderStatusChanged in the outbox, together or not at all.

Stock follows the status: the inventory call (commit, release, restock; each idempotent per reservation)
is made at once for each of the order's reservations (one per shipment, ``reservation_ref``; the order id
for orders placed before shipments); when inventory cannot be reached the call is written on the order
(``stock_todo``) in the same transaction and the sweep (worker.py) retries it, so a passing outage loses
nothing. Once paid, the order's status is derived from its shipments (``derive``), not from the table.
"""
from __future__ import annotations

import logging
from typing import Any

import asyncpg

from ecom.errors import Conflict, NotFound
from ecom.i18n import _
from plugins.payments.events import RefundRequested

from . import db, event_facts, shipment_db
from .events import OrderStatusChanged, ShipmentStatusChanged
from .models import CANCELLED, EXPIRED, FAILED, LABELS, S_CANCELLED, allowed

log = logging.getLogger("ecom.plugins.orders")

PAYMENTS_ACTOR, EXPIRY_ACTOR = "system:payments", "system:expiry"
INVENTORY_ACTOR = "system:orders"


def cannot_become(order_id: str, current: str, new: str) -> str:
    """ "Order ord_... is paid: it cannot become shipped." in the reader's language."""
    return _("Order {id} is {status}: it cannot become {new}.").format(
        id=order_id, status=_(LABELS.get(current, current)).lower(), new=_(LABELS.get(new, new)).lower())


class StockLapsed(Exception):
    """The reservation was released (or never made) when the order wanted to commit it."""


class Transitions:
    def __init__(self, events: Any, inventory: Any, vouchers: Any = None):
        self.events, self.inventory, self.vouchers = events, inventory, vouchers

    async def move(self, conn: asyncpg.Connection, row: asyncpg.Record, new: str, actor: str, reason: str,
                   **extra: Any) -> None:
        """``row`` (locked FOR UPDATE by the caller) -> ``new``; Conflict (409) when the table forbids it."""
        current = row["status"]
        if not allowed(current, new):
            raise Conflict(cannot_become(row["id"], current, new),
                           errors={"status": _("Not allowed from {status}.").format(status=current)})
        facts = await self._set(conn, row, new, actor, reason, **extra)
        if new in (CANCELLED, EXPIRED, FAILED):
            for ship in await shipment_db.set_all(conn, row["id"], S_CANCELLED):
                await self.shipment_changed(conn, row["id"], ship, S_CANCELLED, ship["previous"], actor,
                                            ship["at"], facts=facts)
            await self.release_voucher(row["id"])

    async def shipment_changed(self, conn: asyncpg.Connection, order_id: str, ship: Any, status: str,
                               previous: str | None, actor: str, at: Any, *, carrier: str | None = None,
                               tracking_number: str | None = None, facts: event_facts.Facts | None = None) -> None:
        """A ShipmentStatusChanged in the outbox, in the transaction of the change. ``ship``: the shipment's
        row (shipment_no, seller_id, carrier, tracking_number); ``carrier``/``tracking_number`` override
        its values when they were set by this change. ``facts``: the order's buyer and lines when the
        caller has them already (a whole-order cancel: one read for all its shipments), else read here."""
        facts = facts or await event_facts.of_order(conn, order_id)
        await self.events.emit(conn, ShipmentStatusChanged(
            order_id, ship["shipment_no"], ship["seller_id"], status, previous, carrier or ship["carrier"],
            tracking_number or ship["tracking_number"], at.isoformat(), actor, facts.customer_id,
            facts.of_shipment(ship["shipment_no"])))

    async def release_voucher(self, order_id: str) -> None:
        """Give the order's voucher use back (it failed, expired or was cancelled before shipping). The
        call is idempotent and cheap for an order without a voucher; a failure is logged, never blocks."""
        if self.vouchers is None:
            return
        try:
            await self.vouchers.release(order_id)
        except Exception as err:  # noqa: BLE001 - the use stays taken; an admin can see it on the voucher
            log.warning("order %s: giving the voucher use back failed (%s)", order_id, type(err).__name__)

    async def derive(self, conn: asyncpg.Connection, row: asyncpg.Record, new: str, actor: str, reason: str) -> None:
        """``row`` (locked) -> ``new``, the status its shipments now make (shipments.derived); nothing when
        it is that already."""
        if new != row["status"]:
            await self._set(conn, row, new, actor, reason)

    async def _set(self, conn, row: asyncpg.Record, new: str, actor: str, reason: str,
                   **extra: Any) -> event_facts.Facts:
        current = row["status"]
        await db.set_status(conn, row["id"], new, **extra)
        at, facts = await event_facts.insert_history(conn, row["id"], new, current, actor, reason)
        await self.events.emit(conn, OrderStatusChanged(row["id"], new, current, reason, at.isoformat(), actor,
                                                        facts.customer_id, facts.lines))
        log.info("order %s: %s -> %s by %s", row["id"], current, new, actor)
        return facts

    async def placed(self, conn: asyncpg.Connection, order_id: str, actor: str, reason: str) -> None:
        """The first history row (and event) of a new order."""
        at, facts = await event_facts.insert_history(conn, order_id, "pending_payment", None, actor, reason)
        await self.events.emit(conn, OrderStatusChanged(order_id, "pending_payment", None, reason,
                                                        at.isoformat(), actor, facts.customer_id, facts.lines))

    async def refund(self, conn: asyncpg.Connection, row: asyncpg.Record, reason: str) -> None:
        """Ask payments for the order's money back (once per order; payments refunds once anyway)."""
        if row["refund_requested_at"] is not None:
            return
        await db.mark_refund_requested(conn, row["id"])
        await self.events.emit(conn, RefundRequested(row["id"], row["total_cents"], row["currency"].strip(), reason))
        log.info("order %s: refund requested (%s)", row["id"], reason)

    async def stock(self, conn: asyncpg.Connection, order_id: str, action: str) -> None:
        """``action`` (release or restock) on every reservation of the order now, or as a todo for the
        sweep when inventory is away."""
        try:
            await self.apply_all(conn, order_id, action)
        except Exception as err:  # noqa: BLE001 - inventory unreachable: the sweep retries
            log.warning("order %s: stock %s failed (%s: %s); will retry", order_id, action, type(err).__name__, err)
            await db.set_stock_todo(conn, order_id, action)

    async def apply_all(self, conn: asyncpg.Connection, order_id: str, action: str) -> None:
        """``action`` on each of the order's reservations. A commit that lapses on one puts back the ones
        it committed (the order is then expired and refunded) and raises StockLapsed."""
        refs = await shipment_db.reservation_refs(conn, order_id)
        done: list[str] = []
        for ref in refs:
            try:
                await self.apply(ref, action)
            except StockLapsed:
                for committed in done:
                    await self.apply(committed, "restock")
                raise
            done.append(ref)

    async def apply(self, order_id: str, action: str) -> None:
        """One idempotent inventory call on the reservation ``order_id`` (an order id or "<order>/<n>").
        ``commit`` raises StockLapsed when the hold is gone; release and restock each fall back to the
        other when the reservation is in the other state."""
        inv = self.inventory
        try:
            if action == "commit":
                await inv.commit(order_id, actor=INVENTORY_ACTOR)
            elif action == "release":
                try:
                    await inv.release(order_id, "order released its stock", actor=INVENTORY_ACTOR)
                except Conflict:  # already sold: put the units back instead
                    await inv.restock(order_id, "order cancelled after payment", actor=INVENTORY_ACTOR)
            elif action == "restock":
                try:
                    await inv.restock(order_id, "order cancelled after payment", actor=INVENTORY_ACTOR)
                except Conflict:  # still held (its commit never happened): just let it go
                    await inv.release(order_id, "order cancelled", actor=INVENTORY_ACTOR)
            else:
                raise ValueError(f"unknown stock action {action!r}")
        except (Conflict, NotFound) as err:
            if action == "commit":
                raise StockLapsed(str(err)) from None
            if isinstance(err, NotFound):
                log.warning("order %s: no reservation to %s", order_id, action)
                return
            raise
