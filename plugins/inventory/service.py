"""Stock per (product, region), its ledger, and reservations for orders. No aiohttp here.

The public API other plugins use (``ctx.require(INVENTORY)``): ``availability``, ``availability_many``,
``reserve``, ``commit``, ``release``, ``restock``. Sellers and admins change stock through
``set_stock`` and ``adjust``; every change writes a ledger row in the same transaction.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import asyncpg

from ecom.errors import Conflict
from ecom.i18n import _

from . import checks, db, reservations
from .config import InventoryConfig
from .db import Move
from .lowstock import Level, LowStockAlerts
from .models import MAX_ID, MAX_QUANTITY, Movement, Reservation, Stock
from .stockevents import StockEvents

if TYPE_CHECKING:
    from ecom.events import PluginEvents
    from ecom.gateway.auth import Identity


class Products(Protocol):
    """What inventory needs of the products plugin's service."""
    async def get(self, product_id: int) -> Any: ...
    async def get_many(self, ids: list[int], *, include_deleted: bool = False) -> dict[int, Any]: ...
    async def find_by_skus(self, seller_id: int, skus: list[str]) -> dict[str, Any]: ...
    async def editable(self, actor: "Identity", product_id: int) -> Any: ...
    async def visible(self, product_id: int, viewer: "Identity | None") -> Any: ...
    async def seller_products(self, actor: "Identity", before_id: int | None = None, limit: int = 50) -> list: ...


ORDERS_ACTOR = "system:orders"  # the ledger's actor for reservation changes made by the orders plugin


def actor_name(actor: "Identity") -> str:
    return f"user:{actor.user_id}"


def _level(old: asyncpg.Record, new: asyncpg.Record) -> Level:
    return Level(new["product_id"], new["region"], old["quantity"] - old["reserved"], new["quantity"] - new["reserved"])


def _stock(row: asyncpg.Record) -> Stock:
    return Stock(row["product_id"], row["region"], row["quantity"], row["reserved"], row["updated_at"])


class InventoryService:
    def __init__(self, pool: asyncpg.Pool, config: InventoryConfig, products: Products,
                 events: "PluginEvents | None" = None):
        self.pool = pool
        self.config = config
        self.regions = config.regions
        self.products = products
        self.alerts = LowStockAlerts(events, products, config.low_stock_threshold)
        self.stock = StockEvents(events, products)  # StockChanged, one per product per transaction

    # --- reading ---

    async def availability(self, product_id: int) -> list[Stock]:
        """Every configured region, in config order; a region without a row has 0 of everything."""
        product_id = checks.whole(product_id, "product_id", 1, MAX_ID)
        rows = {r["region"]: _stock(r) for r in await db.stock_of(self.pool, product_id)}
        return [rows.get(region) or Stock(product_id, region, 0, 0) for region in self.regions]

    async def availability_many(self, product_ids: list[int], region: str | None = None) -> dict[int, int]:
        """Units available (quantity - reserved) per product id, in ``region`` or summed over all regions."""
        if region is not None:
            region = checks.region(region, self.regions)
        ids = sorted({checks.whole(p, "product_id", 1, MAX_ID) for p in product_ids})
        found = await db.available_many(self.pool, ids, region) if ids else {}
        return {p: found.get(p, 0) for p in ids}

    async def public_availability(self, viewer: "Identity | None", product_id: int) -> list[Stock]:
        """``availability`` of a product the viewer may see in the catalog (NotFound otherwise)."""
        await self.products.visible(product_id, viewer)
        return await self.availability(product_id)

    async def stock_table(self, product_ids: list[int]) -> dict[int, list[Stock]]:
        """product id -> its stock in every configured region (for the seller pages)."""
        rows: dict[tuple[int, str], Stock] = {(r["product_id"], r["region"]): _stock(r)
                                              for r in await db.stock_of_many(self.pool, list(product_ids))}
        return {p: [rows.get((p, region)) or Stock(p, region, 0, 0) for region in self.regions]
                for p in product_ids}

    async def seller_overview(self, actor: "Identity", before_id: int | None = None,
                              limit: int = 50) -> list[tuple[Any, list[Stock]]]:
        """The actor's products (an admin: everyone's), newest first, each with its stock per region."""
        products = await self.products.seller_products(actor, before_id, limit)
        table = await self.stock_table([p.id for p in products])
        return [(p, table[p.id]) for p in products]

    async def movements(self, actor: "Identity", product_id: int, limit: int = 100,
                        before_id: int | None = None) -> list[Movement]:
        """The product's ledger, newest first (owner seller or admin)."""
        await self.owned(actor, product_id)
        return [Movement(**dict(r)) for r in await db.movements(self.pool, product_id, limit, before_id)]

    async def recent_movements(self, product_ids: list[int], limit: int = 10) -> list[Movement]:
        """The newest ledger rows of any of ``product_ids`` (the caller decides whose they are)."""
        ids = sorted({checks.whole(p, "product_id", 1, MAX_ID) for p in product_ids})
        return [Movement(**dict(r)) for r in await db.recent_movements(self.pool, ids, limit)] if ids else []

    async def low_stock(self, product_ids: list[int], threshold: int = 5, limit: int = 10) -> dict[int, list[Stock]]:
        """product id -> its regions with at most ``threshold`` units available (a product never stocked: every
        region at 0), lowest first, at most ``limit`` products. Regions a product has no row in are not counted."""
        ids = sorted({checks.whole(p, "product_id", 1, MAX_ID) for p in product_ids})
        out: dict[int, list[Stock]] = {}
        for r in await db.low_stock(self.pool, ids, threshold, limit) if ids else []:
            stocks = [_stock(r)] if r["region"] else [Stock(r["product_id"], region, 0, 0) for region in self.regions]
            out.setdefault(r["product_id"], []).extend(stocks)
        return out

    async def owned(self, actor: "Identity", product_id: int) -> Any:
        """The product when ``actor`` may manage its stock, by the products plugin's own rule (so both
        plugins answer alike): its seller or an admin. A customer gets Forbidden (403); another seller's
        product is NotFound (404), like a missing or deleted one, so other sellers' ids are not revealed."""
        return await self.products.editable(actor, product_id)

    # --- changing stock ---

    async def set_stock(self, actor: "Identity", product_id: int, region: str, quantity: int,
                        reason: str | None = None) -> Stock:
        quantity, region, reason = checks.quantity(quantity), checks.region(region, self.regions), checks.reason(reason)
        product = await self.owned(actor, product_id)
        async with self.pool.acquire() as conn, conn.transaction():
            old = await db.lock_stock(conn, product_id, region)
            self._check_new_quantity(quantity, old["reserved"], "quantity")
            row = await db.set_quantity(conn, product_id, region, quantity)
            await db.record(conn, [Move(product_id, region, quantity - old["quantity"], 0, "adjustment",
                                        actor_name(actor), reason)])
            await self._announce(conn, old, row, product, "set", actor)
        return _stock(row)

    async def adjust(self, actor: "Identity", product_id: int, region: str, delta: int,
                     reason: str | None = None) -> Stock:
        """Add (or with a negative ``delta`` remove) units: a delivery arrived, a unit broke."""
        delta = checks.whole(delta, "delta", -MAX_QUANTITY, MAX_QUANTITY)
        region, reason = checks.region(region, self.regions), checks.reason(reason)
        product = await self.owned(actor, product_id)
        async with self.pool.acquire() as conn, conn.transaction():
            old = await db.lock_stock(conn, product_id, region)
            self._check_new_quantity(old["quantity"] + delta, old["reserved"], "delta")
            row = await db.change(conn, product_id, region, delta, 0)
            await db.record(conn, [Move(product_id, region, delta, 0, "adjustment", actor_name(actor), reason)])
            await self._announce(conn, old, row, product, "adjustment", actor)
        return _stock(row)

    async def _announce(self, conn, old: asyncpg.Record, row: asyncpg.Record, product: Any, reason: str,
                        actor: "Identity") -> None:
        """A seller's change, in its transaction: LowStock on a crossing, StockChanged unless the quantity
        stayed what it was (setting the same number again changes nothing a consumer could act on)."""
        sellers = {row["product_id"]: product.seller_id}
        await self.alerts.announce(conn, [_level(old, row)], sellers)
        self.stock.remember(sellers)
        if row["quantity"] != old["quantity"]:
            await self.stock.announce(conn, [row], reason, actor_name(actor))

    @staticmethod
    def _check_new_quantity(new: int, reserved: int, field: str) -> None:
        if new < 0:
            raise Conflict(_("That would leave {n} units; stock cannot go below 0.").format(n=new),
                           errors={field: _("Too low.")})
        if new > MAX_QUANTITY:
            raise Conflict(_("At most {max} units per region.").format(max=MAX_QUANTITY), errors={field: _("Too high.")})
        if new < reserved:
            message = _("{n} units are reserved by open orders: the quantity cannot go below that.").format(n=reserved)
            raise Conflict(message, errors={field: message})

    # --- reservations (the orders plugin) ---

    async def reserve(self, order_ref: str, items: list[tuple[int, int]], region: str,
                      ttl_seconds: int, *, actor: str = ORDERS_ACTOR) -> list[Reservation]:
        """Hold stock for an order, all or nothing: OutOfStock (a Conflict) naming the first product short,
        and nothing stays reserved. Repeated product ids are summed; quantities are 1..10 000.
        Idempotent: the same ``order_ref`` again returns the existing reservation unchanged."""
        order_ref, lines = checks.order_ref(order_ref), checks.items(items)
        region, ttl_seconds = checks.region(region, self.regions), checks.ttl(ttl_seconds)
        return await reservations.reserve(self.pool, order_ref, lines, region, ttl_seconds, actor, self.alerts,
                                          self.stock)

    async def commit(self, order_ref: str, *, actor: str = ORDERS_ACTOR) -> list[Reservation]:
        """held -> committed (sold: quantity and reserved both drop). Idempotent; NotFound for an unknown
        order_ref; Conflict when the reservation was released or expired."""
        return await reservations.commit(self.pool, checks.order_ref(order_ref), actor, self.stock)

    async def release(self, order_ref: str, reason: str = "", *, actor: str = ORDERS_ACTOR) -> list[Reservation]:
        """held -> released (the units are available again). Idempotent; NotFound for an unknown order_ref;
        Conflict when it was committed (use ``restock``)."""
        return await reservations.release(self.pool, checks.order_ref(order_ref), checks.reason(reason), actor,
                                          self.stock)

    async def restock(self, order_ref: str, reason: str = "", *, actor: str = ORDERS_ACTOR) -> list[Reservation]:
        """Put a committed reservation's units back (a refund): an 'adjustment' per product. Idempotent."""
        return await reservations.restock(self.pool, checks.order_ref(order_ref), checks.reason(reason), actor,
                                          self.stock)

    async def reservation(self, order_ref: str) -> list[Reservation]:
        return [reservations.as_reservation(r) for r in await db.reservations_of(self.pool, checks.order_ref(order_ref))]

    async def release_expired(self, limit: int = 500) -> int:
        """One sweep: release held reservations past their expiry; how many rows it released."""
        return await reservations.sweep(self.pool, limit, self.stock)
