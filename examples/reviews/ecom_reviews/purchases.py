"""Who is a verified buyer of what: the ``purchases`` ledger, learnt from orders' ShipmentStatusChanged.

One row per delivery (customer, product, order). A ``delivered`` shipment adds its products; a
``refunded`` one marks its order's rows of its products refunded (each shipment is one seller's, so
refunding one seller's shipment never touches another seller's products). A customer is a verified buyer
of a product while any of their rows for it is not refunded: a refund of one order leaves a delivery by
another order standing.

Why the rules are written this way:

* Idempotent: the inbox runs a handler once per event, and both writes are upserts anyway.
* Order-independent: a consumer handles several events at once and catch-up may bring a "delivered"
  late, so a refund is recorded even before its delivery (the row is written refunded) and a later
  "delivered" of the same order leaves it refunded (``ON CONFLICT DO NOTHING``).
* One customer at a time: a transaction advisory lock per customer serialises these writes with each
  other and with a review being posted (service.submit), so a review never keeps counting after its
  last delivery was refunded, whichever commits first.

``reviews.verified`` follows the ledger in the same transaction (``sync_reviews``): a review whose
author no longer has a delivery of the product stays, but is left out of the public list and the
average (README, "Refunds").
"""
from __future__ import annotations

from typing import Any

import asyncpg

DELIVERED, REFUNDED = "delivered", "refunded"


async def lock_buyer(conn: asyncpg.Connection, customer_id: int) -> None:
    """Until the caller's transaction ends, no other one changes this customer's purchases or reviews
    (two-key form: its own key space, apart from the core's one-key inbox and migration locks)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ecom_reviews.buyer'), hashtext($1::bigint::text))",
                       customer_id)


async def verified_seller(db, customer_id: int, product_id: int) -> int | None:
    """The product's seller when the customer has a delivery of it that was not refunded, else None."""
    return await db.fetchval("SELECT seller_id FROM purchases WHERE customer_id = $1 AND product_id = $2 "
                             "AND NOT refunded ORDER BY delivered_at DESC LIMIT 1", customer_id, product_id)


async def apply_shipment(conn: asyncpg.Connection, event: Any) -> None:
    """A shipment's ``delivered`` or ``refunded`` into the ledger and the reviews' ``verified``, in the
    caller's (inbox) transaction. Guests' orders (no customer id) and other statuses teach nothing."""
    customer_id = getattr(event, "customer_id", None)
    products = sorted({line["product_id"] for line in getattr(event, "lines", None) or ()})
    if event.status not in (DELIVERED, REFUNDED) or customer_id is None or not products:
        return
    await lock_buyer(conn, customer_id)
    rows = [(customer_id, product_id, event.seller_id, event.order_id) for product_id in products]
    if event.status == DELIVERED:
        await conn.executemany(
            "INSERT INTO purchases (customer_id, product_id, seller_id, order_id) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (customer_id, product_id, order_id) DO NOTHING", rows)
    else:
        await conn.executemany(
            "INSERT INTO purchases (customer_id, product_id, seller_id, order_id, refunded) "
            "VALUES ($1, $2, $3, $4, true) "
            "ON CONFLICT (customer_id, product_id, order_id) DO UPDATE SET refunded = true", rows)
    await sync_reviews(conn, customer_id, products)


async def sync_reviews(conn: asyncpg.Connection, customer_id: int, product_ids: list[int]) -> None:
    """Each of the customer's reviews of ``product_ids`` counts exactly while the ledger says they are a
    verified buyer of its product (rows written only when that changes)."""
    await conn.execute("""
        WITH now_verified AS (
            SELECT r.id, EXISTS (SELECT 1 FROM purchases p WHERE p.customer_id = r.customer_id
                                    AND p.product_id = r.product_id AND NOT p.refunded) AS verified
              FROM reviews r WHERE r.customer_id = $1 AND r.product_id = ANY($2::bigint[]))
        UPDATE reviews SET verified = now_verified.verified
          FROM now_verified WHERE reviews.id = now_verified.id AND reviews.verified <> now_verified.verified""",
                       customer_id, product_ids)
