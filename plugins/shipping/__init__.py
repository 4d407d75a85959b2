"""Shipping: where stock ships from per destination, zones, shop rates (a TOML data file checked at
start-up) and each seller's own rates (table seller_rates), with the seller's and admin's pages.

Provides ``SHIPPING`` (keys.py): orders asks it which inventory regions to take a destination's stock
from and what each shipment costs. Requires inventory so that the data file's regions are checked
against [plugins.inventory] regions at start-up.
"""
from __future__ import annotations

from ecom.config import ConfigError
from ecom.plugin import Plugin, PluginContext
from ecom.slots import Slot
from plugins.inventory.keys import INVENTORY

from . import pages, routes
from .config import ShippingConfig
from .keys import SHIPPING
from .seed import seed
from .service import ShippingService


async def lifespan(ctx: PluginContext):
    regions = tuple(ctx.require(INVENTORY).regions)
    table = ctx.config.table(regions)  # ConfigError naming the key when a region is not an inventory region
    if not table.rates:
        raise ConfigError("config: plugins.shipping.rates_file has no [[rates]]: nothing could be shipped")
    ctx.provide(SHIPPING, ShippingService(ctx.pool, table))
    yield


PLUGIN = Plugin(name="shipping", requires_core=">=0.2,<0.3",
                requires=("users", "inventory"), lifespan=lifespan,
                routes=[*routes.routes, *pages.routes], config=ShippingConfig, static=None, seed=seed,
                slots=[Slot("seller.dashboard", "shipping/dashboard_seller.html", order=20),
                       Slot("admin.selling", "shipping/dashboard_admin.html", order=20)])
