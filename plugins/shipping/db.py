"""The SQL of the seller_rates table (the shop's own rates live in the data file, not here)."""
from __future__ import annotations

from typing import Sequence

import asyncpg

from .table import Rate

COLUMNS = "zone, method, currency, base_cents, per_kg_cents, free_above_cents"


def _rate(row: asyncpg.Record) -> Rate:
    return Rate(row["zone"], row["method"], row["currency"].strip(), row["base_cents"], row["per_kg_cents"],
                row["free_above_cents"])


async def seller_rates(pool: asyncpg.Pool, seller_id: int) -> list[Rate]:
    rows = await pool.fetch(f"SELECT {COLUMNS} FROM seller_rates WHERE seller_id = $1 "
                            "ORDER BY zone, method, currency", seller_id)
    return [_rate(r) for r in rows]


async def seller_rate(pool: asyncpg.Pool, seller_id: int, zone: str, method: str, currency: str) -> Rate | None:
    row = await pool.fetchrow(f"SELECT {COLUMNS} FROM seller_rates WHERE seller_id = $1 AND zone = $2 "
                              "AND method = $3 AND currency = $4", seller_id, zone, method, currency)
    return _rate(row) if row else None


async def replace_rates(pool: asyncpg.Pool, seller_id: int, rates: Sequence[Rate]) -> None:
    """The seller's whole set, swapped in one transaction (readers see the old set or the new one)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM seller_rates WHERE seller_id = $1", seller_id)
        await conn.executemany(
            f"INSERT INTO seller_rates (seller_id, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(seller_id, r.zone, r.method, r.currency, r.base_cents, r.per_kg_cents, r.free_above_cents)
             for r in rates])


async def upsert_rate(pool: asyncpg.Pool, seller_id: int, r: Rate) -> None:
    await pool.execute(
        f"INSERT INTO seller_rates (seller_id, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (seller_id, zone, method, currency) DO UPDATE SET base_cents = EXCLUDED.base_cents, "
        "per_kg_cents = EXCLUDED.per_kg_cents, free_above_cents = EXCLUDED.free_above_cents, updated_at = now()",
        seller_id, r.zone, r.method, r.currency, r.base_cents, r.per_kg_cents, r.free_above_cents)


async def delete_rate(pool: asyncpg.Pool, seller_id: int, zone: str, method: str, currency: str) -> bool:
    status = await pool.execute("DELETE FROM seller_rates WHERE seller_id = $1 AND zone = $2 AND method = $3 "
                                "AND currency = $4", seller_id, zone, method, currency)
    return status != "DELETE 0"
