"""Shipments (issue 10): each seller's parcel of a paid order moves on its own, pending -> fulfilled ->
shipped (carrier and tracking number required) -> delivered, moved only by its seller or an admin; it may
be refunded alone (its lines, shipping and tax; its stock put back). The order's status is derived from
its shipments (``derived``), so one seller's step never moves another seller's lines. No aiohttp here.

Who may do what: a customer (no seller role) moving a shipment gets Forbidden (403); a seller who does
not own the shipment gets NotFound (404), as for a shipment that does not exist; the order's customer
may cancel a shipment that is still pending (nothing packed yet). Orders without shipment rows get
their legacy shipments written first (shipment_db.ensure).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import asyncpg

from ecom.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ecom.i18n import N_, _
from ecom.text import storable

from . import checks, db, order_view, reasons, shipment_db
from .models import (DELIVERED, FULFILLED, IN_FULFILMENT, INACTIVE, LABELS, PAID, PARTIALLY_DELIVERED,
                     PARTIALLY_REFUNDED, PARTIALLY_SHIPPED, REFUNDED, CANCELLED, S_PENDING, S_REFUNDED,
                     SELLER_STEPS, SHIPMENT_LABELS, SHIPMENT_NEXT, SHIPPED, Order, settled)
from .refunds import refund_amount, request_refund
from .transitions import Transitions, cannot_become

if TYPE_CHECKING:
    from ecom.gateway.auth import Identity

MAX_TRACKING = 100
ONLY_SELLERS = N_("Only the shipment's seller and admins change its delivery status.")
TRACKING_FIELDS = {"carrier": (N_("Give the carrier to mark a shipment shipped."),
                               N_("The carrier is at most {n} printable characters.")),
                   "tracking_number": (N_("Give the tracking number to mark a shipment shipped."),
                                       N_("The tracking number is at most {n} printable characters."))}


def derived(statuses: Iterable[str]) -> str:
    """The order's status from its shipments' statuses: paid -> fulfilled (packing began) ->
    partially_shipped -> shipped -> partially_delivered -> delivered; partially_refunded while some are
    refunded and others not; refunded (cancelled) when none is left active."""
    statuses = list(statuses)
    active = [s for s in statuses if s not in INACTIVE]
    if not active:
        return REFUNDED if S_REFUNDED in statuses else CANCELLED
    if S_REFUNDED in statuses:
        return PARTIALLY_REFUNDED
    if all(s == DELIVERED for s in active):
        return DELIVERED
    if DELIVERED in active:
        return PARTIALLY_DELIVERED
    if all(s in (SHIPPED, DELIVERED) for s in active):
        return SHIPPED
    if SHIPPED in active:
        return PARTIALLY_SHIPPED
    return FULFILLED if FULFILLED in active else PAID


def tracking(carrier: Any, number: Any) -> tuple[str, str]:
    """(carrier, tracking number), both required to ship; ValidationFailed naming each missing field."""
    errors, out = {}, []
    for field, value in (("carrier", carrier), ("tracking_number", number)):
        text = value.strip() if isinstance(value, str) else ""
        missing, too_long = TRACKING_FIELDS[field]
        if not text:
            errors[field] = _(missing)
        elif len(text) > MAX_TRACKING or not storable(text):
            errors[field] = _(too_long).format(n=MAX_TRACKING)
        out.append(text)
    if errors:
        raise ValidationFailed(_("Check the shipment: {problems}").format(problems=" ".join(errors.values())),
                               errors=errors)
    return out[0], out[1]


def shipment_no(value: Any) -> int:
    if isinstance(value, str) and value.isdigit() and len(value) <= 6:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 999:
        raise NotFound(_("No such shipment."))
    return value


class Shipments:
    def __init__(self, pool: asyncpg.Pool, transitions: Transitions):
        self.pool, self.transitions = pool, transitions

    async def _locked(self, conn, viewer: "Identity", order_id: Any, no: Any, *, customer_may: bool = False
                      ) -> tuple[asyncpg.Record, asyncpg.Record, str]:
        """(order row, shipment row, role: admin | seller | customer), both locked; NotFound when the viewer
        may not see the shipment, Forbidden for a customer who may not act on it."""
        row = await db.get_order(conn, checks.order_id(order_id), lock=True)
        if row is None:
            raise NotFound(_("No such order."))
        owner = row["customer_id"] is not None and row["customer_id"] == viewer.user_id
        if not (viewer.is_admin or viewer.has_role("seller") or (customer_may and owner)):
            raise Forbidden(_(ONLY_SELLERS))
        await shipment_db.ensure(conn, row)
        found = await shipment_db.get_shipment(conn, row["id"], shipment_no(no), lock=True)
        if viewer.is_admin:
            role = "admin"
        elif found is not None and viewer.has_role("seller") and found["seller_id"] == viewer.user_id:
            role = "seller"
        elif owner and customer_may:
            role = "customer"
        elif owner:
            raise Forbidden(_(ONLY_SELLERS))
        else:
            raise NotFound(_("No such shipment."))
        if found is None:
            raise NotFound(_("No such shipment."))
        return row, found, role

    async def move(self, viewer: "Identity", order_id: Any, no: Any, status: Any, *, carrier: Any = None,
                   tracking_number: Any = None) -> Order:
        """One shipment one step on (fulfilled, shipped with carrier + tracking number, delivered)."""
        if status not in SELLER_STEPS:
            message = _("status must be one of {values}.").format(values=", ".join(SELLER_STEPS))
            raise ValidationFailed(message, errors={"status": message})
        track = tracking(carrier, tracking_number) if status == SHIPPED else (None, None)
        async with self.pool.acquire() as conn, conn.transaction():
            row, ship, role = await self._locked(conn, viewer, order_id, no)
            self._check_paid(row, status)
            self._check_step(ship, status)
            actor = f"{role}:{viewer.user_id}"
            reason = reasons.MARKED[status, role]
            await self._step(conn, ship, status, actor, reason, track)
            await self._derive(conn, row, actor, f"{reason} (shipment {ship['shipment_no']})")  # reasons.show
            return await order_view.load(conn, row["id"], viewer.user_id if role == "seller" else None)

    async def move_all(self, viewer: "Identity", order_id: Any, status: Any) -> Order:
        """The whole-order step (POST /api/v1/orders/{id}/status, kept for old clients): a seller moves
        their own shipments, an admin every one; tracking is optional there."""
        if status not in SELLER_STEPS:
            message = _("status must be one of {values}.").format(values=", ".join(SELLER_STEPS))
            raise ValidationFailed(message, errors={"status": message})
        if not viewer.has_role("seller"):
            raise Forbidden(_("Only the order's sellers and admins change its delivery status."))
        async with self.pool.acquire() as conn, conn.transaction():
            row = await db.get_order(conn, checks.order_id(order_id), lock=True)
            if row is None:
                raise NotFound(_("No such order."))
            await shipment_db.ensure(conn, row)
            seller = None if viewer.is_admin else viewer.user_id
            ships = [s for s in await shipment_db.shipments_of(conn, [row["id"]], seller)
                     if s["status"] not in INACTIVE and s["status"] != status]
            if seller is not None and not await shipment_db.shipments_of(conn, [row["id"]], seller):
                raise NotFound(_("No such order."))
            self._check_paid(row, status)
            if not ships:
                raise Conflict(cannot_become(row["id"], row["status"], status),
                               errors={"status": _("Nothing to move.")})
            for ship in ships:
                self._check_step(ship, status)
            role = "admin" if viewer.is_admin else "seller"
            actor, reason = f"{role}:{viewer.user_id}", reasons.MARKED[status, role]
            for ship in ships:
                await self._step(conn, ship, status, actor, reason, (None, None))
            await self._derive(conn, row, actor, reason)
            return await order_view.load(conn, row["id"], seller)

    async def refund(self, viewer: "Identity", order_id: Any, no: Any, note: Any = None) -> Order:
        """Cancel one shipment of a paid order and give its money back: RefundRequested for its lines,
        shipping and tax (refund_ref "shipment-<n>"), its reservation restocked. Its seller or an admin
        at any step; the order's customer while it is still pending."""
        async with self.pool.acquire() as conn, conn.transaction():
            row, ship, role = await self._locked(conn, viewer, order_id, no, customer_may=True)
            n = ship["shipment_no"]
            if row["status"] not in IN_FULFILMENT:
                raise Conflict(_("Order {id} is {status}: only a paid order's shipments are refunded one by "
                                 "one.").format(id=row["id"], status=_(LABELS.get(row["status"], row["status"])).lower()),
                               errors={"status": _("Not paid.")})
            if ship["status"] in INACTIVE:
                raise Conflict(_("Shipment {n} is {status} already.").format(
                    n=n, status=_(SHIPMENT_LABELS[ship["status"]]).lower()),
                               errors={"status": _("Already refunded or cancelled.")})
            if role == "customer" and ship["status"] != S_PENDING:
                raise Forbidden(_("Shipment {n} is on its way: ask its seller for a refund.").format(n=n))
            if await shipment_db.shares_reservation(conn, row["id"], n, ship["reservation_ref"]):
                raise Conflict(_("Order {id} was placed before per-seller stock holds: its shipments cannot be "
                                 "refunded one by one. Cancel the whole order instead.").format(id=row["id"]),
                               errors={"shipment": _("Shares its stock hold with another shipment.")})
            full = await shipment_db.full_orders(conn, [row["id"]])
            amount = refund_amount(full[0], ship, await shipment_db.lines_money(conn, row["id"], n))
            actor = f"{role}:{viewer.user_id}"
            reason = reasons.REFUNDED_BY[role].format(n=n) + (f": {note.strip()[:200]}" if isinstance(note, str)
                                                              and note.strip() and storable(note) else "")
            await shipment_db.set_refunded(conn, row["id"], n, amount)
            entry = await shipment_db.insert_history(conn, row["id"], n, S_REFUNDED, ship["status"], actor, reason)
            await self.transitions.shipment_changed(conn, row["id"], ship, S_REFUNDED, ship["status"], actor,
                                                    entry["at"])
            await request_refund(self.transitions.events, conn, row, amount, f"shipment-{n}", reason)
            try:
                await self.transitions.apply(ship["reservation_ref"], "restock")
            except Exception:  # noqa: BLE001 - inventory away: the sweep retries it
                await shipment_db.set_stock_todo(conn, row["id"], n, "restock")
            await self._derive(conn, row, actor, reason)
            return await order_view.load(conn, row["id"], viewer.user_id if role == "seller" else None)

    # ------------------------------------------------------------------ reading
    async def settled(self, order_id: str) -> bool:
        """Whether nothing more will happen to the order (models.settled); True for no such order."""
        row = await db.get_order(self.pool, order_id)
        if row is None:
            return True
        found = await shipment_db.shipments_of(self.pool, [order_id])
        return settled(row["status"], [s["status"] for s in found])

    async def to_send(self, viewer: "Identity", limit: int) -> tuple[list[Order], int]:
        """(the newest ``limit`` orders with shipments still to send — pending or fulfilled — of a paid
        order, how many such shipments there are). A seller: theirs, in their view (their lines,
        shipments and the ship-to; no payment details); an admin: every seller's."""
        seller_id = None if viewer.is_admin else viewer.user_id
        ids, count = await shipment_db.orders_to_send(self.pool, seller_id, sorted(IN_FULFILMENT), limit)
        return await order_view.load_many(self.pool, ids, seller_id), count

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _check_paid(row: asyncpg.Record, status: str) -> None:
        if row["status"] not in IN_FULFILMENT:
            raise Conflict(cannot_become(row["id"], row["status"], status),
                           errors={"status": _("Not allowed from {status}.").format(status=row["status"])})

    @staticmethod
    def _check_step(ship: asyncpg.Record, status: str) -> None:
        if SHIPMENT_NEXT.get(ship["status"]) != status:
            current = _(SHIPMENT_LABELS.get(ship["status"], ship["status"])).lower()
            raise Conflict(_("Shipment {n} is {status}: it cannot become {new}.").format(
                n=ship["shipment_no"], status=current, new=_(LABELS[status]).lower()),
                           errors={"status": _("Not allowed from {status}.").format(status=ship["status"])})

    async def _step(self, conn, ship: asyncpg.Record, status: str, actor: str, reason: str,
                    track: tuple[str | None, str | None]) -> None:
        """The shipment's status, a history row and its ShipmentStatusChanged, in the caller's transaction."""
        await shipment_db.set_status(conn, ship["order_id"], ship["shipment_no"], status, carrier=track[0],
                                     tracking_number=track[1])
        entry = await shipment_db.insert_history(conn, ship["order_id"], ship["shipment_no"], status,
                                                 ship["status"], actor, reason)
        await self.transitions.shipment_changed(conn, ship["order_id"], ship, status, ship["status"], actor,
                                                entry["at"], carrier=track[0], tracking_number=track[1])

    async def _derive(self, conn, row: asyncpg.Record, actor: str, reason: str) -> None:
        statuses = [s["status"] for s in await shipment_db.shipments_of(conn, [row["id"]])]
        await self.transitions.derive(conn, row, derived(statuses), actor, reason)
