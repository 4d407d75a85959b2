"""StockChanged announcements: one event per product per transaction, written to the outbox in it.

Callers hand over the stock rows their transaction changed, as the UPDATEs returned them (after the
change); rows of the same product are folded into one event (the last row of a (product, region) wins,
which is its state at commit). Who sells a product never changes, so its seller id is looked up in the
catalog once per process and kept: a checkout's reservation costs no extra round trip to the products
database once its products have been seen.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .events import StockChanged

if TYPE_CHECKING:
    from ecom.events import PluginEvents

MAX_KEPT = 200_000  # seller ids kept per process (about 20 MB at the worst); past it, start again


def level(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"region": row["region"], "quantity": row["quantity"], "reserved": row["reserved"],
            "available": max(row["quantity"] - row["reserved"], 0)}


class StockEvents:
    def __init__(self, events: "PluginEvents | None", products: Any):
        self.events, self.products = events, products
        self._sellers: dict[int, int] = {}

    def remember(self, sellers: Mapping[int, int]) -> None:
        """Seller ids the caller already knows (from the catalog), for later changes of these products."""
        if len(self._sellers) + len(sellers) > MAX_KEPT:
            self._sellers.clear()
        self._sellers.update(sellers)

    async def sellers(self, product_ids: Iterable[int]) -> dict[int, int]:
        """product id -> seller id (0 when the catalog never had it); one catalog read for the unknown ones."""
        ids = set(product_ids)
        missing = sorted(ids - self._sellers.keys())
        if missing:
            found = await self.products.get_many(missing, include_deleted=True)
            self.remember({pid: found[pid].seller_id if pid in found else 0 for pid in missing})
        return {pid: self._sellers.get(pid, 0) for pid in ids}

    async def announce(self, conn, rows: Iterable[Mapping[str, Any]], reason: str, actor: str,
                       ref: str | None = None) -> int:
        """Emit one StockChanged per product of ``rows`` in ``conn``'s transaction; how many."""
        if self.events is None:
            return 0
        by_product: dict[int, dict[str, dict[str, Any]]] = {}
        for row in rows:
            by_product.setdefault(row["product_id"], {})[row["region"]] = level(row)
        if not by_product:
            return 0
        sellers = await self.sellers(by_product)
        for product_id in sorted(by_product):
            levels = [by_product[product_id][region] for region in sorted(by_product[product_id])]
            await self.events.emit(conn, StockChanged(product_id, sellers[product_id], reason, levels, ref, actor))
        return len(by_product)
