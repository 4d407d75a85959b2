"""Vouchers: percent or fixed codes with minimum spend, validity window, total and per-customer limits,
optionally limited to one seller's lines or a product type; admin and seller pages to create them and
see their use.

Provides ``VOUCHERS`` (keys.py): orders calls ``preview`` for the cart, ``redeem`` inside checkout (safe
under concurrency, idempotent per order ref) and ``release`` when an order fails, expires or is cancelled.
"""
from __future__ import annotations

from ecom.plugin import Plugin, PluginContext
from ecom.slots import Slot

from . import pages, routes
from .config import VouchersConfig
from .keys import VOUCHERS
from .seed import seed
from .service import VouchersService


async def lifespan(ctx: PluginContext):
    ctx.provide(VOUCHERS, VouchersService(ctx.pool, ctx.config))
    yield


PLUGIN = Plugin(name="vouchers", requires_core=">=0.2,<0.3",
                requires=("users",), lifespan=lifespan, routes=[*routes.routes, *pages.routes],
                config=VouchersConfig, static=None, seed=seed,
                slots=[Slot("seller.dashboard", "vouchers/dashboard_seller.html", order=10),
                       Slot("admin.selling", "vouchers/dashboard_admin.html", order=10)])
