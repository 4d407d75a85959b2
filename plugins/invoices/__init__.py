"""Invoices: one invoice per seller of a paid order, with a gap-free number per seller and calendar year,
and credit notes (their own series) for refunded or cancelled parts; PDF for people (in the reader's
language) and UBL 2.1 / EN 16931 XML for machines; the buyer's, the seller's and the admin's lists, and
the seller's invoicing details.

Provides ``INVOICES`` (keys.py). Consumes orders' ``ecom/orders/status`` (OrderStatusChanged: paid ->
invoices; a paid order cancelled or refunded -> credit notes) and ``ecom/orders/shipment``
(ShipmentStatusChanged: a shipment refunded or cancelled -> its credit note), each in its inbox
transaction. Reads orders through ``ORDERS.record`` and people through ``USERS.get``. Exports a person's
documents (ecom.privacy) and forgets a deleted seller's profile on users' UserDeleted (privacy.py).
"""
from __future__ import annotations

from ecom.plugin import Plugin, PluginContext
from ecom.privacy import register_exporter
from ecom.slots import Slot
from plugins.orders import events as order_events
from plugins.orders.keys import ORDERS
from plugins.users.events import UserDeleted
from plugins.users.keys import USERS

from . import pages, routes
from .config import InvoicesConfig
from .keys import INVOICES
from .privacy import Privacy
from .service import InvoicesService
from .slots import order_invoices


async def lifespan(ctx: PluginContext):
    service = InvoicesService(ctx.pool, ctx.config, orders=ctx.require(ORDERS), users=ctx.require(USERS))
    ctx.provide(INVOICES, service)
    ctx.events.subscribe(order_events.OrderStatusChanged, service.on_order_status)
    ctx.events.subscribe(order_events.ShipmentStatusChanged, service.on_shipment_status)
    privacy = Privacy(ctx.pool)
    register_exporter(ctx.app, "invoices", privacy.export)
    ctx.events.subscribe(UserDeleted, privacy.on_user_deleted)
    yield


PLUGIN = Plugin(name="invoices", requires_core=">=0.2,<0.3",
                requires=("users", "orders"), lifespan=lifespan,
                routes=[*routes.routes, *pages.routes], config=InvoicesConfig, static=None,
                slots=[Slot("account.menu", "invoices/account_menu.html", order=40),
                       Slot("order.sidebar", "invoices/order_sidebar.html", order_invoices, order=50)])
