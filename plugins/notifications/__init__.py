"""Notifications: domain events become mails (HTML + plain text, in the reader's language), kept in the
``messages`` table (outbox and log at once) and sent by SMTP by a relay in every worker, each mail once.

Consumes users' VerificationRequested, PasswordResetRequested and PasswordChanged; when those plugins
are enabled, orders' OrderStatusChanged (placed, paid (+ each seller's new order), payment failed) and
ShipmentStatusChanged (shipped, delivered), payments' PaymentRefunded and inventory's LowStock. Where
mails go is core's ``[mail]``; ``/admin/mail`` shows what the embedded sink received and
``/account/messages`` a customer's own mails. Provides ``NOTIFICATIONS`` (keys.py).
"""
from __future__ import annotations

import asyncio

import aiohttp_jinja2

from ecom.mail import sender
from ecom.plugin import Plugin, PluginContext
from ecom.slots import Slot
from plugins.users.events import PasswordChanged, PasswordResetRequested, VerificationRequested
from plugins.users.keys import USERS

from . import pages
from .compose import Composer
from .config import NotificationsConfig
from .handlers import Handlers
from .keys import NOTIFICATIONS, RELAY
from .relay import Relay
from .service import NotificationsService


def base_url(ctx: PluginContext) -> str:
    if ctx.config.base_url:
        return ctx.config.base_url
    server = ctx.settings.server
    host = "127.0.0.1" if server.host in ("", "0.0.0.0", "::") else server.host
    return f"http://{host}:{server.port}"


class _Late:
    """Another plugin's service, looked up when an event needs it: orders and products are optional for
    notifications, so they are not in ``requires`` and may start after this plugin."""

    def __init__(self, app, key):
        self.app, self.key = app, key

    def __getattr__(self, name: str):
        return getattr(self.app[self.key], name)


def _subscribe_commerce(ctx: PluginContext, handlers: Handlers) -> None:
    enabled = set(ctx.settings.plugins.enabled)
    if "orders" in enabled:
        from plugins.orders.events import OrderStatusChanged, ShipmentStatusChanged
        from plugins.orders.keys import ORDERS
        handlers.orders = _Late(ctx.app, ORDERS)
        ctx.events.subscribe(OrderStatusChanged, handlers.order_status, name="order_status")
        ctx.events.subscribe(ShipmentStatusChanged, handlers.shipment, name="shipment")
        if "payments" in enabled:
            from plugins.payments.events import PaymentRefunded
            ctx.events.subscribe(PaymentRefunded, handlers.refunded, name="refunded")
    if "products" in enabled:
        from plugins.products.keys import PRODUCTS
        handlers.products = _Late(ctx.app, PRODUCTS)
    if "inventory" in enabled:
        from plugins.inventory.events import LowStock
        ctx.events.subscribe(LowStock, handlers.low_stock, name="low_stock")


async def lifespan(ctx: PluginContext):
    mail = ctx.settings.mail
    relay = Relay(ctx.pool, sender.target(mail), sender=mail.sender, timeout=mail.timeout,
                  max_attempts=mail.max_attempts, retry_base=ctx.config.retry_base_seconds,
                  lease_seconds=max(ctx.config.lease_seconds, mail.timeout * 2), poll_seconds=ctx.config.poll_seconds)
    composer = Composer(aiohttp_jinja2.get_env(ctx.app), base_url(ctx), mail.sender)
    service = NotificationsService(ctx.pool, composer, relay.wake)
    ctx.provide(NOTIFICATIONS, service)
    ctx.provide(RELAY, relay)
    handlers = Handlers(service, ctx.require(USERS))
    ctx.events.subscribe(VerificationRequested, handlers.verification, name="verification")
    ctx.events.subscribe(PasswordResetRequested, handlers.password_reset, name="password_reset")
    ctx.events.subscribe(PasswordChanged, handlers.password_changed, name="password_changed")
    _subscribe_commerce(ctx, handlers)
    stopping = asyncio.Event()
    task = asyncio.get_running_loop().create_task(relay.loop(stopping), name="notifications-relay")
    yield
    stopping.set()
    await asyncio.gather(task, return_exceptions=True)


PLUGIN = Plugin(name="notifications", requires_core=">=0.2,<0.3",
                requires=("users",), lifespan=lifespan, routes=pages.routes,
                config=NotificationsConfig, static=None,
                slots=[Slot("account.menu", "notifications/account_menu.html", order=50)])
