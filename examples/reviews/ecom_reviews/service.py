"""ReviewsService: who may review what, the reviews themselves, their moderation and the summaries the
product pages show. Imports nothing from aiohttp: routes, pages and slots translate HTTP to these calls."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import asyncpg

from ecom.errors import Forbidden, NotFound
from ecom.i18n import _

from . import db, purchases
from .config import ReviewsConfig
from .model import Review, Summary, checked

if TYPE_CHECKING:
    from ecom.gateway.auth import Identity

MAX_ID = 2**63 - 1
PAGE_LIMIT = 100


def _valid_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise NotFound(_("No such review."))
    return value


class ReviewsService:
    def __init__(self, pool: asyncpg.Pool, config: ReviewsConfig):
        self.pool = pool
        self.config = config

    # --- learning who received what (orders' events) ---

    async def on_shipment(self, conn: asyncpg.Connection, event: Any) -> None:
        """A delivered shipment makes its customer a verified buyer of its products; a refunded one takes
        that back (purchases.py). Runs once per event, in the transaction that records it in our inbox.
        Guests' orders (no customer id) teach nothing: only an account can write a review."""
        await purchases.apply_shipment(conn, event)

    async def verified_purchase(self, customer_id: int, product_id: int, conn=None) -> int:
        """The product's seller id when ``customer_id`` received it (and that delivery was not refunded),
        else Forbidden."""
        seller_id = await purchases.verified_seller(conn or self.pool, customer_id, product_id)
        if seller_id is None:
            raise Forbidden(_("Only customers who received this product can review it."))
        return seller_id

    # --- writing ---

    async def own(self, customer_id: int, product_id: int) -> Review | None:
        row = await db.own(self.pool, customer_id, product_id)
        return Review.from_row(row) if row else None

    async def submit(self, viewer: "Identity", product_id: int, rating: Any, text: Any) -> tuple[Review, bool]:
        """Write or edit the viewer's review of the product; (review, created). Forbidden unless they received
        it; ValidationFailed for a bad rating or text."""
        author = (viewer.name or "").strip()[:100] or _("A customer")
        async with self.pool.acquire() as conn, conn.transaction():
            await purchases.lock_buyer(conn, viewer.user_id)  # a refund being recorded waits, or is seen
            seller_id = await self.verified_purchase(viewer.user_id, product_id, conn)
            rating, text = checked(rating, text, self.config.max_text)
            row, created = await db.upsert(conn, viewer.user_id, product_id, seller_id, author, rating, text)
        return Review.from_row(row), created

    # --- reading (public: the same for every viewer) ---

    async def visible(self, product_id: int, limit: int = 20, offset: int = 0) -> list[Review]:
        rows = await db.visible(self.pool, product_id, max(1, min(limit, PAGE_LIMIT)), max(0, offset))
        return [Review.from_row(r) for r in rows]

    async def listing(self, product_id: int, limit: int = 20, offset: int = 0) -> tuple[list[Review], Summary]:
        """A product's visible reviews and their summary, read from one snapshot: two separate reads could
        straddle a delivery or a refund being applied and answer "count 1" with no review listed."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            rows = await db.visible(conn, product_id, max(1, min(limit, PAGE_LIMIT)), max(0, offset))
            found = await db.summaries(conn, [product_id])
        summary = Summary(found[0]["count"], round(found[0]["average"], 1)) if found else Summary()
        return [Review.from_row(r) for r in rows], summary

    async def summaries(self, product_ids: Iterable[int]) -> dict[int, Summary]:
        """product id -> Summary for each of ``product_ids`` (an empty one when it has no visible review)."""
        wanted = sorted({i for i in product_ids if isinstance(i, int) and 0 < i <= MAX_ID})
        found = {r["product_id"]: Summary(r["count"], round(r["average"], 1))
                 for r in (await db.summaries(self.pool, wanted) if wanted else [])}
        return {i: found.get(i, Summary()) for i in wanted}

    # --- moderation: the product's seller, or an admin ---

    async def set_hidden(self, actor: "Identity", review_id: Any, hidden: bool) -> Review:
        row = await db.by_id(self.pool, _valid_id(review_id))
        if row is None or not (actor.is_admin or (actor.has_role("seller") and row["seller_id"] == actor.user_id)):
            raise NotFound(_("No such review."))  # another seller's review is not theirs to know of
        role = "admin" if actor.is_admin else "seller"
        row = await db.set_hidden(self.pool, row["id"], hidden, f"{role}:{actor.user_id}")
        return Review.from_row(row)

    async def for_moderation(self, actor: "Identity", hidden: bool | None = None, limit: int = 50,
                             offset: int = 0) -> list[Review]:
        """Reviews to moderate, newest first: a seller's products' reviews, or every review for an admin."""
        return await self._moderated(actor, hidden, max(1, min(limit, PAGE_LIMIT)), max(0, offset))

    async def moderation_page(self, actor: "Identity", hidden: bool | None, page: int) -> tuple[list[Review], bool]:
        """Page ``page`` (1, 2, ...) of for_moderation, ``[plugins.reviews] moderation_page`` reviews a page,
        and whether an older page follows: offset pages, like the shop's other list pages."""
        size = self.config.moderation_page
        found = await self._moderated(actor, hidden, size + 1, (max(1, page) - 1) * size)
        return found[:size], len(found) > size

    async def _moderated(self, actor: "Identity", hidden: bool | None, limit: int, offset: int) -> list[Review]:
        if not actor.has_role("seller"):
            raise Forbidden(_("Only sellers and admins moderate reviews."))
        rows = await db.for_moderation(self.pool, None if actor.is_admin else actor.user_id, hidden, limit, offset)
        return [Review.from_row(r) for r in rows]

    # --- personal data ---

    async def export(self, user_id: int) -> list[dict[str, Any]]:
        return [{**Review.from_row(r).public(), "hidden": r["hidden"], "verified": r["verified"]}
                for r in await db.of_customer(self.pool, user_id)]

    async def on_user_deleted(self, conn: asyncpg.Connection, event: Any) -> None:
        await db.forget_customer(conn, event.user_id)

    async def on_product_deleted(self, conn: asyncpg.Connection, event: Any) -> None:
        """products' ProductDeleted: its reviews and purchases go (no page shows them any more, and a product
        created later under a reused SKU is another product)."""
        await db.forget_product(conn, event.product_id)
