"""Inventory: stock per product and region with a ledger of every change, reservations for orders
(all or nothing, expiring), bulk CSV imports applied in the background, and the seller's stock pages.

Provides ``INVENTORY`` (the service other plugins use) and ``IMPORTS`` (keys.py). Publishes
``ecom/inventory/import_queued`` (events.py) and consumes it to wake an import processor; publishes
``ecom/inventory/low_stock`` when a region's available units cross ``low_stock_threshold`` (lowstock.py)
and ``ecom/inventory/stock_changed`` for every change of a product's stock (stockevents.py).
"""
from __future__ import annotations

from ecom.plugin import Plugin, PluginContext
from plugins.products.keys import PRODUCTS

from . import pages, routes, worker
from .config import InventoryConfig
from .events import ImportQueued
from .imports import ImportService
from .keys import IMPORTS, INVENTORY
from .seed import seed
from .service import InventoryService


async def lifespan(ctx: PluginContext):
    products = ctx.require(PRODUCTS)
    service = InventoryService(ctx.pool, ctx.config, products, ctx.events)
    imports = ImportService(ctx.pool, ctx.config, products, ctx.events, service.alerts, service.stock)
    ctx.provide(INVENTORY, service)
    ctx.provide(IMPORTS, imports)
    ctx.events.subscribe(ImportQueued, imports.on_import_queued)
    tasks = worker.start(service, imports, ctx.config.sweep_interval_seconds)
    yield
    await worker.stop(tasks)


PLUGIN = Plugin(name="inventory", requires_core=">=0.2,<0.3",
                requires=("products",), lifespan=lifespan,
                routes=[*routes.routes, *pages.routes], config=InventoryConfig, seed=seed)
