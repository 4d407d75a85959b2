"""The reviews plugin's SQL. ``db`` is an asyncpg pool or connection."""
from __future__ import annotations

import asyncpg

COLUMNS = ("id, product_id, seller_id, customer_id, author, rating, body, hidden, verified, created_at, "
           "updated_at")


async def upsert(db, customer_id: int, product_id: int, seller_id: int, author: str, rating: int,
                 text: str) -> tuple[asyncpg.Record, bool]:
    """Write the customer's review of the product (one per pair: a second one edits it, keeping its
    moderation state); returns the row and whether it was new. One statement, so two tabs posting at once
    cannot make two reviews. The caller checked, under the buyer's lock, that they are a verified buyer
    (purchases.py), so the review counts (``verified``) again if a refund had stopped it."""
    row = await db.fetchrow(f"""
        INSERT INTO reviews (customer_id, product_id, seller_id, author, rating, body, verified)
        VALUES ($1, $2, $3, $4, $5, $6, true)
        ON CONFLICT (customer_id, product_id) DO UPDATE
           SET rating = excluded.rating, body = excluded.body, author = excluded.author, verified = true,
               updated_at = now()
        RETURNING {COLUMNS}, (xmax = 0) AS inserted""", customer_id, product_id, seller_id, author, rating, text)
    return row, row["inserted"]


async def by_id(db, review_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {COLUMNS} FROM reviews WHERE id = $1", review_id)


async def own(db, customer_id: int, product_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {COLUMNS} FROM reviews WHERE customer_id = $1 AND product_id = $2",
                             customer_id, product_id)


async def visible(db, product_id: int, limit: int, offset: int) -> list[asyncpg.Record]:
    """Shown to everyone: not hidden by a moderator and its author still a verified buyer."""
    return await db.fetch(f"SELECT {COLUMNS} FROM reviews WHERE product_id = $1 AND NOT hidden AND verified "
                          "ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3", product_id, limit, offset)


async def summaries(db, product_ids: list[int]) -> list[asyncpg.Record]:
    """count and average of the visible reviews of each product that has any: one query for a whole page."""
    return await db.fetch("SELECT product_id, count(*) AS count, avg(rating)::float8 AS average FROM reviews "
                          "WHERE product_id = ANY($1::bigint[]) AND NOT hidden AND verified GROUP BY product_id",
                          product_ids)


async def set_hidden(db, review_id: int, hidden: bool, actor: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"UPDATE reviews SET hidden = $2, moderated_by = $3 WHERE id = $1 RETURNING {COLUMNS}",
                             review_id, hidden, actor)


async def for_moderation(db, seller_id: int | None, hidden: bool | None, limit: int,
                         offset: int) -> list[asyncpg.Record]:
    """Newest first (then by id: a stable order for paging); a seller's (``seller_id``) or every review
    (None: admins), whether or not they count (``verified``)."""
    return await db.fetch(f"""
        SELECT {COLUMNS} FROM reviews
         WHERE ($1::bigint IS NULL OR seller_id = $1) AND ($2::boolean IS NULL OR hidden = $2)
         ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4""", seller_id, hidden, limit, offset)


async def of_customer(db, customer_id: int) -> list[asyncpg.Record]:
    return await db.fetch(f"SELECT {COLUMNS} FROM reviews WHERE customer_id = $1 ORDER BY id", customer_id)


async def forget_customer(db, customer_id: int) -> None:
    await db.execute("DELETE FROM reviews WHERE customer_id = $1", customer_id)
    await db.execute("DELETE FROM purchases WHERE customer_id = $1", customer_id)


async def forget_product(db, product_id: int) -> None:
    await db.execute("DELETE FROM reviews WHERE product_id = $1", product_id)
    await db.execute("DELETE FROM purchases WHERE product_id = $1", product_id)
