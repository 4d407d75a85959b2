"""Products: the catalog (full-text, typo-tolerant and SKU-prefix search with keyset pages), product
images, the JSON API and the catalog and seller pages.

Provides ``PRODUCTS`` (keys.py). Identities come from the gateway. Consumes the users plugin's
``UserDeleted``: a deleted seller's products are taken off sale (archived), not deleted. Publishes
``ecom/products/created|updated|deleted`` for every change (events.py); catalog CSV export and import
(catalogcsv.py, catalogimport.py, csvroutes.py).
"""
from __future__ import annotations

from ecom.plugin import Plugin, PluginContext
from plugins.users.events import UserDeleted

from . import csvroutes, pages, routes
from .keys import PRODUCTS
from .seed import seed
from .service import ProductsConfig, ProductsService


async def lifespan(ctx: PluginContext):
    media = ctx.data_dir / "media"
    media.mkdir(parents=True, exist_ok=True)
    service = ProductsService(ctx.pool, ctx.config, media, ctx.events)
    ctx.provide(PRODUCTS, service)
    ctx.events.subscribe(UserDeleted, service.on_user_deleted)
    yield


PLUGIN = Plugin(name="products", requires_core=">=0.2,<0.3",
                requires=("users",), lifespan=lifespan, routes=[*routes.routes, *csvroutes.routes, *pages.routes],
                config=ProductsConfig, seed=seed)
