"""The addresses plugin's SQL. ``db`` is an asyncpg pool or connection."""
from __future__ import annotations

import asyncpg

from .model import FIELDS, Address

COLUMNS = "id, " + ", ".join(FIELDS) + ", is_default_shipping, is_default_billing"
DEFAULT_COLUMN = {"shipping": "is_default_shipping", "billing": "is_default_billing"}


async def lock_book(db, user_id: int) -> int:
    """Create the user's book row if needed and lock it for this transaction (serialises the user's
    writes, so the size limit and the single defaults hold); returns how many addresses it holds."""
    await db.execute("""
        INSERT INTO address_books (user_id) VALUES ($1)
        ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id""", user_id)
    return await db.fetchval("SELECT count(*) FROM addresses WHERE user_id = $1", user_id)


async def list_for(db, user_id: int) -> list[asyncpg.Record]:
    return await db.fetch(f"SELECT {COLUMNS} FROM addresses WHERE user_id = $1 ORDER BY id", user_id)


async def fetch(db, user_id: int, address_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {COLUMNS} FROM addresses WHERE user_id = $1 AND id = $2",
                             user_id, address_id)


async def has_default(db, user_id: int, kind: str) -> bool:
    return bool(await db.fetchval(
        f"SELECT true FROM addresses WHERE user_id = $1 AND {DEFAULT_COLUMN[kind]}", user_id))


async def insert(db, user_id: int, address: Address) -> int:
    values = [getattr(address, name) for name in FIELDS]
    placeholders = ", ".join(f"${i}" for i in range(2, len(FIELDS) + 2))
    return await db.fetchval(
        f"INSERT INTO addresses (user_id, {', '.join(FIELDS)}) VALUES ($1, {placeholders}) RETURNING id",
        user_id, *values)


async def update(db, user_id: int, address_id: int, address: Address) -> None:
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(FIELDS, start=3))
    await db.execute(f"UPDATE addresses SET {sets}, updated_at = now() WHERE user_id = $1 AND id = $2",
                     user_id, address_id, *[getattr(address, name) for name in FIELDS])


async def set_default(db, user_id: int, address_id: int, kind: str, on: bool) -> None:
    """Make the address the user's default of ``kind`` (clearing the previous one), or stop it being so."""
    column = DEFAULT_COLUMN[kind]
    if on:
        await db.execute(f"UPDATE addresses SET {column} = false WHERE user_id = $1 AND {column} AND id <> $2",
                         user_id, address_id)
    await db.execute(f"UPDATE addresses SET {column} = $3 WHERE user_id = $1 AND id = $2", user_id, address_id, on)


async def delete_book(db, user_id: int) -> int:
    """Delete the user's whole address book (its row locked first, so an add holding it finishes first);
    returns how many addresses went. Deleting a book that is not there deletes nothing."""
    await db.execute("SELECT 1 FROM address_books WHERE user_id = $1 FOR UPDATE", user_id)
    deleted = await db.fetchval("WITH gone AS (DELETE FROM addresses WHERE user_id = $1 RETURNING 1) "
                                "SELECT count(*) FROM gone", user_id)
    await db.execute("DELETE FROM address_books WHERE user_id = $1", user_id)
    return deleted


async def delete(db, user_id: int, address_id: int) -> bool:
    return await db.fetchval("DELETE FROM addresses WHERE user_id = $1 AND id = $2 RETURNING true",
                             user_id, address_id) is not None
