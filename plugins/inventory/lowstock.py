"""Low-stock alerts: a ``LowStock`` event when a region's available units cross the shop's threshold.

Callers hand over what one transaction changed, as (product, region, available before, available after),
and the alerts are written to the outbox in that same transaction, so an alert exists exactly when the
change committed. Only a crossing counts (before > threshold >= after): a seller is told once, not at
every later sale below the line. The threshold comes from ``[plugins.inventory] low_stock_threshold``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, NamedTuple

from .events import LowStock

if TYPE_CHECKING:
    from ecom.events import PluginEvents


class Level(NamedTuple):
    """One stock row's available units before and after a change."""
    product_id: int
    region: str
    before: int
    after: int


def crossed(level: Level, threshold: int) -> bool:
    return level.before > threshold >= level.after


class LowStockAlerts:
    def __init__(self, events: "PluginEvents | None", products: Any, threshold: int):
        self.events, self.products, self.threshold = events, products, threshold

    async def announce(self, conn, levels: Iterable[Level], sellers: dict[int, int] | None = None) -> int:
        """Emit one LowStock per crossing in ``conn``'s transaction; how many. ``sellers`` (product id ->
        seller id) saves a catalog lookup when the caller knows them; the rare crossing pays the lookup."""
        low = [level for level in levels if crossed(level, self.threshold)]
        if not low or self.events is None:
            return 0
        known = dict(sellers or {})
        missing = sorted({level.product_id for level in low} - known.keys())
        if missing:
            found = await self.products.get_many(missing, include_deleted=True)
            known.update({pid: product.seller_id for pid, product in found.items()})
        for level in low:
            await self.events.emit(conn, LowStock(level.product_id, known.get(level.product_id, 0), level.region,
                                                  level.after, self.threshold))
        return len(low)
