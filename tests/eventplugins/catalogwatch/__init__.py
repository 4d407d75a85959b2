"""Test-only plugin: a consumer of the catalog's and the stock's events, as a webhook relay or an ERP bridge
would be. Its handlers run through the real path (broker, signature and owner checks, its own inbox) and
keep what they applied in memory, per topic, in the order this process applied them."""
from __future__ import annotations

import collections

import asyncpg
from aiohttp import web

from ecom.plugin import Plugin, PluginContext
from plugins.inventory.events import StockChanged
from plugins.products.events import ProductCreated, ProductDeleted, ProductUpdated


class Watch:
    def __init__(self):
        self.seen: dict[str, list] = collections.defaultdict(list)

    async def on_event(self, conn: asyncpg.Connection, ev) -> None:
        self.seen[type(ev).TOPIC].append(ev)


WATCH = web.AppKey("eventplugins.catalogwatch", Watch)


async def lifespan(ctx: PluginContext):
    watch = Watch()
    for cls in (ProductCreated, ProductUpdated, ProductDeleted, StockChanged):
        ctx.events.subscribe(cls, watch.on_event, name=f"watch-{cls.__name__}")
    ctx.provide(WATCH, watch)
    yield


PLUGIN = Plugin(name="catalogwatch", requires=("products", "inventory"), lifespan=lifespan, migrations=None)
