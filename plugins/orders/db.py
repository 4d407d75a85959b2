"""The orders plugin's SQL for orders, lines, history and idempotency keys (carts: cart_db.py).

``db`` is an asyncpg pool or connection; functions named ``*_locked`` or taking ``conn`` need a
transaction.
"""
from __future__ import annotations

from typing import Iterable

import asyncpg

ORDER_COLUMNS = ("id, customer_id, status, region, total_cents, currency, card_brand, card_last4, failure_reason, "
                 "expires_at, created_at, updated_at")
LINE_COLUMNS = "order_id, product_id, seller_id, name, unit_price_cents, quantity, line_total_cents"
HISTORY_COLUMNS = "order_id, status, previous, actor, reason, at"


async def advisory_lock(conn, key: int) -> None:
    """Serialize transactions on ``key`` (a signed 64-bit hash) until this transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1::bigint)", key)


async def find_key(db, customer_id: int, key: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT request_hash, order_id FROM idempotency_keys WHERE customer_id = $1 AND key = $2",
                             customer_id, key)


async def insert_key(conn, customer_id: int, key: str, request_hash: str, order_id: str) -> None:
    await conn.execute("INSERT INTO idempotency_keys (customer_id, key, request_hash, order_id) "
                       "VALUES ($1, $2, $3, $4)", customer_id, key, request_hash, order_id)


async def insert_order(conn, order_id: str, customer_id: int, region: str, total_cents: int, currency: str,
                       brand: str | None, last4: str | None, ttl_seconds: int) -> None:
    await conn.execute("""
        INSERT INTO orders (id, customer_id, status, region, total_cents, currency, card_brand, card_last4, expires_at)
        VALUES ($1, $2, 'pending_payment', $3, $4, $5, $6, $7, now() + make_interval(secs => $8))""",
                       order_id, customer_id, region, total_cents, currency, brand, last4, ttl_seconds)


async def insert_lines(conn, order_id: str, lines: list[tuple[int, int, str, int, int]]) -> None:
    """``lines``: (product_id, seller_id, name, unit_price_cents, quantity), numbered in this order."""
    columns = list(zip(*lines))
    await conn.execute("""
        INSERT INTO order_detail (order_id, line_no, product_id, seller_id, name, unit_price_cents, quantity,
                                  line_total_cents)
        SELECT $1, n, p, s, name, price, q, price * q
        FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::integer[])
             WITH ORDINALITY AS t(p, s, name, price, q, n)""", order_id, *columns)


async def insert_history(conn, order_id: str, status: str, previous: str | None, actor: str,
                         reason: str) -> asyncpg.Record:
    return await conn.fetchrow(f"""
        INSERT INTO order_history (order_id, status, previous, actor, reason) VALUES ($1, $2, $3, $4, $5)
        RETURNING {HISTORY_COLUMNS}""", order_id, status, previous, actor, reason)


async def get_order(db, order_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {ORDER_COLUMNS}, stock_todo, refund_requested_at FROM orders WHERE id = $1"
                             + (" FOR UPDATE" if lock else ""), order_id)


async def set_status(conn, order_id: str, status: str, *, payment_id: str | None = None,
                     transaction_id: str | None = None, failure_reason: str | None = None) -> None:
    await conn.execute("""
        UPDATE orders SET status = $2, payment_id = coalesce($3, payment_id),
                          transaction_id = coalesce($4, transaction_id),
                          failure_reason = coalesce($5, failure_reason), updated_at = now()
        WHERE id = $1""", order_id, status, payment_id, transaction_id, failure_reason)


async def set_stock_todo(conn, order_id: str, todo: str | None) -> None:
    await conn.execute("UPDATE orders SET stock_todo = $2, updated_at = now() WHERE id = $1", order_id, todo)


async def mark_refund_requested(conn, order_id: str) -> None:
    await conn.execute("UPDATE orders SET refund_requested_at = now() WHERE id = $1", order_id)


async def lines_of(db, order_ids: list[str], seller_id: int | None = None) -> list[asyncpg.Record]:
    return await db.fetch(f"""
        SELECT {LINE_COLUMNS} FROM order_detail
        WHERE order_id = ANY($1::text[]) AND ($2::bigint IS NULL OR seller_id = $2)
        ORDER BY order_id, line_no""", order_ids, seller_id)


async def history_of(db, order_ids: list[str]) -> list[asyncpg.Record]:
    return await db.fetch(f"SELECT {HISTORY_COLUMNS} FROM order_history WHERE order_id = ANY($1::text[]) "
                          "ORDER BY order_id, id", order_ids)


async def seller_has_lines(db, order_id: str, seller_id: int) -> bool:
    return bool(await db.fetchval("SELECT true FROM order_detail WHERE order_id = $1 AND seller_id = $2 LIMIT 1",
                                  order_id, seller_id))


async def list_orders(db, *, customer_id: int | None, seller_id: int | None, status: str | None,
                      limit: int, offset: int) -> list[asyncpg.Record]:
    """Newest first. ``customer_id``: that customer's; ``seller_id``: orders with that seller's lines;
    neither: everyone's. ``status`` filters when given."""
    if seller_id is not None:
        return await db.fetch(f"""
            SELECT {ORDER_COLUMNS} FROM orders
            WHERE id IN (SELECT order_id FROM order_detail WHERE seller_id = $1)
              AND ($2::text IS NULL OR status = $2)
            ORDER BY created_at DESC, id LIMIT $3 OFFSET $4""", seller_id, status, limit, offset)
    return await db.fetch(f"""
        SELECT {ORDER_COLUMNS} FROM orders
        WHERE ($1::bigint IS NULL OR customer_id = $1) AND ($2::text IS NULL OR status = $2)
        ORDER BY created_at DESC, id LIMIT $3 OFFSET $4""", customer_id, status, limit, offset)


async def claim_expired(conn, limit: int) -> list[asyncpg.Record]:
    """Unpaid orders past their expiry, locked for this transaction; other workers skip them."""
    return await conn.fetch(f"""
        SELECT {ORDER_COLUMNS}, stock_todo, refund_requested_at FROM orders
        WHERE status = 'pending_payment' AND expires_at <= now()
        ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED""", limit)


async def claim_stock_todo(conn, limit: int, older_than_seconds: float) -> list[asyncpg.Record]:
    """Orders whose inventory call failed (left for a retry), locked for this transaction."""
    return await conn.fetch("""
        SELECT id, stock_todo FROM orders
        WHERE stock_todo IS NOT NULL AND updated_at <= now() - make_interval(secs => $2)
        ORDER BY updated_at LIMIT $1 FOR UPDATE SKIP LOCKED""", limit, older_than_seconds)


# --- dashboards (read-only): days of ordering in the reader's time zone (``zone``, an IANA name), the last
# ``days`` of them including today ---

def _since(days: str, zone: str) -> str:
    """The start of the first of the last ``days`` days in ``zone`` (both SQL parameters)."""
    return f"((((now() AT TIME ZONE {zone})::date - ({days}::int - 1))::timestamp) AT TIME ZONE {zone})"


async def sales_by_day(db, seller_id: int | None, days: int, statuses: list[str],
                       zone: str = "UTC") -> list[asyncpg.Record]:
    """(day, currency, revenue_cents, units) of the lines of ``seller_id`` (None: everyone's) in orders now in
    one of ``statuses``, oldest day first."""
    return await db.fetch(f"""
        SELECT (o.created_at AT TIME ZONE $4)::date AS day, o.currency, sum(d.line_total_cents)::bigint AS revenue,
               sum(d.quantity)::bigint AS units
        FROM orders o JOIN order_detail d ON d.order_id = o.id
        WHERE o.created_at >= {_since("$1", "$4")} AND o.status = ANY($3::text[])
          AND ($2::bigint IS NULL OR d.seller_id = $2)
        GROUP BY 1, 2 ORDER BY 1, 2""", days, seller_id, statuses, zone)


async def status_counts_by_day(db, days: int, zone: str = "UTC") -> list[asyncpg.Record]:
    """(day, status, count) of the orders placed each day, by their status now, oldest day first."""
    return await db.fetch(f"""
        SELECT (created_at AT TIME ZONE $2)::date AS day, status, count(*) AS count FROM orders
        WHERE created_at >= {_since("$1", "$2")} GROUP BY 1, 2 ORDER BY 1, 2""", days, zone)


async def counts_by_status(db, seller_id: int | None) -> dict[str, int]:
    """status -> number of orders (with lines of ``seller_id`` when given), all time."""
    if seller_id is not None:
        rows = await db.fetch("""
            SELECT status, count(*) AS count FROM orders
            WHERE id IN (SELECT order_id FROM order_detail WHERE seller_id = $1) GROUP BY status""", seller_id)
    else:
        rows = await db.fetch("SELECT status, count(*) AS count FROM orders GROUP BY status")
    return {r["status"]: r["count"] for r in rows}


def group(rows: Iterable[asyncpg.Record], key: str = "order_id") -> dict[str, list[asyncpg.Record]]:
    out: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        out.setdefault(row[key], []).append(row)
    return out


async def delete_old_idempotency_keys(db, days: int) -> int:
    status = await db.execute("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(days => $1)",
                              days)
    return int(status.split()[-1])


# --- checkout with shipments (issue 10): the order's money breakdown and addresses are copies ---

async def insert_priced_order(conn, order_id: str, *, customer_id: int | None, email: str | None, region: str,
                              currency: str, money: dict[str, int], prices_include_tax: bool,
                              voucher_code: str | None, ship_to: str, bill_to: str | None, brand: str | None,
                              last4: str | None, ttl_seconds: int, locale: str | None = None) -> None:
    """``money``: subtotal, discount, shipping, tax and total cents; ``ship_to``/``bill_to``: JSON text;
    ``locale``: the buyer's language at checkout."""
    await conn.execute("""
        INSERT INTO orders (id, customer_id, email, status, region, total_cents, currency, card_brand, card_last4,
                            expires_at, subtotal_cents, discount_cents, shipping_cents, tax_cents,
                            prices_include_tax, voucher_code, ship_to, bill_to, locale)
        VALUES ($1, $2, $3, 'pending_payment', $4, $5, $6, $7, $8, now() + make_interval(secs => $9),
                $10, $11, $12, $13, $14, $15, $16::jsonb, $17::jsonb, $18)""",
                       order_id, customer_id, email, region, money["total"], currency, brand, last4, ttl_seconds,
                       money["subtotal"], money["discount"], money["shipping"], money["tax"], prices_include_tax,
                       voucher_code, ship_to, bill_to, locale)


async def insert_priced_lines(conn, order_id: str, lines: list[tuple]) -> None:
    """``lines``: (product_id, seller_id, name, unit_price_cents, quantity, shipment_no, tax_class,
    discount_cents, tax_cents, weight_grams, tax_rate percent), numbered in this order."""
    await conn.executemany("""
        INSERT INTO order_detail (order_id, line_no, product_id, seller_id, name, unit_price_cents, quantity,
                                  line_total_cents, shipment_no, tax_class, discount_cents, tax_cents, weight_grams,
                                  tax_rate)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)""",
                           [(order_id, n, *line[:5], line[3] * line[4], *line[5:])
                            for n, line in enumerate(lines, start=1)])
