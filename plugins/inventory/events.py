"""Events the inventory plugin publishes (a public API: change a payload only with a version bump)."""
from __future__ import annotations

from dataclasses import dataclass

from ecom.events import event


@event("ecom/inventory/import_queued")
@dataclass(frozen=True)
class ImportQueued:
    """A seller's stock CSV was accepted: the job and its good lines are stored and wait to be applied.

    Topic ``ecom/inventory/import_queued``, version 1, data ``{"import_id": 42}``. Emitted (outbox) in
    the transaction that stores the job. The inventory plugin itself consumes it (inbox) to wake an
    import processor in one of its workers; workers also poll, so a lost message only delays a job.
    """
    import_id: int


@event("ecom/inventory/low_stock")
@dataclass(frozen=True)
class LowStock:
    """A product's available stock in one region fell to or below the shop's low-stock threshold.

    Topic ``ecom/inventory/low_stock``, version 1, data ``{"product_id": 12, "seller_id": 7,
    "region": "eu-west", "available": 4, "threshold": 5}``. ``available`` is quantity minus reserved
    units after the change; ``threshold`` is ``[plugins.inventory] low_stock_threshold`` at that time.
    ``seller_id`` is the product's seller as the catalog knows it (deleted products included); 0 when
    the catalog has no such product at all (stock of an id it never had).

    Emitted (outbox) in the transaction that lowered the stock (a reservation for an order, a seller's
    set or adjustment, a CSV import line), once per crossing: only when the units available before the
    change were above the threshold. Further sales below it emit nothing until the stock has gone back
    above the threshold and falls again. Consumers: notifications (a mail to the seller).
    """
    product_id: int
    seller_id: int
    region: str
    available: int
    threshold: int
