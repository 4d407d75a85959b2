"""Events the inventory plugin publishes (a public API: change a payload only with a version bump)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, TypedDict

from ecom.events import event


class StockLevel(TypedDict):
    """One region's stock of a product, after a change."""
    region: Annotated[str, "The inventory region (eu-west, ...)."]
    quantity: Annotated[int, "Units on the shelf (sold units are gone, held ones still counted)."]
    reserved: Annotated[int, "Units held for unpaid orders."]
    available: Annotated[int, "quantity minus reserved, never negative: what can still be sold."]


@event("ecom/inventory/import_queued")
@dataclass(frozen=True)
class ImportQueued:
    """A seller's stock CSV was accepted: the job and its good lines are stored and wait to be applied.

    Topic ``ecom/inventory/import_queued``, version 1, data ``{"import_id": 42}``. Emitted (outbox) in
    the transaction that stores the job. The inventory plugin itself consumes it (inbox) to wake an
    import processor in one of its workers; workers also poll, so a lost message only delays a job.
    """
    import_id: Annotated[int, "The stored import job's id."]


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
    product_id: Annotated[int, "The catalog's product id."]
    seller_id: Annotated[int, "The product's seller (0: an id the catalog never had)."]
    region: Annotated[str, "The inventory region (eu-west, ...)."]
    available: Annotated[int, "Quantity minus reserved units after the change."]
    threshold: Annotated[int, "``[plugins.inventory] low_stock_threshold`` at that time."]


@event("ecom/inventory/stock_changed")
@dataclass(frozen=True)
class StockChanged:
    """A product's stock changed in one or more regions. Produced by **inventory**, through its outbox, in
    the transaction that makes the change, ONE event per product per transaction (a CSV batch that sets
    three regions of a product, or an expiry sweep that frees several orders' units of it, is one event).

    Topic ``ecom/inventory/stock_changed``, version 1, data::

        {"product_id": 12, "seller_id": 7, "reason": "reservation", "ref": "ord_...", "actor": "system:orders",
         "levels": [{"region": "eu-west", "quantity": 40, "reserved": 3, "available": 37}]}

    ``levels`` lists the regions this change touched, each as it is AFTER the change (``available`` is
    quantity minus reserved, never negative). ``reason`` says what moved it:

    - ``set`` (a seller or admin set the quantity), ``adjustment`` (added or removed units),
    - ``import`` (a stock CSV line or an inbound stock feed; ``ref`` ``import:<id>``),
    - ``reservation`` (units held for an order; ``ref`` the order), ``sale`` (a held reservation committed:
      quantity and reserved both drop), ``release`` (an order's units freed: failed, cancelled),
      ``expiry`` (held too long; ``ref`` null: several orders may be freed at once), ``restock`` (a refunded
      sale's units back on the shelf; ``ref`` the order).

    ``seller_id`` is the product's seller (deleted products included; 0 for an id the catalog never had),
    so a consumer can keep each seller to their own stock. ``actor``: ``user:<id>``, ``system:orders``,
    ``system:sweeper``. Seeding (``run.py seed``) announces nothing.
    """
    product_id: Annotated[int, "The catalog's product id."]
    seller_id: Annotated[int, "The product's seller (0: an id the catalog never had)."]
    reason: Annotated[str, "What moved it: set, adjustment, import, reservation, sale, release, expiry, restock."]
    levels: Annotated[list[StockLevel], "The regions this change touched, each as it is after the change."]
    ref: Annotated[str | None, "What it is about: the order (reservation, sale, release, restock), "
                               "``import:<id>``, else null."] = None
    actor: Annotated[str, "``user:<id>``, ``system:orders`` or ``system:sweeper``."] = ""
