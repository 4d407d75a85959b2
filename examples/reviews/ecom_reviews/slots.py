"""What the reviews plugin shows on other plugins' pages (ecom/slots.py).

The product page's details and the catalog's cards are cached for everyone (nginx for guests, the products
plugin's page cache for shoppers), so these contexts read only what every viewer sees alike: the summary,
the newest visible reviews, a link to the review page. Never who is asking (the form lives on its own
page, pages.py). A hidden review leaves the summary at once; a cached page shows it until its TTL ends.
"""
from __future__ import annotations

from aiohttp import web

from ecom.slots import Slot

from .keys import REVIEWS


async def product_details(request: web.Request, product: dict) -> dict:
    """The product's summary and newest visible reviews: two small queries on one snapshot (they agree)."""
    service = request.app[REVIEWS]
    shown = service.config.shown_on_product
    latest, summary = await service.listing(product["id"], max(1, shown))
    return {"product_id": product["id"], "summary": summary, "latest": latest if shown else []}


async def product_cards(request: web.Request, items: list[dict]) -> dict:
    """{product id: its summary} for the products of a page that have reviews: one query for the page."""
    summaries = await request.app[REVIEWS].summaries([item["id"] for item in items])
    return {pid: {"summary": summary} for pid, summary in summaries.items() if summary.count}


SLOTS = (
    Slot("product.details", "reviews/product_details.html", product_details),
    Slot("product.card", "reviews/product_card.html", product_cards),
    Slot("seller.dashboard", "reviews/dashboard.html"),
    Slot("admin.dashboard", "reviews/dashboard.html"),
)
