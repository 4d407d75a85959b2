"""Payments: card tokens for checkout, durable delayed card processing, refunds, and payment pages.

Provides ``PAYMENTS`` (keys.py). Needs no other plugin: orders calls ``tokenize`` at checkout and talks
to the rest through the events in events.py (PaymentRequested/RefundRequested in,
PaymentCompleted/PaymentFailed/PaymentRefunded out).
"""
from __future__ import annotations

from ecom.plugin import Plugin, PluginContext
from ecom.slots import Slot

from . import pages, routes
from .config import PaymentsConfig
from .events import PaymentRequested, RefundRequested
from .keys import PAYMENTS
from .scheduler import Scheduler
from .service import PaymentsService
from .vault import CardVault


async def lifespan(ctx: PluginContext):
    vault = CardVault(ctx.secret("card-key-wrap"), ctx.config.card_token_ttl_seconds)
    service = PaymentsService(ctx.pool, ctx.config, vault, ctx.events)
    ctx.provide(PAYMENTS, service)
    ctx.events.subscribe(PaymentRequested, service.on_payment_requested)
    ctx.events.subscribe(RefundRequested, service.on_refund_requested)
    scheduler = Scheduler(ctx.pool, service)
    scheduler.start()
    yield
    await scheduler.stop()


PLUGIN = Plugin(name="payments", requires_core=">=0.2,<0.3",
                lifespan=lifespan, routes=[*routes.routes, *pages.routes],
                config=PaymentsConfig, static=None,
                slots=[Slot("account.menu", "payments/account_menu.html", order=30)])
