"""Products: the catalog (full-text, typo-tolerant and SKU-prefix search with keyset pages), product
images, the JSON API and the catalog and seller pages.

Provides ``PRODUCTS`` (keys.py). Needs no other plugin; identities come from the gateway.
"""
from __future__ import annotations

from ecom.plugin import Plugin, PluginContext

from . import pages, routes
from .keys import PRODUCTS
from .seed import seed
from .service import ProductsConfig, ProductsService


async def lifespan(ctx: PluginContext):
    media = ctx.data_dir / "media"
    media.mkdir(parents=True, exist_ok=True)
    ctx.provide(PRODUCTS, ProductsService(ctx.pool, ctx.config, media))
    yield


PLUGIN = Plugin(name="products", requires=("users",), lifespan=lifespan, routes=[*routes.routes, *pages.routes],
                config=ProductsConfig, seed=seed)
