"""Which domain event writes which mail to whom (each handler runs in the notifications inbox transaction).

Users' events carry the person (address, name, language, time zone). Orders' events carry only ids, so
the order comes from ``ORDERS.record`` and its customer from ``USERS.get`` (a guest: the order's email
and the language it was placed in). Sellers are looked up with ``USERS.get`` too.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ecom.errors import NotFound

from .service import NotificationsService, Person

ORDER_KINDS = {"paid": "order_paid", "payment_failed": "payment_failed"}
SHIPMENT_KINDS = {"shipped": "shipment_shipped", "delivered": "shipment_delivered"}


def when(text: str | None) -> datetime:
    try:
        value = datetime.fromisoformat(text) if text else None
    except ValueError:
        value = None
    return value or datetime.now(timezone.utc)


def person(user: Any) -> Person:
    return Person(user.id, user.email, user.name, user.locale, user.time_zone)


class Handlers:
    def __init__(self, service: NotificationsService, users: Any, orders: Any = None, products: Any = None):
        self.service, self.users, self.orders, self.products = service, users, orders, products
        self.link = service.composer.link

    # --- account (users' events carry everything) ---
    async def verification(self, conn, evt) -> None:
        to = Person(evt.user_id, evt.email, evt.name, evt.locale, evt.time_zone)
        await self.service.queue(conn, "email_verification", to, url=self.link(evt.url), expires_at=when(evt.expires_at))

    async def password_reset(self, conn, evt) -> None:
        to = Person(evt.user_id, evt.email, evt.name, evt.locale, evt.time_zone)
        await self.service.queue(conn, "password_reset", to, url=self.link(evt.url), expires_at=when(evt.expires_at))

    async def password_changed(self, conn, evt) -> None:
        to = Person(evt.user_id, evt.email, evt.name, evt.locale, evt.time_zone)
        await self.service.queue(conn, "password_changed", to, at=when(evt.at), forgot_url=self.link("/password/forgot"))

    # --- orders ---
    async def _buyer(self, order) -> Person | None:
        if order.customer_id and order.customer_id > 0:
            try:
                return person(await self.users.get(order.customer_id))
            except NotFound:  # the account was deleted meanwhile
                return None
        if order.email:
            return Person(None, order.email, order.email.split("@")[0], order.locale)
        return None

    def _order_url(self, order, buyer: Person) -> str:
        if buyer.user_id is None:
            return self.link(self.orders.guests.url(order.id))
        return self.link(f"/orders/{order.id}")

    async def _to_buyer(self, conn, kind: str, order_id: str, **context: Any) -> Any:
        """Queue mail ``kind`` to the order's buyer; the order (None when it does not exist)."""
        try:
            order = await self.orders.record(order_id)
        except NotFound:
            return None
        buyer = await self._buyer(order)
        if buyer is not None:
            await self.service.queue(conn, kind, buyer, order=order, items=order.lines, currency=order.currency,
                                     order_url=self._order_url(order, buyer), **context)
        return order

    async def order_status(self, conn, evt) -> None:
        if evt.previous is None:
            await self._to_buyer(conn, "order_placed", evt.order_id)
        elif evt.status in ORDER_KINDS:
            order = await self._to_buyer(conn, ORDER_KINDS[evt.status], evt.order_id)
            if order is not None and evt.status == "paid":
                await self._to_sellers(conn, order)

    async def _to_sellers(self, conn, order) -> None:
        for seller_id in sorted({line.seller_id for line in order.lines}):
            try:
                seller = person(await self.users.get(seller_id))
            except NotFound:
                continue
            await self.service.queue(conn, "seller_new_order", seller, order=order,
                                     items=[line for line in order.lines if line.seller_id == seller_id],
                                     orders_url=self.link("/seller/orders"))

    async def shipment(self, conn, evt) -> None:
        if evt.status in SHIPMENT_KINDS:
            await self._to_buyer(conn, SHIPMENT_KINDS[evt.status], evt.order_id, carrier=evt.carrier,
                                 tracking_number=evt.tracking_number)

    async def refunded(self, conn, evt) -> None:
        await self._to_buyer(conn, "order_refunded", evt.order_id, amount_cents=evt.amount_cents)

    # --- inventory ---
    async def _product_name(self, product_id: int) -> str:
        """The product's name (its id when the catalog is not running or no longer has it)."""
        if self.products is not None:
            try:
                return (await self.products.get(product_id)).name
            except NotFound:
                pass
        return str(product_id)

    async def low_stock(self, conn, evt) -> None:
        if not evt.seller_id:
            return  # stock of a product the catalog never had: nobody to tell
        try:
            seller = person(await self.users.get(evt.seller_id))
        except NotFound:
            return
        await self.service.queue(conn, "low_stock", seller, product=await self._product_name(evt.product_id),
                                 region=evt.region,
                                 available=evt.available, threshold=evt.threshold,
                                 stock_url=self.link("/seller/inventory"))
