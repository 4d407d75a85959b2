"""The inventory plugin's SQL for stock, its ledger and reservations. ``db`` is an asyncpg pool or connection.

Lock order: every transaction that changes several stock rows locks them in ascending
(product_id, region) order, so two of them can never deadlock.
"""
from __future__ import annotations

from typing import NamedTuple

import asyncpg

STOCK_COLUMNS = "product_id, region, quantity, reserved, updated_at"
MOVEMENT_COLUMNS = ("id, product_id, region, quantity_delta, reserved_delta, kind, actor, reason, order_ref, "
                    "import_id, created_at")
RESERVATION_COLUMNS = "order_ref, product_id, region, quantity, status, expires_at, created_at, restocked_at"


class Move(NamedTuple):
    """One ledger row to write."""
    product_id: int
    region: str
    quantity_delta: int
    reserved_delta: int
    kind: str
    actor: str
    reason: str = ""
    order_ref: str | None = None
    import_id: int | None = None


# --- stock ---

async def stock_of(db, product_id: int) -> list[asyncpg.Record]:
    return await db.fetch(f"SELECT {STOCK_COLUMNS} FROM stock WHERE product_id = $1 ORDER BY region", product_id)


async def stock_of_many(db, product_ids: list[int]) -> list[asyncpg.Record]:
    return await db.fetch(f"SELECT {STOCK_COLUMNS} FROM stock WHERE product_id = ANY($1::bigint[])", product_ids)


async def available_many(db, product_ids: list[int], region: str | None) -> dict[int, int]:
    rows = await db.fetch("""
        SELECT product_id, sum(quantity - reserved)::bigint AS available FROM stock
        WHERE product_id = ANY($1::bigint[]) AND ($2::text IS NULL OR region = $2)
        GROUP BY product_id""", product_ids, region)
    return {r["product_id"]: r["available"] for r in rows}


async def lock_stock(conn, product_id: int, region: str) -> asyncpg.Record:
    """The row (created at 0 when missing), locked until the end of the transaction."""
    await conn.execute("INSERT INTO stock (product_id, region) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                       product_id, region)
    return await conn.fetchrow(f"SELECT {STOCK_COLUMNS} FROM stock WHERE product_id = $1 AND region = $2 FOR UPDATE",
                               product_id, region)


async def set_quantity(conn, product_id: int, region: str, quantity: int) -> asyncpg.Record:
    return await conn.fetchrow(f"""
        UPDATE stock SET quantity = $3, updated_at = now() WHERE product_id = $1 AND region = $2
        RETURNING {STOCK_COLUMNS}""", product_id, region, quantity)


async def change(conn, product_id: int, region: str, quantity_delta: int, reserved_delta: int) -> asyncpg.Record:
    """Move both counters of an existing row (the CHECKs refuse anything that would break them)."""
    return await conn.fetchrow(f"""
        UPDATE stock SET quantity = quantity + $3, reserved = reserved + $4, updated_at = now()
        WHERE product_id = $1 AND region = $2 RETURNING {STOCK_COLUMNS}""",
                               product_id, region, quantity_delta, reserved_delta)


async def reserve_units(conn, product_id: int, region: str, units: int) -> asyncpg.Record | None:
    """Reserve ``units`` if that many are available: one conditional UPDATE, None when they are not."""
    return await conn.fetchrow(f"""
        UPDATE stock SET reserved = reserved + $3, updated_at = now()
        WHERE product_id = $1 AND region = $2 AND quantity - reserved >= $3
        RETURNING {STOCK_COLUMNS}""", product_id, region, units)


async def available(db, product_id: int, region: str) -> int:
    return await db.fetchval("SELECT quantity - reserved FROM stock WHERE product_id = $1 AND region = $2",
                             product_id, region) or 0


# --- ledger ---

async def record(conn, moves: list[Move]) -> None:
    if not moves:
        return
    columns = list(zip(*moves))
    await conn.execute("""
        INSERT INTO stock_movements (product_id, region, quantity_delta, reserved_delta, kind, actor, reason,
                                     order_ref, import_id)
        SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[],
                             $7::text[], $8::text[], $9::bigint[])""", *columns)


async def movements(db, product_id: int, limit: int, before_id: int | None) -> list[asyncpg.Record]:
    return await db.fetch(f"""
        SELECT {MOVEMENT_COLUMNS} FROM stock_movements
        WHERE product_id = $1 AND ($3::bigint IS NULL OR id < $3) ORDER BY id DESC LIMIT $2""",
                          product_id, limit, before_id)


async def recent_movements(db, product_ids: list[int], limit: int) -> list[asyncpg.Record]:
    return await db.fetch(f"""
        SELECT {MOVEMENT_COLUMNS} FROM stock_movements WHERE product_id = ANY($1::bigint[])
        ORDER BY id DESC LIMIT $2""", product_ids, limit)


async def low_stock(db, product_ids: list[int], threshold: int, limit: int) -> list[asyncpg.Record]:
    """Stock rows of ``product_ids`` with at most ``threshold`` available, plus a row per product that has no
    stock anywhere (region NULL), lowest first; at most ``limit`` products."""
    return await db.fetch(f"""
        WITH low AS (
            SELECT {STOCK_COLUMNS} FROM stock WHERE product_id = ANY($1::bigint[]) AND quantity - reserved <= $2
            UNION ALL
            SELECT p, NULL, 0, 0, NULL FROM unnest($1::bigint[]) AS p
            WHERE NOT EXISTS (SELECT 1 FROM stock s WHERE s.product_id = p)),
        worst AS (SELECT product_id, min(quantity - reserved) AS lowest FROM low GROUP BY product_id
                  ORDER BY 2, 1 LIMIT $3)
        SELECT low.* FROM low JOIN worst USING (product_id)
        ORDER BY worst.lowest, low.product_id, low.region""", product_ids, threshold, limit)


# --- reservations ---

async def reservations_of(db, order_ref: str, *, lock: bool = False) -> list[asyncpg.Record]:
    return await db.fetch(f"""
        SELECT {RESERVATION_COLUMNS} FROM reservations WHERE order_ref = $1 ORDER BY product_id
        {'FOR UPDATE' if lock else ''}""", order_ref)


async def insert_reservations(conn, order_ref: str, region: str, items: list[tuple[int, int]],
                              ttl_seconds: int) -> int:
    """Rows inserted; fewer than ``items`` when the order_ref already has rows (committed by a concurrent
    call: the insert waits for it)."""
    rows = await conn.fetch("""
        INSERT INTO reservations (order_ref, product_id, region, quantity, expires_at)
        SELECT $1, p, $2, q, now() + make_interval(secs => $5)
        FROM unnest($3::bigint[], $4::integer[]) AS t(p, q)
        ON CONFLICT DO NOTHING RETURNING product_id""",
                            order_ref, region, [p for p, _ in items], [q for _, q in items], float(ttl_seconds))
    return len(rows)


async def set_status(conn, order_ref: str, product_ids: list[int], status: str) -> None:
    await conn.execute("""
        UPDATE reservations SET status = $3, updated_at = now()
        WHERE order_ref = $1 AND product_id = ANY($2::bigint[])""", order_ref, product_ids, status)


async def mark_restocked(conn, order_ref: str, product_ids: list[int]) -> None:
    await conn.execute("""
        UPDATE reservations SET restocked_at = now(), updated_at = now()
        WHERE order_ref = $1 AND product_id = ANY($2::bigint[])""", order_ref, product_ids)


async def claim_expired(conn, limit: int) -> list[asyncpg.Record]:
    """Held rows past their expiry, locked; rows another transaction holds are skipped, not waited for."""
    return await conn.fetch(f"""
        SELECT {RESERVATION_COLUMNS} FROM reservations WHERE status = 'held' AND expires_at <= now()
        ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED""", limit)


async def release_claimed(conn, keys: list[tuple[str, int]]) -> None:
    await conn.execute("""
        UPDATE reservations r SET status = 'released', updated_at = now()
        FROM unnest($1::text[], $2::bigint[]) AS k(o, p) WHERE r.order_ref = k.o AND r.product_id = k.p""",
                       [o for o, _ in keys], [p for _, p in keys])


# --- seeding ---

async def stocked(db, product_ids: list[int]) -> set[int]:
    rows = await db.fetch("SELECT DISTINCT product_id FROM stock WHERE product_id = ANY($1::bigint[])", product_ids)
    return {r["product_id"] for r in rows}


async def copy_stock(conn, rows: list[tuple[int, str, int]], actor: str, reason: str) -> None:
    """New stock rows and their 'import' movements, by COPY (the caller's transaction)."""
    await conn.copy_records_to_table("stock", records=rows, columns=["product_id", "region", "quantity"])
    await conn.copy_records_to_table(
        "stock_movements", records=[(p, r, q, 0, "import", actor, reason) for p, r, q in rows],
        columns=["product_id", "region", "quantity_delta", "reserved_delta", "kind", "actor", "reason"])
