"""Issuing invoices and credit notes from orders' events, inside the inbox transaction of each event.

An order paid -> one invoice per seller of the order. A shipment refunded (or cancelled after payment) ->
a credit note of that shipment's lines and shipping, referencing its seller's invoice. A paid order
cancelled or refunded -> a credit note per invoice for whatever is not credited yet.

Why it is safe with N workers and redelivered events: the inbox row makes each event count once; a
per-order advisory lock applies the events of one order one at a time; the partial unique index
(order_id, seller_id) allows one invoice per seller of an order whatever event asks for it; a credit note
credits only shipments no earlier credit note of that invoice covered. Numbers come from a counter row
locked until commit (db.next_number), taken in a fixed order (invoices before credit notes, sellers by
id) so that two transactions never wait on each other in a cycle. The order and the people are read
from the other services *before* any lock is taken, so a lock is held only for our own inserts.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from ecom.errors import NotFound
from ecom.i18n import default_language

from . import compose, db
from .model import (CREDIT_NOTE, INVOICE, ORDER_CANCELLED, ORDER_REFUNDED, SERIES, SHIPMENT_CANCELLED,
                    SHIPMENT_REFUNDED, number)
from .profiles import Profiles

log = logging.getLogger("ecom.plugins.invoices")
PAID_LATER = ("paid", "fulfilled", "partially_shipped", "shipped", "partially_delivered", "delivered",
              "partially_refunded")


class Issuer:
    def __init__(self, orders: Any, users: Any, profiles: Profiles):
        self.orders, self.users, self.profiles = orders, users, profiles

    # ------------------------------------------------------------------ event handlers
    async def on_order_status(self, conn, evt: Any) -> None:
        if evt.status == "paid":
            await self.invoice_order(conn, evt.order_id)
        elif evt.status in ("cancelled", "refunded") and evt.previous in PAID_LATER:
            reason = ORDER_CANCELLED if evt.status == "cancelled" else ORDER_REFUNDED
            await self.invoice_order(conn, evt.order_id)  # a paid event not applied yet must not be lost
            await self.credit(conn, evt.order_id, None, reason)

    async def on_shipment_status(self, conn, evt: Any) -> None:
        if evt.status == "refunded":
            await self.invoice_order(conn, evt.order_id)
            await self.credit(conn, evt.order_id, [evt.shipment_no], SHIPMENT_REFUNDED, evt.seller_id)
        elif evt.status == "cancelled":  # only a paid one was invoiced; an unpaid order's has no invoice
            await self.credit(conn, evt.order_id, [evt.shipment_no], SHIPMENT_CANCELLED, evt.seller_id)

    # ------------------------------------------------------------------ issuing
    async def order(self, order_id: str) -> Any:
        """The whole order, from the orders service."""
        return await self.orders.record(order_id)

    async def _user(self, user_id: int | None) -> Any | None:
        if not user_id:
            return None
        try:
            return await self.users.get(user_id)
        except NotFound:  # a deleted account: the order's copies of the addresses are what is left
            return None

    async def invoice_order(self, conn, order_id: str) -> int:
        """Invoice every seller of a paid order who has no invoice for it yet; how many were issued."""
        order = await self.order(order_id)
        sellers = sorted({ln.seller_id for ln in order.lines})
        customer = await self._user(order.customer_id)
        buyer = compose.buyer_of(order, customer)
        locale = (customer.locale if customer is not None else None) or order.locale
        drafts = {s: compose.invoice_document(order, s, await self.profiles.details(s, conn), buyer)
                  for s in sellers}
        await db.lock_order(conn, order_id)
        done = {r["seller_id"] for r in await db.invoices_of_order(conn, order_id)}
        issued = 0
        for seller_id in sellers:
            if seller_id in done:
                continue
            await self._insert(conn, INVOICE, seller_id, order.customer_id, order_id, None,
                               compose.seller_shipments(order, seller_id), locale, "", drafts[seller_id])
            issued += 1
        return issued

    async def credit(self, conn, order_id: str, shipments: list[int] | None, reason: str,
                     seller_id: int | None = None) -> int:
        """Credit notes for ``shipments`` (None: all) of the order's invoices; how many were issued."""
        await db.lock_order(conn, order_id)
        issued = 0
        for inv in await db.invoices_of_order(conn, order_id):
            if seller_id is not None and inv["seller_id"] != seller_id:
                continue
            wanted = set(inv["shipments"]) if shipments is None else set(shipments) & set(inv["shipments"])
            wanted -= await db.credited_shipments(conn, inv["id"])
            if not wanted:
                continue
            invoice = compose.document_of(inv)
            doc = compose.credit_document(invoice, inv["number"], inv["issued_at"].isoformat(), sorted(wanted),
                                          reason)
            if not doc["lines"]:
                continue
            await self._insert(conn, CREDIT_NOTE, inv["seller_id"], inv["customer_id"], order_id, inv["id"],
                               sorted(wanted), inv["locale"], reason, doc)
            issued += 1
        return issued

    async def _insert(self, conn, kind: str, seller_id: int, customer_id: int | None, order_id: str,
                      invoice_id: int | None, shipments: list[int], locale: str | None, reason: str,
                      doc: dict) -> None:
        issued_at = datetime.now(timezone.utc)
        year = issued_at.astimezone(default_language().zone).year  # the shop's calendar year
        series = SERIES[kind]
        seq = await db.next_number(conn, seller_id, series, year)
        doc = {**doc, "number": number(series, seller_id, year, seq), "issued_at": issued_at.isoformat()}
        await db.insert(conn, kind=kind, number=doc["number"], series=series, year=year, seq=seq,
                        seller_id=seller_id, customer_id=customer_id, order_id=order_id, invoice_id=invoice_id,
                        shipments=shipments, currency=doc["currency"], net=doc["net_cents"], tax=doc["tax_cents"],
                        total=doc["total_cents"], locale=locale, reason=reason, document=doc, issued_at=issued_at)
        log.info("%s %s issued for order %s", kind, doc["number"], order_id)
