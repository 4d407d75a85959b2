"""Orders: carts (a guest's in the session, a customer's in the database), checkout (the first step of the
payment saga, DESIGN §6), the order state machine driven by payments' events and by time, the
marketplace views for customers, sellers and admins, and the live order status (server-sent events).

Provides ``ORDERS`` (keys.py). Publishes ``ecom/orders/status`` and ``ecom/orders/shipment`` (events.py) and, through payments'
event contract, ``ecom/payments/requested`` and ``ecom/payments/refund_requested``; consumes
``ecom/payments/completed``, ``ecom/payments/failed`` and ``ecom/users/deleted`` (privacy.py: the deleted
customer's orders are anonymised; their orders are in the data export). Checkout needs the addresses, shipping, taxes and vouchers plugins
(hard requirements: an order always ships somewhere, is taxed and may carry a voucher). Gives every
page ``cart_count`` (the navbar's
cart badge) through a template context processor.
"""
from __future__ import annotations

import aiohttp_jinja2

from ecom.plugin import Plugin, PluginContext
from ecom.privacy import register_exporter
from ecom.slots import Slot
from plugins.addresses.keys import ADDRESSES
from plugins.inventory.keys import INVENTORY
from plugins.payments.events import PaymentCompleted, PaymentFailed
from plugins.payments.keys import PAYMENTS
from plugins.products.keys import PRODUCTS
from plugins.shipping.keys import SHIPPING
from plugins.taxes.keys import TAXES
from plugins.users.events import UserDeleted
from plugins.users.keys import USERS
from plugins.vouchers.keys import VOUCHERS

from . import guest_pages, order_pages, pages, reasons, routes, shipment_routes, stream, worker
from .config import OrdersConfig
from .events import OrderStatusChanged
from .keys import LIVE, ORDERS
from .live import LiveHub
from .privacy import Privacy
from .service import OrdersService
from .views import cart_count_context


async def lifespan(ctx: PluginContext):
    service = OrdersService(ctx.pool, ctx.config, products=ctx.require(PRODUCTS), inventory=ctx.require(INVENTORY),
                            payments=ctx.require(PAYMENTS), events=ctx.events, secret=ctx.secret("idempotency"),
                            addresses=ctx.require(ADDRESSES), shipping=ctx.require(SHIPPING),
                            taxes=ctx.require(TAXES), vouchers=ctx.require(VOUCHERS), users=ctx.require(USERS),
                            guest_secret=ctx.secret("guest-order"))
    hub = LiveHub()
    ctx.provide(ORDERS, service)
    ctx.provide(LIVE, hub)
    ctx.events.subscribe(PaymentCompleted, service.on_payment_completed)
    ctx.events.subscribe(PaymentFailed, service.on_payment_failed)
    ctx.events.listen(OrderStatusChanged, hub.publish)
    env = ctx.app.get(aiohttp_jinja2.APP_KEY)
    if env is not None:  # history reasons are stored in English: pages show them translated
        env.filters["order_reason"] = reasons.show
    privacy = Privacy(ctx.pool)
    ctx.events.subscribe(UserDeleted, privacy.on_user_deleted)
    register_exporter(ctx.app, "orders", privacy.export)
    processors = ctx.app.get(aiohttp_jinja2.APP_CONTEXT_PROCESSORS_KEY)
    if isinstance(processors, list) and cart_count_context not in processors:
        processors.append(cart_count_context)
    task = worker.start(service, ctx.config.expiry_sweep_seconds)
    yield
    hub.close()
    await worker.stop(task)


PLUGIN = Plugin(name="orders", requires_core=">=0.2,<0.3",
                requires=("users", "products", "inventory", "payments", "addresses", "shipping",
                                                  "taxes", "vouchers"), lifespan=lifespan,
                routes=[*routes.routes, *shipment_routes.routes, *stream.routes, *pages.routes, *order_pages.routes,
                        *guest_pages.routes], config=OrdersConfig,
                slots=[Slot("navbar", "orders/nav.html", order=10),
                       Slot("account.menu", "orders/account_menu.html", order=10),
                       Slot("footer", "orders/footer.html", order=10)])
