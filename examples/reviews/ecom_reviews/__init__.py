"""Reviews: star ratings (1-5) and short reviews of products, from verified buyers only.

A third-party plugin, installed as its own distribution (``pip install -e examples/reviews``) and found
only through its ``ecom.plugins`` entry point. It owns its database (``ecom_reviews``), learns who received
what from orders' ``ShipmentStatusChanged`` events (status ``delivered``, with the shipment's customer and
lines; ``refunded`` takes it back: purchases.py), and never reads another plugin's tables. The product's seller and admins hide or show reviews.
The average shows on the product page (slot ``product.details``) and on catalog cards (``product.card``).
"""
from __future__ import annotations

from ecom.plugin import Plugin, PluginContext
from ecom.privacy import register_exporter
from plugins.orders.events import ShipmentStatusChanged
from plugins.products.events import ProductDeleted
from plugins.users.events import UserDeleted

from . import pages, routes
from .config import ReviewsConfig
from .keys import REVIEWS
from .service import ReviewsService
from .slots import SLOTS


async def lifespan(ctx: PluginContext):
    service = ReviewsService(ctx.pool, ctx.config)
    ctx.provide(REVIEWS, service)
    ctx.events.subscribe(ShipmentStatusChanged, service.on_shipment)
    ctx.events.subscribe(UserDeleted, service.on_user_deleted)
    ctx.events.subscribe(ProductDeleted, service.on_product_deleted)
    register_exporter(ctx.app, "reviews", service.export)
    yield


PLUGIN = Plugin(name="reviews", requires=("users", "products", "orders"), lifespan=lifespan,
                routes=[*routes.routes, *pages.routes], config=ReviewsConfig, static=None,
                slots=SLOTS, requires_core=">=0.2,<0.3")
