"""The invoices plugin's SQL. ``db`` is an asyncpg pool or connection."""
from __future__ import annotations

import hashlib
import json

import asyncpg

COLUMNS = ("id, kind, number, series, year, seq, seller_id, customer_id, order_id, invoice_id, shipments, currency, "
           "net_cents, tax_cents, total_cents, locale, reason, document, issued_at")
PROFILE_FIELDS = ("legal_name", "tax_id", "line1", "line2", "city", "postal_code", "region", "country")


def order_lock_key(order_id: str) -> int:
    """A stable signed 64-bit advisory lock key per order: its paid, refunded and cancelled events are
    applied one at a time, so an invoice and its credit notes are never issued twice in a race."""
    return int.from_bytes(hashlib.sha256(f"invoices:{order_id}".encode()).digest()[:8], "big", signed=True)


async def lock_order(conn, order_id: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", order_lock_key(order_id))


async def next_number(conn, seller_id: int, series: str, year: int) -> int:
    """Take the next number of a series: the counter row stays locked until the transaction ends, so a
    number is used only by a document committed with it (gap-free), and never twice."""
    return await conn.fetchval("""
        INSERT INTO invoice_counters (seller_id, series, year, last_no) VALUES ($1, $2, $3, 1)
        ON CONFLICT (seller_id, series, year) DO UPDATE SET last_no = invoice_counters.last_no + 1
        RETURNING last_no""", seller_id, series, year)


async def insert(conn, *, kind: str, number: str, series: str, year: int, seq: int, seller_id: int,
                 customer_id: int | None, order_id: str, invoice_id: int | None, shipments: list[int],
                 currency: str, net: int, tax: int, total: int, locale: str | None, reason: str,
                 document: dict, issued_at) -> asyncpg.Record:
    return await conn.fetchrow(f"""
        INSERT INTO invoices (kind, number, series, year, seq, seller_id, customer_id, order_id, invoice_id,
                              shipments, currency, net_cents, tax_cents, total_cents, locale, reason, document,
                              issued_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::jsonb, $18)
        RETURNING {COLUMNS}""", kind, number, series, year, seq, seller_id, customer_id, order_id, invoice_id,
                               shipments, currency, net, tax, total, locale, reason, json.dumps(document), issued_at)


async def invoices_of_order(conn, order_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {COLUMNS} FROM invoices WHERE order_id = $1 AND kind = 'invoice' "
                            "ORDER BY seller_id", order_id)


async def credited_shipments(conn, invoice_id: int) -> set[int]:
    rows = await conn.fetch("SELECT shipments FROM invoices WHERE invoice_id = $1", invoice_id)
    return {n for r in rows for n in r["shipments"]}


async def get(db, document_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {COLUMNS} FROM invoices WHERE id = $1", document_id)


async def listing(db, *, customer_id: int | None, seller_id: int | None, order_id: str | None,
                  limit: int, offset: int) -> list[asyncpg.Record]:
    """Newest first; each filter applies when not None (no filter at all: an admin's list)."""
    return await db.fetch(f"""
        SELECT {COLUMNS} FROM invoices
        WHERE ($1::bigint IS NULL OR customer_id = $1) AND ($2::bigint IS NULL OR seller_id = $2)
          AND ($3::text IS NULL OR order_id = $3)
        ORDER BY id DESC LIMIT $4 OFFSET $5""", customer_id, seller_id, order_id, limit, offset)


async def profile(db, seller_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT seller_id, {', '.join(PROFILE_FIELDS)}, updated_at FROM seller_profiles "
                             "WHERE seller_id = $1", seller_id)


async def save_profile(db, seller_id: int, values: dict[str, str]) -> None:
    cols = ", ".join(PROFILE_FIELDS)
    params = ", ".join(f"${i}" for i in range(2, len(PROFILE_FIELDS) + 2))
    updates = ", ".join(f"{c} = excluded.{c}" for c in PROFILE_FIELDS)
    await db.execute(f"INSERT INTO seller_profiles (seller_id, {cols}) VALUES ($1, {params}) "
                     f"ON CONFLICT (seller_id) DO UPDATE SET {updates}, updated_at = now()",
                     seller_id, *(values[c] for c in PROFILE_FIELDS))
