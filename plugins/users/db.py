"""The users plugin's SQL. ``db`` is an asyncpg pool or connection."""
from __future__ import annotations

from datetime import datetime

import asyncpg

USER_COLUMNS = ("u.id, u.email, u.name, u.is_seller, u.is_admin, u.created_at, u.email_verified_at, u.locale, "
                "u.time_zone")


async def insert_user(db, email: str, name: str, password_hash: str, is_seller: bool,
                      locale: str | None = None) -> asyncpg.Record | None:
    """The new user, or None when the email is taken."""
    return await db.fetchrow(f"""
        INSERT INTO users AS u (email, name, password_hash, is_seller, locale) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (email) DO NOTHING RETURNING {USER_COLUMNS}""", email, name, password_hash, is_seller, locale)


async def upsert_admin(db, email: str, name: str, password_hash: str) -> int:
    """Create an admin, or give an existing user (password and name unchanged) the admin role."""
    return await db.fetchval("""
        INSERT INTO users AS u (email, name, password_hash, is_admin) VALUES ($1, $2, $3, true)
        ON CONFLICT (email) DO UPDATE SET is_admin = true RETURNING u.id""", email, name, password_hash)


async def user_by_id(db, user_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1", user_id)


async def user_with_hash(db, email: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = $1", email)


async def user_with_hash_by_id(db, user_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.id = $1", user_id)


async def set_password_hash(db, user_id: int, password_hash: str) -> None:
    await db.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)


async def list_users(db, limit: int, offset: int) -> list[asyncpg.Record]:
    return await db.fetch(f"SELECT {USER_COLUMNS} FROM users u ORDER BY u.id LIMIT $1 OFFSET $2", limit, offset)


async def role_counts(db) -> asyncpg.Record:
    return await db.fetchrow("""SELECT count(*) AS customer, count(*) FILTER (WHERE is_seller) AS seller,
                                       count(*) FILTER (WHERE is_admin) AS admin FROM users""")


async def set_seller(db, user_id: int, is_seller: bool) -> asyncpg.Record | None:
    return await db.fetchrow(f"UPDATE users AS u SET is_seller = $2 WHERE u.id = $1 RETURNING {USER_COLUMNS}",
                             user_id, is_seller)


async def seller_ids(db) -> list[int]:
    return [r["id"] for r in await db.fetch("SELECT id FROM users WHERE is_seller ORDER BY id")]


async def insert_secret(db, secret_hash: bytes, kind: str, user_id: int, expires_at: datetime) -> None:
    await db.execute("""
        INSERT INTO user_sessions (secret_hash, kind, user_id, expires_at) VALUES ($1, $2, $3, $4)""",
                     secret_hash, kind, user_id, expires_at)


async def caller_by_secret(db, secret_hash: bytes, kind: str) -> asyncpg.Record | None:
    """The owner of a live (not revoked, not expired) session or token: what an Identity holds, no more.

    Runs for every signed-in request, so it is one query (one round trip: the pool does not reset a
    clean connection) joining the secret to its user, and nothing is cached between requests: a
    revoked session or token is refused by every worker at once."""
    return await db.fetchrow("""
        SELECT u.id, u.email, u.name, u.is_seller, u.is_admin, u.locale, u.time_zone
        FROM user_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.secret_hash = $1 AND s.kind = $2 AND s.revoked_at IS NULL AND s.expires_at > now()""",
                             secret_hash, kind)


async def revoke_secret(db, secret_hash: bytes, kind: str) -> None:
    await db.execute("""
        UPDATE user_sessions SET revoked_at = now()
        WHERE secret_hash = $1 AND kind = $2 AND revoked_at IS NULL""", secret_hash, kind)


async def revoke_all_secrets(db, user_id: int, keep: bytes | None = None) -> int:
    """End every live session and token of ``user_id`` but the one whose hash is ``keep``; how many."""
    return int((await db.execute("""
        UPDATE user_sessions SET revoked_at = now()
        WHERE user_id = $1 AND revoked_at IS NULL AND secret_hash IS DISTINCT FROM $2""", user_id, keep)).split()[-1])


async def update_profile(db, user_id: int, name: str, locale: str | None, time_zone: str | None) -> asyncpg.Record | None:
    return await db.fetchrow(f"""
        UPDATE users AS u SET name = $2, locale = $3, time_zone = $4 WHERE u.id = $1 RETURNING {USER_COLUMNS}""",
                             user_id, name, locale, time_zone)


async def set_locale(db, user_id: int, locale: str) -> None:
    await db.execute("UPDATE users SET locale = $2 WHERE id = $1", user_id, locale)


async def confirm_email(db, user_id: int, email: str) -> asyncpg.Record | None:
    """Make ``email`` the account's verified address; None when another account holds it."""
    return await db.fetchrow(f"""
        UPDATE users AS u SET email = $2, email_verified_at = now() WHERE u.id = $1
          AND NOT EXISTS (SELECT 1 FROM users o WHERE o.email = $2 AND o.id <> $1)
        RETURNING {USER_COLUMNS}""", user_id, email)


async def delete_user(db, user_id: int) -> bool:
    """Delete the account; its sessions, tokens and links go with it (ON DELETE CASCADE)."""
    return await db.fetchval("DELETE FROM users WHERE id = $1 RETURNING true", user_id) is not None
