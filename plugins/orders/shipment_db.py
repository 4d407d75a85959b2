"""The orders plugin's SQL for shipments (migration 0003): one per seller and region of an order, each
with its own status, shipping price, tracking and stock reservation (``reservation_ref``).

Orders placed before shipments existed (or by a checkout that wrote none) have no rows here: they are
read as one "legacy" shipment per seller sharing the order's reservation (``legacy``), and those rows
are written the first time a shipment of theirs changes (``ensure``, under the order's row lock).
Functions taking ``conn`` need a transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

import asyncpg

SHIPMENT_COLUMNS = ("order_id, shipment_no, seller_id, region, status, reservation_ref, method, shipping_cents, "
                    "shipping_tax_cents, carrier, tracking_number, stock_todo, refund_cents, updated_at, "
                    "shipping_tax_rate")
SHIPMENT_HISTORY_COLUMNS = "order_id, shipment_no, status, previous, actor, reason, at"
# how an order's status maps onto the shipments of an order that has none written yet
LEGACY_STATUS = {"fulfilled": "fulfilled", "shipped": "shipped", "delivered": "delivered",
                 "cancelled": "cancelled", "expired": "cancelled", "payment_failed": "cancelled"}


@dataclass(frozen=True)
class NewShipment:
    """A shipment as checkout writes it. ``reservation_ref`` defaults to "<order id>/<shipment_no>": the
    order_ref checkout must reserve its lines' stock under (one inventory reservation per shipment)."""
    shipment_no: int
    seller_id: int
    region: str
    method: str = "standard"
    shipping_cents: int = 0
    shipping_tax_cents: int = 0
    reservation_ref: str | None = None
    shipping_tax_rate: Decimal | None = None   # percent


def reservation_ref(order_id: str, shipment_no: int) -> str:
    return f"{order_id}/{shipment_no}"


async def insert_shipments(conn, order_id: str, shipments: Iterable[NewShipment]) -> None:
    """Write an order's shipments (status pending). Lines name theirs in ``order_detail.shipment_no``."""
    rows = [(order_id, s.shipment_no, s.seller_id, s.region, s.reservation_ref or reservation_ref(order_id, s.shipment_no),
             s.method, s.shipping_cents, s.shipping_tax_cents, s.shipping_tax_rate) for s in shipments]
    await conn.executemany("""
        INSERT INTO shipments (order_id, shipment_no, seller_id, region, reservation_ref, method, shipping_cents,
                               shipping_tax_cents, shipping_tax_rate)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""", rows)


async def full_orders(db, order_ids: list[str]) -> list[asyncpg.Record]:
    """Every column of the orders (addresses and money breakdown included); callers decide who sees what."""
    return await db.fetch("SELECT * FROM orders WHERE id = ANY($1::text[])", order_ids)


# Every part of an order in one round trip: the order's row plus its lines, shipments and both histories
# as arrays of rows (asyncpg reads each element as a Record with the table's column names). Five
# queries were five round trips, and an order is read whole on every checkout, payment and mail.
_WHOLE = """
    SELECT o.*,
      ARRAY(SELECT d FROM order_detail d WHERE d.order_id = o.id ORDER BY d.line_no) AS _lines,
      ARRAY(SELECT s FROM shipments s WHERE s.order_id = o.id AND ($2::bigint IS NULL OR s.seller_id = $2)
            ORDER BY s.shipment_no) AS _shipments,
      CASE WHEN $3 THEN ARRAY(SELECT h FROM shipment_history h WHERE h.order_id = o.id
                              ORDER BY h.shipment_no, h.id) END AS _shipment_history,
      CASE WHEN $3 THEN ARRAY(SELECT h FROM order_history h WHERE h.order_id = o.id ORDER BY h.id) END AS _history
    FROM orders o WHERE o.id = ANY($1::text[])"""


async def whole_orders(db, order_ids: list[str], seller_id: int | None = None,
                       with_history: bool = False) -> list[asyncpg.Record]:
    """The orders (every column) each with ``_lines``, ``_shipments`` (``seller_id``'s only, when given),
    and with ``with_history`` ``_shipment_history`` and ``_history``: arrays of rows, in one round trip."""
    return await db.fetch(_WHOLE, order_ids, seller_id, with_history)


async def lines_of(db, order_ids: list[str]) -> list[asyncpg.Record]:
    return await db.fetch("SELECT * FROM order_detail WHERE order_id = ANY($1::text[]) ORDER BY order_id, line_no",
                          order_ids)


async def shipments_of(db, order_ids: list[str], seller_id: int | None = None) -> list[asyncpg.Record]:
    return await db.fetch(f"""
        SELECT {SHIPMENT_COLUMNS} FROM shipments
        WHERE order_id = ANY($1::text[]) AND ($2::bigint IS NULL OR seller_id = $2)
        ORDER BY order_id, shipment_no""", order_ids, seller_id)


async def get_shipment(conn, order_id: str, shipment_no: int, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE order_id = $1 AND shipment_no = $2"
                               + (" FOR UPDATE" if lock else ""), order_id, shipment_no)


def legacy(order: asyncpg.Record, lines: list[asyncpg.Record]) -> list[dict]:
    """The shipments an order without shipment rows is read as: one per seller (numbered by the seller's
    first line), from the order's region, sharing the order's reservation, status from the order's."""
    out: dict[int, dict] = {}
    status = LEGACY_STATUS.get(order["status"], "pending")
    for line in lines:
        if line["seller_id"] not in out:
            out[line["seller_id"]] = {
                "order_id": order["id"], "shipment_no": len(out) + 1, "seller_id": line["seller_id"],
                "region": order["region"], "status": status, "reservation_ref": order["id"], "method": "standard",
                "shipping_cents": 0, "shipping_tax_cents": 0, "carrier": None, "tracking_number": None,
                "stock_todo": None, "refund_cents": None, "updated_at": order["updated_at"],
                "shipping_tax_rate": None}
    return list(out.values())


async def ensure(conn, order: asyncpg.Record) -> None:
    """Write the legacy shipments of ``order`` (locked by the caller) when it has no shipment rows yet."""
    if await conn.fetchval("SELECT true FROM shipments WHERE order_id = $1 LIMIT 1", order["id"]):
        return
    lines = await conn.fetch("SELECT seller_id, line_no FROM order_detail WHERE order_id = $1 ORDER BY line_no",
                             order["id"])
    found = legacy(order, lines)
    await conn.executemany("""
        INSERT INTO shipments (order_id, shipment_no, seller_id, region, status, reservation_ref)
        VALUES ($1, $2, $3, $4, $5, $6)""",
                           [(s["order_id"], s["shipment_no"], s["seller_id"], s["region"], s["status"],
                             s["reservation_ref"]) for s in found])
    await conn.executemany("UPDATE order_detail SET shipment_no = $3 WHERE order_id = $1 AND seller_id = $2",
                           [(order["id"], s["seller_id"], s["shipment_no"]) for s in found])


async def set_status(conn, order_id: str, shipment_no: int, status: str, *, carrier: str | None = None,
                     tracking_number: str | None = None) -> None:
    await conn.execute("""
        UPDATE shipments SET status = $3, carrier = coalesce($4, carrier),
                             tracking_number = coalesce($5, tracking_number), updated_at = now()
        WHERE order_id = $1 AND shipment_no = $2""", order_id, shipment_no, status, carrier, tracking_number)


async def insert_history(conn, order_id: str, shipment_no: int, status: str, previous: str | None, actor: str,
                         reason: str) -> asyncpg.Record:
    """The new history row (its ``at`` dates the ShipmentStatusChanged event)."""
    return await conn.fetchrow(f"""
        INSERT INTO shipment_history (order_id, shipment_no, status, previous, actor, reason)
        VALUES ($1, $2, $3, $4, $5, $6) RETURNING {SHIPMENT_HISTORY_COLUMNS}""",
                               order_id, shipment_no, status, previous, actor, reason)


async def history_of(db, order_ids: list[str]) -> list[asyncpg.Record]:
    return await db.fetch(f"SELECT {SHIPMENT_HISTORY_COLUMNS} FROM shipment_history "
                          "WHERE order_id = ANY($1::text[]) ORDER BY order_id, shipment_no, id", order_ids)


async def set_refunded(conn, order_id: str, shipment_no: int, refund_cents: int) -> None:
    await conn.execute("""
        UPDATE shipments SET status = 'refunded', refund_cents = $3, updated_at = now()
        WHERE order_id = $1 AND shipment_no = $2""", order_id, shipment_no, refund_cents)


async def set_stock_todo(conn, order_id: str, shipment_no: int, todo: str | None) -> None:
    await conn.execute("UPDATE shipments SET stock_todo = $3, updated_at = now() "
                       "WHERE order_id = $1 AND shipment_no = $2", order_id, shipment_no, todo)


async def claim_stock_todo(conn, limit: int, older_than_seconds: float) -> list[asyncpg.Record]:
    """Shipments whose inventory call failed (left for a retry), locked for this transaction."""
    return await conn.fetch("""
        SELECT order_id, shipment_no, reservation_ref, stock_todo FROM shipments
        WHERE stock_todo IS NOT NULL AND updated_at <= now() - make_interval(secs => $2)
        ORDER BY updated_at LIMIT $1 FOR UPDATE SKIP LOCKED""", limit, older_than_seconds)


async def reservation_refs(db, order_id: str) -> list[str]:
    """The distinct reservations of an order's shipments; ``[order_id]`` when it has none written (its one
    reservation was made under the order id). Inventory calls are idempotent per reservation, so a
    whole-order call may name a refunded shipment's again."""
    rows = await db.fetch("SELECT DISTINCT reservation_ref FROM shipments WHERE order_id = $1 ORDER BY 1", order_id)
    return [r["reservation_ref"] for r in rows] or [order_id]


async def shares_reservation(db, order_id: str, shipment_no: int, ref: str) -> bool:
    """Whether another active shipment of the order holds its stock under the same reservation (orders
    placed before shipments): restocking it would put the other's units back too."""
    return bool(await db.fetchval("""
        SELECT true FROM shipments WHERE order_id = $1 AND shipment_no <> $2 AND reservation_ref = $3
          AND status NOT IN ('cancelled', 'refunded') LIMIT 1""", order_id, shipment_no, ref))


async def set_all(conn, order_id: str, status: str, *, only_active: bool = True) -> list[asyncpg.Record]:
    """Every (active) shipment of an order to ``status`` (a whole-order cancel or expiry). Returns the
    shipments that changed: shipment_no, seller_id, previous, carrier, tracking_number, at (for their
    ShipmentStatusChanged events)."""
    return await conn.fetch("""
        WITH old AS (
            SELECT shipment_no, status FROM shipments
            WHERE order_id = $1 AND status <> $2
              AND (NOT $3 OR status NOT IN ('cancelled', 'refunded', 'delivered'))
            FOR UPDATE)
        UPDATE shipments s SET status = $2, updated_at = now() FROM old
        WHERE s.order_id = $1 AND s.shipment_no = old.shipment_no
        RETURNING s.shipment_no, s.seller_id, old.status AS previous, s.carrier, s.tracking_number,
                  s.updated_at AS at""", order_id, status, only_active)


async def lines_money(db, order_id: str, shipment_no: int) -> asyncpg.Record:
    """(paid cents, tax cents) of a shipment's lines: line totals less their discounts (plus their tax
    when prices exclude it: the caller knows the order's convention)."""
    return await db.fetchrow("""
        SELECT coalesce(sum(line_total_cents - discount_cents), 0)::bigint AS net,
               coalesce(sum(tax_cents), 0)::bigint AS tax
        FROM order_detail WHERE order_id = $1 AND shipment_no = $2""", order_id, shipment_no)


def group(rows: Iterable, key: str = "order_id") -> dict[str, list]:
    out: dict[str, list] = {}
    for row in rows:
        out.setdefault(row[key], []).append(row)
    return out


async def orders_to_send(db, seller_id: int | None, order_statuses: list[str], limit: int
                         ) -> tuple[list[str], int]:
    """(the newest ``limit`` orders with a shipment of ``seller_id`` (None: anyone's) still to send —
    pending or fulfilled — in an order of ``order_statuses``, how many such shipments there are in all).
    Orders without shipment rows count one legacy shipment per seller (their status from the order's)."""
    rows = await db.fetch("""
        WITH waiting AS (
            SELECT s.order_id, count(*) AS n FROM shipments s JOIN orders o ON o.id = s.order_id
            WHERE o.status = ANY($2::text[]) AND ($1::bigint IS NULL OR s.seller_id = $1)
              AND s.status IN ('pending', 'fulfilled')
            GROUP BY s.order_id
            UNION ALL
            SELECT o.id, count(DISTINCT d.seller_id) FROM orders o JOIN order_detail d ON d.order_id = o.id
            WHERE o.status = ANY($2::text[]) AND o.status IN ('paid', 'fulfilled')
              AND ($1::bigint IS NULL OR d.seller_id = $1)
              AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = o.id)
            GROUP BY o.id)
        SELECT w.order_id, sum(w.n) OVER () AS total FROM waiting w JOIN orders o ON o.id = w.order_id
        ORDER BY o.created_at DESC, o.id LIMIT $3""", seller_id, order_statuses, limit)
    return [r["order_id"] for r in rows], int(rows[0]["total"]) if rows else 0
