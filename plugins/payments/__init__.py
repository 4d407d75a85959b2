"""Payments: card tokens for checkout, durable delayed card processing, refunds, and payment pages.

Provides ``PAYMENTS`` (keys.py). Needs no other plugin: orders talks to it through ``tokenize`` and
the events in events.py.
"""
from __future__ import annotations

from ecom.plugin import Plugin, PluginContext

from .cards import CardVault
from .config import PaymentsConfig
from .keys import PAYMENTS
from .service import PaymentsService


async def lifespan(ctx: PluginContext):
    vault = CardVault(ctx.secret("card-token"), ctx.config.card_token_ttl_seconds)
    ctx.provide(PAYMENTS, PaymentsService(ctx.pool, ctx.config, vault, ctx.events))
    yield


PLUGIN = Plugin(name="payments", lifespan=lifespan, config=PaymentsConfig, static=None)
