"""The catalog: products, their images and search. No aiohttp here: routes.py and pages.py translate HTTP;
the values it hands out (Product, ProductsConfig) and the owner rule are in models.py.

Who may change what: a seller changes only their own products, an admin any. A seller who names another
seller's product gets NotFound (404), exactly as for a product that does not exist, so ids of other
sellers' products are not revealed; a customer without the seller role gets Forbidden (403).
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import asyncpg

from ecom.errors import Conflict
from ecom.i18n import _

from . import cursor as cursors, db, images
from .events import ProductCreated, ProductDeleted, ProductUpdated, changes as changes_of, snapshot
# the values live in models.py; named here too, where routes, pages and tests have always found them
from .models import MAX_ID, Product, ProductsConfig, actor_name, no_such, owner_filter, valid_id  # noqa: F401
from .pagecache import PageCache
from .searching import MAX_QUERY, SORT_NAMES, check_search, query_text, search_currency, sku_range  # noqa: F401
from .validation import MAX_TYPE, SKU_SHAPE, check_fields

if TYPE_CHECKING:
    from ecom.events import PluginEvents
    from ecom.gateway.auth import Identity


class ProductsService:
    def __init__(self, pool: asyncpg.Pool, config: ProductsConfig | None = None, media_dir: Path | None = None,
                 events: "PluginEvents | None" = None):
        self.pool = pool
        self.events = events  # None only outside an app: changes are then announced to nobody
        self.config = config or ProductsConfig()
        self.media_dir = Path(media_dir) if media_dir else None
        self._types: tuple[float, list[tuple[str, int]]] | None = None  # (when, categories) for the filter
        self._currencies: tuple[float, list[str]] | None = None  # (when, the catalog's currencies)
        # pagecache.py: what logged-in shoppers' pages show alike, never longer than guests' pages are cached
        ttl = min(self.config.page_cache_seconds, self.config.catalog_cache_seconds)
        self.catalog_pages = PageCache(ttl)   # (language, query string) -> the catalog's rendered main column
        self.product_pages = PageCache(ttl)   # (language, product id) -> product, stock, rendered parts

    def _changed(self) -> None:
        """This process changed the catalog: drop all it keeps of it (pages are keyed per language too; changes
        are rare next to page reads)."""
        self._types = self._currencies = None
        self.catalog_pages.clear()
        self.product_pages.clear()

    # --- reading (for other plugins too) ---

    async def get(self, product_id: int) -> Product:
        """A live product (active or not); NotFound when missing or deleted."""
        row = await db.by_id(self.pool, valid_id(product_id))
        if row is None:
            raise no_such(product_id)
        return Product.from_row(row)

    async def get_many(self, ids: Iterable[int], *, include_deleted: bool = False) -> dict[int, Product]:
        """id -> product for the ids that exist (deleted ones only with ``include_deleted``)."""
        wanted = sorted({i for i in ids if isinstance(i, int) and 0 < i <= MAX_ID})
        rows = await db.by_ids(self.pool, wanted, include_deleted) if wanted else []
        return {r["id"]: Product.from_row(r) for r in rows}

    async def find_by_skus(self, seller_id: int, skus: Iterable[str]) -> dict[str, Product]:
        """sku -> live product of this seller, for the SKUs that exist (exact, case-sensitive match)."""
        wanted = sorted({s for s in skus if isinstance(s, str) and SKU_SHAPE.fullmatch(s)})
        rows = await db.by_skus(self.pool, seller_id, wanted) if wanted else []
        return {r["sku"]: Product.from_row(r) for r in rows}

    async def all_ids(self) -> list[int]:
        """Every live product id, ascending (for seeding)."""
        return await db.all_ids(self.pool)

    async def visible(self, product_id: int, viewer: "Identity | None") -> Product:
        """A product as a page or API read shows it: inactive ones only to their seller and admins."""
        product = await self.get(product_id)
        if not product.active and not (viewer and (viewer.is_admin or viewer.user_id == product.seller_id)):
            raise no_such(product_id)
        return product

    async def editable(self, actor: "Identity", product_id: int) -> Product:
        """A product ``actor`` may change; Forbidden for a non-seller, NotFound for another seller's."""
        owner = owner_filter(actor)
        product = await self.get(product_id)
        if owner is not None and product.seller_id != owner:
            raise no_such(product_id)
        return product

    async def types(self) -> list[tuple[str, int]]:
        """(category, number of catalog products), by name; kept for catalog_cache_seconds (every catalog
        page shows them), dropped at once by this process's own changes."""
        if self._types is None or time.monotonic() - self._types[0] >= self.config.catalog_cache_seconds:
            self._types = (time.monotonic(), [(r["type"], r["count"]) for r in await db.types(self.pool)])
        return self._types[1]

    async def currencies(self) -> list[str]:
        """The currencies of catalog products, by code (the catalog's currency selector); kept like types."""
        if self._currencies is None or time.monotonic() - self._currencies[0] >= self.config.catalog_cache_seconds:
            self._currencies = (time.monotonic(), await db.currencies(self.pool))
        return self._currencies[1]

    async def featured(self, limit: int = 8) -> list[Product]:
        """The home page's products: the newest with an image first, then the newest without."""
        found = [Product.from_row(r) for r in await db.featured(self.pool, limit)]
        found.sort(key=lambda p: (p.image_url is None, -p.created_at.timestamp(), -p.id))
        return found[:limit]

    async def seller_products(self, actor: "Identity", before_id: int | None = None,
                              limit: int = 50) -> list[Product]:
        """The actor's products (an admin: everyone's), newest first, ``limit`` after ``before_id``."""
        rows = await db.seller_products(self.pool, owner_filter(actor), before_id, limit)
        return [Product.from_row(r) for r in rows]

    async def seller_product_ids(self, actor: "Identity") -> list[int]:
        """Ids of the actor's live products (an admin: everyone's), newest first (for the dashboards)."""
        return await db.seller_ids_of(self.pool, owner_filter(actor))

    # --- changing ---

    async def _emit(self, conn: asyncpg.Connection, obj: Any) -> None:
        if self.events is not None:
            await self.events.emit(conn, obj)

    async def create(self, actor: "Identity", values: Mapping[str, Any]) -> Product:
        owner_filter(actor)
        fields = check_fields(values, partial=False)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self.insert_in(conn, actor, actor.user_id, fields)
        self._changed()
        if row is None:
            raise self._duplicate_sku(fields["sku"])
        return Product.from_row(row)

    async def insert_in(self, conn: asyncpg.Connection, actor: "Identity", seller_id: int,
                        fields: Mapping[str, Any]) -> asyncpg.Record | None:
        """Insert checked ``fields`` for ``seller_id`` in ``conn``'s transaction with its ProductCreated;
        None (and no event) when the seller already has a live product with this SKU."""
        row = await db.insert(conn, seller_id, dict(fields))
        if row is not None:
            await self._emit(conn, ProductCreated(row["id"], snapshot(row), actor_name(actor)))
        return row

    async def update_in(self, conn: asyncpg.Connection, actor: "Identity", product_id: int, owner: int | None,
                        fields: Mapping[str, Any]) -> tuple[asyncpg.Record | None, dict[str, Any]]:
        """Change a live product in ``conn``'s transaction with one ProductUpdated naming what differs (none
        when nothing does): (the row, what changed); (None, {}) when there is no such product of ``owner`` (an
        admin: None, any seller's). The row is locked first so the reported ``from`` values are the replaced ones."""
        before = await db.lock_live(conn, product_id, owner)
        if before is None:
            return None, {}
        wanted = {name: fields[name] for name in changes_of(before, {**dict(before), **fields})}
        if not wanted:  # the same values again: no write (updated_at stays), no event
            return before, {}
        row = await db.update(conn, product_id, owner, wanted)
        diff = changes_of(before, row)
        if diff:
            await self._emit(conn, ProductUpdated(row["id"], snapshot(row), diff, actor_name(actor)))
        return row, diff

    async def update(self, actor: "Identity", product_id: int, changes: Mapping[str, Any]) -> Product:
        """A partial change with the same checks as create; NotFound for another seller's product."""
        owner = owner_filter(actor)
        valid_id(product_id)
        fields = check_fields(changes, partial=True)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                row, _changes = await self.update_in(conn, actor, product_id, owner, fields)
        except asyncpg.UniqueViolationError:
            raise self._duplicate_sku(fields["sku"]) from None
        self._changed()
        if row is None or (owner is not None and row["seller_id"] != owner):
            raise no_such(product_id)
        return Product.from_row(row)

    async def delete(self, actor: "Identity", product_id: int) -> None:
        """Soft delete: gone from the catalog and from ``get``; orders may still look it up with get_many."""
        owner = owner_filter(actor)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await db.soft_delete(conn, valid_id(product_id), owner)
            if row is not None:
                await self._emit(conn, ProductDeleted(row["id"], snapshot(row), actor_name(actor)))
        if row is None:
            raise no_such(product_id)
        self._changed()

    async def on_user_deleted(self, conn: asyncpg.Connection, event: Any) -> None:
        """Inbox handler of the users plugin's UserDeleted: a deleted seller's products are taken off sale
        (archived: inactive, in the seller's and admins' lists only), never deleted, since orders, invoices
        and the ledger keep referring to them. Runs again harmlessly: archived products stay archived."""
        rows = await db.archive_seller(conn, event.user_id)
        for row in rows:  # one ProductUpdated per product taken off sale, in the inbox handler's transaction
            await self._emit(conn, ProductUpdated(row["id"], snapshot(row), {"active": {"from": True, "to": False}},
                                                  "system:users"))
        if rows:
            self._changed()

    async def set_image(self, actor: "Identity", product_id: int, data: bytes) -> Product:
        """Store ``data`` (checked by its magic bytes and size) as the product's image."""
        owner = owner_filter(actor)
        ext = self.check_image(data)
        await self.editable(actor, product_id)
        name = images.file_name(product_id, data, ext)
        folder = self._media()
        await asyncio.to_thread(images.write, folder, name, data)
        async with self.pool.acquire() as conn, conn.transaction():
            result = await db.set_image(conn, product_id, owner, name)
            if result is not None and result[1] != name:
                row = result[0]
                await self._emit(conn, ProductUpdated(row["id"], snapshot(row),
                                                      {"image": {"from": result[1], "to": name}}, actor_name(actor)))
        if result is None:  # deleted meanwhile
            await asyncio.to_thread(images.remove, folder, name)
            raise no_such(product_id)
        row, old = result
        self._changed()
        if old and old != name:
            await asyncio.to_thread(images.remove, folder, old)
        return Product.from_row(row)

    def check_image(self, data: bytes) -> str:
        """The image's extension; ImageTooLarge (413) or ValidationFailed (422) for a bad upload."""
        return images.check(data, self.config.max_image_bytes)

    def image_path(self, name: str) -> Path | None:
        """The file behind /media/products/<name>, or None (bad name or no such file)."""
        return images.path_of(self._media(), name) if self.media_dir else None

    def _media(self) -> Path:
        if self.media_dir is None:
            raise RuntimeError("ProductsService was created without a media_dir")
        return self.media_dir

    @staticmethod
    def _duplicate_sku(sku: str) -> Conflict:
        return Conflict(_("You already have a product with SKU {sku}.").format(sku=sku),
                        errors={"sku": _("You already use this SKU.")})

    # --- the catalog ---

    async def search(self, q: str | None = None, type: str | None = None, min_price: int | None = None,
                     max_price: int | None = None, sort: str | None = None, cursor: str | None = None,
                     limit: int | None = None, currency: str | None = None) -> tuple[list[Product], str | None]:
        """One page of active products and the cursor of the next page (None on the last one).

        ``q`` matches words (full text), misspelled names (trigram word similarity) and SKU prefixes.
        ``sort``: relevance (default with ``q``), newest (default without), price_asc, price_desc, name.
        ``currency`` limits the page to one currency; a price range or price sort without one compares in
        ``display_currency`` (searching.py: minor units of two currencies never compare)."""
        q = query_text(q, "q", MAX_QUERY)
        type = query_text(type, "type", MAX_TYPE)
        sort = sort or ("relevance" if q else "newest")
        limit = self.config.page_size if limit is None else limit
        check_search(sort, q, min_price, max_price, limit)
        currency = search_currency(currency, self.config.display_currency, min_price, max_price, sort)
        after = cursors.decode(cursor, sort) if cursor else None
        sql, args = db.search_query(q, sku_range(q) if q else None, type, min_price, max_price, sort, after,
                                    limit + 1, currency)
        rows = await db.search(self.pool, sql, args)
        items = [Product.from_row(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = cursors.encode(sort, db.sort_key(last, sort), last["id"])
        return items, next_cursor

    async def bulk_insert(self, rows: list[tuple], *, with_ids: bool = False) -> None:
        """Seeding: rows in db.COPY_COLUMNS order (``with_ids``: db.SEED_COLUMNS, ids from reserve_ids),
        already valid; one COPY in one transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            await db.copy_rows(conn, rows, db.SEED_COLUMNS if with_ids else db.COPY_COLUMNS)
        self._changed()

    async def reserve_ids(self, count: int) -> list[int]:
        """Fresh product ids for bulk_insert(with_ids=True)."""
        return await db.reserve_ids(self.pool, count) if count > 0 else []

    async def refresh_statistics(self) -> None:
        """VACUUM (ANALYZE) after a bulk load: planner statistics and the visibility map for index-only scans."""
        await self.pool.execute("VACUUM (ANALYZE) products")

    async def max_id(self) -> int:
        return await db.max_id(self.pool)
