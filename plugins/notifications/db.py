"""The SQL of the messages table: enqueue (deduplicated), claim with a lease, and the three outcomes."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

COLUMNS = "id, kind, user_id, recipient, locale, subject, text_body, html_body, status, attempts, last_error, " \
          "message_id, created_at, sent_at"


@dataclass(frozen=True)
class Draft:
    dedupe_key: str
    kind: str
    user_id: int | None
    recipient: str
    locale: str
    subject: str
    text_body: str
    html_body: str
    message_id: str


async def enqueue(conn: asyncpg.Connection, d: Draft) -> int | None:
    """The new message's id; None when this event already made this mail for this recipient."""
    return await conn.fetchval(
        "INSERT INTO messages (dedupe_key, kind, user_id, recipient, locale, subject, text_body, html_body, message_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        d.dedupe_key, d.kind, d.user_id, d.recipient, d.locale, d.subject, d.text_body, d.html_body, d.message_id)


async def claim(pool: asyncpg.Pool, token: uuid.UUID, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
    """Due messages no other relay holds, leased to ``token`` (committed before anything is sent)."""
    return await pool.fetch(
        f"""UPDATE messages SET lease_token = $1, lease_until = now() + make_interval(secs => $3),
                               attempts = attempts + 1
            WHERE id IN (SELECT id FROM messages
                         WHERE status = 'pending' AND next_attempt_at <= now()
                           AND (lease_until IS NULL OR lease_until < now())
                         ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING {COLUMNS}""", token, limit, lease_seconds)


async def mark_sent(pool: asyncpg.Pool, message_id: int, token: uuid.UUID) -> bool:
    return await pool.fetchval(
        "UPDATE messages SET status = 'sent', sent_at = now(), lease_token = NULL, lease_until = NULL,"
        " last_error = NULL WHERE id = $1 AND lease_token = $2 RETURNING true", message_id, token) or False


async def mark_sent_many(pool: asyncpg.Pool, message_ids: list[int], token: uuid.UUID) -> set[int]:
    """Mark the messages sent that ``token`` still holds (one round trip for a batch); their ids."""
    rows = await pool.fetch(
        "UPDATE messages SET status = 'sent', sent_at = now(), lease_token = NULL, lease_until = NULL,"
        " last_error = NULL WHERE id = ANY($1::bigint[]) AND lease_token = $2 RETURNING id", message_ids, token)
    return {r["id"] for r in rows}


async def release(pool: asyncpg.Pool, message_ids: list[int], token: uuid.UUID) -> None:
    """Hand back claimed messages that were not tried (a relay stopping mid-batch): due again at once
    for any relay, and the claim's attempt is not counted."""
    await pool.execute("UPDATE messages SET lease_token = NULL, lease_until = NULL, attempts = attempts - 1"
                       " WHERE id = ANY($1::bigint[]) AND lease_token = $2", message_ids, token)


async def mark_retry(pool: asyncpg.Pool, message_id: int, token: uuid.UUID, delay: float, error: str) -> None:
    await pool.execute(
        "UPDATE messages SET next_attempt_at = now() + make_interval(secs => $3), lease_token = NULL,"
        " lease_until = NULL, last_error = $4 WHERE id = $1 AND lease_token = $2", message_id, token, delay, error)


async def mark_failed(pool: asyncpg.Pool, message_id: int, token: uuid.UUID, error: str) -> bool:
    return await pool.fetchval(
        "UPDATE messages SET status = 'failed', lease_token = NULL, lease_until = NULL, last_error = $3"
        " WHERE id = $1 AND lease_token = $2 RETURNING true", message_id, token, error) or False


async def for_user(pool: asyncpg.Pool, user_id: int, limit: int = 100) -> list[asyncpg.Record]:
    return await pool.fetch(f"SELECT {COLUMNS} FROM messages WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
                            user_id, limit)


async def one_for_user(pool: asyncpg.Pool, user_id: int, message_id: int) -> asyncpg.Record | None:
    return await pool.fetchrow(f"SELECT {COLUMNS} FROM messages WHERE id = $1 AND user_id = $2",
                               message_id, user_id)
