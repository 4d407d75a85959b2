"""The vouchers plugin's SQL. ``db`` is an asyncpg pool or connection."""
from __future__ import annotations

import json
from typing import Any

import asyncpg

from .model import Discount, Redemption, Voucher

VOUCHER_COLUMNS = ("id, code, kind, percent, amount_cents, currency, min_spend_cents, starts_at, ends_at, max_uses, "
                   "max_uses_per_customer, used, seller_id, category, active, created_by, created_at")
REDEMPTION_COLUMNS = "id, voucher_id, order_ref, buyer, currency, total_cents, status, created_at, released_at"
INSERTABLE = ("code", "kind", "percent", "amount_cents", "currency", "min_spend_cents", "starts_at", "ends_at",
              "max_uses", "max_uses_per_customer", "seller_id", "category", "active", "created_by")


def as_voucher(row: asyncpg.Record) -> Voucher:
    values = {name: row[name] for name in Voucher.__dataclass_fields__}
    return Voucher(**values)


def as_redemption(row: asyncpg.Record) -> Redemption:
    return Redemption(**{name: row[name] for name in Redemption.__dataclass_fields__})


async def insert_voucher(db, fields: dict[str, Any]) -> Voucher | None:
    """None when the code is taken."""
    names = [n for n in INSERTABLE if n in fields]
    row = await db.fetchrow(f"""
        INSERT INTO vouchers ({", ".join(names)}) VALUES ({", ".join(f"${i}" for i in range(1, len(names) + 1))})
        ON CONFLICT (code) DO NOTHING RETURNING {VOUCHER_COLUMNS}""", *(fields[n] for n in names))
    return as_voucher(row) if row else None


async def voucher(db, voucher_id: int, *, lock: bool = False) -> Voucher | None:
    row = await db.fetchrow(f"SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE id = $1{' FOR UPDATE' if lock else ''}",
                            voucher_id)
    return as_voucher(row) if row else None


async def voucher_by_code(db, code: str) -> tuple[Voucher | None, Any]:
    """(the voucher or None, the database's now) — one clock for every worker."""
    row = await db.fetchrow(f"""
        SELECT now() AS now, v.* FROM (SELECT 1) one
        LEFT JOIN (SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE code = $1) v ON true""", code)
    return (as_voucher(row) if row["id"] is not None else None), row["now"]


async def vouchers(db, seller_id: int | None, limit: int, offset: int) -> list[Voucher]:
    """Newest first; ``seller_id`` None = every voucher."""
    rows = await db.fetch(f"""
        SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE $1::bigint IS NULL OR seller_id = $1
        ORDER BY id DESC LIMIT $2 OFFSET $3""", seller_id, limit, offset)
    return [as_voucher(r) for r in rows]


async def update_voucher(db, voucher_id: int, fields: dict[str, Any]) -> Voucher:
    names = list(fields)
    sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))
    row = await db.fetchrow(f"UPDATE vouchers SET {sets}, updated_at = now() WHERE id = $1 RETURNING {VOUCHER_COLUMNS}",
                            voucher_id, *(fields[n] for n in names))
    return as_voucher(row)


async def take_use(db, voucher_id: int) -> bool:
    """used += 1 unless the uses are gone or the code was switched off; the row stays locked until commit,
    so every redeem of one code counts the buyer's uses after the one before it committed."""
    return bool(await db.fetchval("""
        UPDATE vouchers SET used = used + 1
        WHERE id = $1 AND active AND (max_uses IS NULL OR used < max_uses) RETURNING true""", voucher_id))


async def give_back(db, voucher_id: int) -> None:
    await db.execute("UPDATE vouchers SET used = used - 1 WHERE id = $1 AND used > 0", voucher_id)


async def buyer_uses(db, voucher_id: int, buyer: str) -> int:
    return await db.fetchval("SELECT count(*) FROM redemptions WHERE voucher_id = $1 AND buyer = $2 "
                             "AND status = 'redeemed'", voucher_id, buyer)


async def insert_redemption(db, voucher_id: int, order_ref: str, buyer: str, currency: str,
                            discount: Discount) -> bool:
    """False when the order already carries a voucher (a concurrent redeem of the same order)."""
    return bool(await db.fetchval("""
        INSERT INTO redemptions (voucher_id, order_ref, buyer, currency, total_cents, per_line)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (order_ref) DO NOTHING RETURNING true""",
                                  voucher_id, order_ref, buyer, currency, discount.total_cents,
                                  json.dumps(discount.per_line)))


async def redemption_of(db, order_ref: str) -> asyncpg.Record | None:
    """The order's redemption with its voucher's code and the per-line split."""
    return await db.fetchrow("""
        SELECT r.status, r.voucher_id, r.total_cents, r.per_line::text AS per_line, v.code
        FROM redemptions r JOIN vouchers v ON v.id = r.voucher_id WHERE r.order_ref = $1""", order_ref)


def as_discount(row: asyncpg.Record) -> Discount:
    return Discount(row["code"], row["total_cents"], json.loads(row["per_line"]))


async def release(db, order_ref: str) -> int | None:
    """Mark the order's live redemption released; its voucher id, or None when there is none (any more)."""
    return await db.fetchval("""
        UPDATE redemptions SET status = 'released', released_at = now()
        WHERE order_ref = $1 AND status = 'redeemed' RETURNING voucher_id""", order_ref)


async def counts(db, voucher_id: int) -> tuple[int, int]:
    row = await db.fetchrow("""
        SELECT count(*) FILTER (WHERE status = 'redeemed') AS redeemed,
               count(*) FILTER (WHERE status = 'released') AS released
        FROM redemptions WHERE voucher_id = $1""", voucher_id)
    return row["redeemed"], row["released"]


async def recent_redemptions(db, voucher_id: int, limit: int) -> list[Redemption]:
    rows = await db.fetch(f"SELECT {REDEMPTION_COLUMNS} FROM redemptions WHERE voucher_id = $1 "
                          "ORDER BY id DESC LIMIT $2", voucher_id, limit)
    return [as_redemption(r) for r in rows]
