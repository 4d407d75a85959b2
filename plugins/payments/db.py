"""The payments plugin's SQL. ``db`` is an asyncpg pool or connection."""
from __future__ import annotations

import uuid

import asyncpg

DUE_CHANNEL = "payments_due"  # NOTIFYed when a payment is recorded: wakes every worker's scheduler
PAYMENT_COLUMNS = ("id, order_id, customer_id, status, amount_cents, currency, brand, last4, transaction_id, "
                   "failure_reason, created_at, processed_at, refunded_at, refunded_cents")  # never card_token
REFUND_COLUMNS = "id, order_id, payment_id, refund_ref, amount_cents, currency, reason, created_at"


async def insert_pending(db, payment_id: uuid.UUID, order_id: str, customer_id: int, amount_cents: int,
                         currency: str, brand: str | None, last4: str | None, card_token: str,
                         delay_seconds: float, traceparent: str | None = None) -> bool:
    """Record a payment due ``delay_seconds`` from now and wake the schedulers (at commit).
    False when the order already has a payment. ``traceparent``: the trace its processing continues."""
    inserted = await db.fetchval("""
        INSERT INTO payments (id, order_id, customer_id, amount_cents, currency, brand, last4, card_token, due_at,
                              traceparent)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9), $10)
        ON CONFLICT (order_id) DO NOTHING RETURNING true""",
                                 payment_id, order_id, customer_id, amount_cents, currency, brand, last4,
                                 card_token, delay_seconds, traceparent)
    if inserted:
        await db.execute(f"NOTIFY {DUE_CHANNEL}")
    return bool(inserted)


async def insert_declined(db, payment_id: uuid.UUID, order_id: str, customer_id: int | None, amount_cents: int,
                          currency: str, brand: str | None, last4: str | None, reason: str) -> bool:
    """Record a payment refused on arrival (a malformed request). False when the order already has one."""
    return bool(await db.fetchval("""
        INSERT INTO payments (id, order_id, customer_id, amount_cents, currency, brand, last4, status,
                              failure_reason, due_at, processed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, 'declined', $8, now(), now())
        ON CONFLICT (order_id) DO NOTHING RETURNING true""",
                                  payment_id, order_id, customer_id, amount_cents, currency, brand, last4, reason))


async def claim_due(db, limit: int) -> list[asyncpg.Record]:
    """Due pending payments, locked for this transaction; other workers skip them."""
    return await db.fetch("""
        SELECT id, order_id, amount_cents, currency, brand, last4, card_token, traceparent FROM payments
        WHERE status = 'pending' AND due_at <= now()
        ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED""", limit)


async def approve(db, payment_id: uuid.UUID, transaction_id: str, brand: str, last4: str) -> None:
    await db.execute("""
        UPDATE payments SET status = 'approved', transaction_id = $2, brand = $3, last4 = $4,
                            card_token = NULL, processed_at = now()
        WHERE id = $1""", payment_id, transaction_id, brand, last4)


async def decline(db, payment_id: uuid.UUID, reason: str, brand: str | None, last4: str | None) -> None:
    await db.execute("""
        UPDATE payments SET status = 'declined', failure_reason = $2, brand = coalesce($3, brand),
                            last4 = coalesce($4, last4), card_token = NULL, processed_at = now()
        WHERE id = $1""", payment_id, reason, brand, last4)


async def insert_card_key(db, key_id: uuid.UUID, wrapped: bytes, ttl_seconds: float) -> None:
    await db.execute("INSERT INTO card_keys (id, key, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))",
                     key_id, wrapped, ttl_seconds)


async def take_card_key(db, key_id: uuid.UUID) -> bytes | None:
    """Delete a token's key and return it (None when it is gone or expired): a token opens at most once,
    and only in the transaction that records what became of its payment."""
    row = await db.fetchrow("DELETE FROM card_keys WHERE id = $1 RETURNING key, expires_at > now() AS live", key_id)
    return row["key"] if row is not None and row["live"] else None


async def drop_unused_card_key(db, key_id: uuid.UUID, order_id: str, token: str) -> None:
    """Delete the key of a token that will never be used (a repeated request), unless it is the token the
    order's payment is waiting with."""
    await db.execute("""
        DELETE FROM card_keys WHERE id = $1
          AND NOT EXISTS (SELECT 1 FROM payments WHERE order_id = $2 AND card_token = $3)""", key_id, order_id, token)


async def delete_expired_card_keys(db) -> int:
    status = await db.execute("DELETE FROM card_keys WHERE expires_at <= now()")
    return int(status.split()[-1])


async def postpone(db, payment_id: uuid.UUID, seconds: float) -> None:
    await db.execute("UPDATE payments SET due_at = now() + make_interval(secs => $2) WHERE id = $1",
                     payment_id, seconds)


async def seconds_until_due(db) -> float | None:
    """Seconds until the next pending payment is due (0 if one is due now), None if none is pending.

    Clamped here, not with SQL's ``greatest(0, ...)``: GREATEST ignores NULLs, so with nothing pending it
    said 0 ("due now") and every idle scheduler polled every MIN_SLEEP (50 transactions a second each)."""
    value = await db.fetchval("""
        SELECT extract(epoch FROM min(due_at) - clock_timestamp())::float8
        FROM payments WHERE status = 'pending'""")
    return None if value is None else max(0.0, value)


async def payment_for_order(db, order_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE order_id = $1"
                             + (" FOR UPDATE" if lock else ""), order_id)


async def add_refund(db, payment_id: uuid.UUID, amount_cents: int) -> str:
    """Add a granted refund to the payment's running sum; its new status (partially_refunded | refunded).
    The table's CHECK keeps the sum within the amount paid, whatever a caller does."""
    return await db.fetchval("""
        UPDATE payments SET refunded_cents = refunded_cents + $2, refunded_at = now(),
               status = CASE WHEN refunded_cents + $2 >= amount_cents THEN 'refunded' ELSE 'partially_refunded' END
        WHERE id = $1 RETURNING status""", payment_id, amount_cents)


async def refund_granted(db, order_id: str, refund_ref: str) -> bool:
    """Whether (order_id, refund_ref) was already refunded (a repeated request)."""
    return bool(await db.fetchval("SELECT true FROM refunds WHERE order_id = $1 AND refund_ref = $2 "
                                  "AND status = 'completed'", order_id, refund_ref))


async def insert_refund(db, refund_id: uuid.UUID, order_id: str, payment_id: uuid.UUID | None, amount_cents: int,
                        currency: str, reason: str, rejection: str | None, refund_ref: str = "") -> None:
    await db.execute("""
        INSERT INTO refunds (id, order_id, payment_id, amount_cents, currency, reason, status, rejection, refund_ref)
        VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::text IS NULL THEN 'completed' ELSE 'rejected' END, $7, $8)""",
                     refund_id, order_id, payment_id, amount_cents, currency, reason, rejection, refund_ref)


async def granted_refunds(db, payment_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """The granted refunds of these payments, oldest first."""
    return await db.fetch(f"SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = ANY($1::uuid[]) "
                          "AND status = 'completed' ORDER BY created_at, id", payment_ids)


async def list_payments(db, customer_id: int | None, order_id: str | None, status: str | None,
                        limit: int, offset: int) -> list[asyncpg.Record]:
    """Newest first; each filter applies when not None."""
    return await db.fetch(f"""
        SELECT {PAYMENT_COLUMNS} FROM payments
        WHERE ($1::bigint IS NULL OR customer_id = $1) AND ($2::text IS NULL OR order_id = $2)
          AND ($3::text IS NULL OR status = $3)
        ORDER BY created_at DESC, id LIMIT $4 OFFSET $5""", customer_id, order_id, status, limit, offset)


async def counts_by_status(db) -> dict[str, int]:
    return {r["status"]: r["count"] for r in await db.fetch("SELECT status, count(*) AS count FROM payments "
                                                            "GROUP BY status")}


async def daily_summary(db, days: int, zone: str = "UTC") -> list[asyncpg.Record]:
    """Per day of processing in ``zone`` (newest first): payments approved (refunded later or not), declined,
    and refunded (in part or in full)."""
    return await db.fetch("""
        SELECT (processed_at AT TIME ZONE $2)::date AS day,
               count(*) FILTER (WHERE status IN ('approved', 'partially_refunded', 'refunded')) AS approved,
               count(*) FILTER (WHERE status = 'declined') AS declined,
               count(*) FILTER (WHERE status IN ('partially_refunded', 'refunded')) AS refunded
        FROM payments
        WHERE processed_at >= ((((now() AT TIME ZONE $2)::date - ($1::int - 1))::timestamp) AT TIME ZONE $2)
        GROUP BY 1 ORDER BY 1 DESC""", days, zone)
