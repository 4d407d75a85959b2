"""Single-use links mailed to a user (email verification, password reset).

The secret travels only in the link; the database keeps its SHA-256, so a copy of the table opens no
account. A link is consumed by one conditional UPDATE (unused and unexpired, RETURNING its row): two
clicks racing each other cannot both succeed.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone

import asyncpg

VERIFY, RESET = "verify", "reset"
VERIFY_TTL = timedelta(hours=48)
RESET_TTL = timedelta(hours=1)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _usable(secret: object) -> bool:
    """We only issue short ASCII secrets: anything else cannot be one (and must not reach the hash)."""
    return isinstance(secret, str) and secret.isascii() and 0 < len(secret) <= 100


async def issue(conn, purpose: str, user_id: int, email: str, ttl: timedelta) -> tuple[str, datetime]:
    """A new link secret for ``user_id`` (``email``: the address it was sent to) and its expiry."""
    secret = secrets.token_urlsafe(32)
    expires_at = datetime.now(timezone.utc) + ttl
    await conn.execute("""INSERT INTO user_tokens (token_hash, purpose, user_id, email, expires_at)
                          VALUES ($1, $2, $3, $4, $5)""", digest(secret), purpose, user_id, email, expires_at)
    return secret, expires_at


async def peek(db, secret: object, purpose: str) -> asyncpg.Record | None:
    """The live link's (user_id, email) without using it up: to show a form before the click that counts."""
    if not _usable(secret):
        return None
    return await db.fetchrow("""SELECT user_id, email FROM user_tokens WHERE token_hash = $1 AND purpose = $2
                                AND used_at IS NULL AND expires_at > now()""", digest(secret), purpose)


async def consume(conn, secret: object, purpose: str) -> asyncpg.Record | None:
    """Use the link up: its (user_id, email), or None if it is unknown, used or expired."""
    if not _usable(secret):
        return None
    return await conn.fetchrow("""UPDATE user_tokens SET used_at = now()
                                  WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
                                  RETURNING user_id, email""", digest(secret), purpose)


async def kill_all(conn, user_id: int, purpose: str | None = None) -> None:
    """Every unused link of ``user_id`` (of one ``purpose``, or all) dies: after a reset, none of the old
    links may set the password again."""
    await conn.execute("""UPDATE user_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL
                          AND ($2::text IS NULL OR purpose = $2)""", user_id, purpose)
