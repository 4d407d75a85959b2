"""The SQL of the webhooks tables: endpoints, deliveries (outbox with a lease), attempts (log), inbound secrets."""
from __future__ import annotations

import uuid

import asyncpg

ENDPOINT = ("id, owner_id, scope, url, description, event_types, enabled, disabled_reason, disabled_at, "
            "consecutive_failures, failing_since, created_at")
DELIVERY = ("d.id, d.endpoint_id, d.event_id, d.event_type, d.status, d.attempts, d.next_attempt_at, d.give_up_at, "
            "d.last_status, d.last_error, d.created_at, d.delivered_at")


async def add_endpoint(pool: asyncpg.Pool, owner_id: int, scope: str, url: str, description: str,
                       event_types: list[str], sealed: str) -> asyncpg.Record:
    return await pool.fetchrow(
        f"INSERT INTO endpoints (owner_id, scope, url, description, event_types, secret) VALUES ($1, $2, $3, $4, $5, $6)"
        f" RETURNING {ENDPOINT}", owner_id, scope, url, description, event_types, sealed)


async def endpoints(pool: asyncpg.Pool, owner_id: int | None) -> list[asyncpg.Record]:
    """Every endpoint (owner_id None: an admin's view) or one owner's, newest first."""
    return await pool.fetch(f"SELECT {ENDPOINT} FROM endpoints WHERE $1::bigint IS NULL OR owner_id = $1 "
                            "ORDER BY id DESC LIMIT 500", owner_id)


async def endpoint(pool: asyncpg.Pool, endpoint_id: int) -> asyncpg.Record | None:
    return await pool.fetchrow(f"SELECT {ENDPOINT} FROM endpoints WHERE id = $1", endpoint_id)


async def delete_endpoint(pool: asyncpg.Pool, endpoint_id: int) -> None:
    await pool.execute("DELETE FROM endpoints WHERE id = $1", endpoint_id)


async def enable(pool: asyncpg.Pool, endpoint_id: int) -> None:
    await pool.execute("UPDATE endpoints SET enabled = true, disabled_reason = NULL, disabled_at = NULL, "
                       "consecutive_failures = 0, failing_since = NULL WHERE id = $1", endpoint_id)


async def subscribers(conn: asyncpg.Connection, event_type: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT id, scope, owner_id FROM endpoints WHERE enabled AND $1 = ANY(event_types)",
                            event_type)


async def enqueue(conn: asyncpg.Connection, endpoint_ids: list[int], event_id: uuid.UUID, event_type: str,
                  body: str, give_up_seconds: float) -> int:
    """One delivery per endpoint (one statement); an event already queued for an endpoint is skipped."""
    rows = await conn.fetch(
        "INSERT INTO deliveries (endpoint_id, event_id, event_type, body, give_up_at)"
        " SELECT e, $2, $3, $4, now() + make_interval(secs => $5) FROM unnest($1::bigint[]) AS e"
        " ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING id",
        endpoint_ids, event_id, event_type, body, give_up_seconds)
    return len(rows)


async def claim(pool: asyncpg.Pool, token: uuid.UUID, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
    """Due deliveries of enabled endpoints that no other relay holds, leased to ``token`` (committed first)."""
    return await pool.fetch(
        """UPDATE deliveries d SET lease_token = $1, lease_until = now() + make_interval(secs => $3),
                                   attempts = d.attempts + 1
           FROM endpoints e
           WHERE e.id = d.endpoint_id AND d.id IN (
               SELECT x.id FROM deliveries x JOIN endpoints y ON y.id = x.endpoint_id AND y.enabled
               WHERE x.status = 'pending' AND x.next_attempt_at <= now()
                 AND (x.lease_until IS NULL OR x.lease_until < now())
               ORDER BY x.next_attempt_at, x.id LIMIT $2 FOR UPDATE OF x SKIP LOCKED)
           RETURNING d.id, d.endpoint_id, d.event_id, d.body, d.attempts, d.manual, d.give_up_at < now() AS expired,
                     e.url, e.secret""", token, limit, lease_seconds)


async def log_attempt(conn: asyncpg.Connection, delivery_id: int, status: int | None, latency_ms: int,
                      error: str | None, manual: bool) -> None:
    await conn.execute("INSERT INTO attempts (delivery_id, status_code, latency_ms, error, manual)"
                       " VALUES ($1, $2, $3, $4, $5)", delivery_id, status, latency_ms, error, manual)


async def delivered(conn: asyncpg.Connection, delivery_id: int, endpoint_id: int, token: uuid.UUID,
                    status: int) -> bool:
    done = await conn.fetchval(
        "UPDATE deliveries SET status = 'delivered', delivered_at = now(), last_status = $3, last_error = NULL,"
         " lease_token = NULL, lease_until = NULL, manual = false WHERE id = $1 AND lease_token = $2 RETURNING true",
        delivery_id, token, status)
    await conn.execute("UPDATE endpoints SET consecutive_failures = 0, failing_since = NULL WHERE id = $1"
                       " AND consecutive_failures > 0", endpoint_id)
    return bool(done)


async def failed(conn: asyncpg.Connection, delivery_id: int, token: uuid.UUID, status: int | None, error: str,
                 retry_in: float | None) -> None:
    """Back off (``retry_in`` seconds) or, with None, give the delivery up."""
    await conn.execute(
        "UPDATE deliveries SET last_status = $3, last_error = $4, lease_token = NULL, lease_until = NULL, manual = false,"
        " status = CASE WHEN $5::float8 IS NULL THEN 'failed' ELSE status END,"
        " next_attempt_at = now() + make_interval(secs => coalesce($5::float8, 0))"
        " WHERE id = $1 AND lease_token = $2", delivery_id, token, status, error, retry_in)


async def endpoint_failed(conn: asyncpg.Connection, endpoint_id: int, disable_after_seconds: float,
                          min_failures: int, reason: str) -> bool:
    """Count a failure; disable the endpoint when it has failed every attempt for long enough. True if now disabled."""
    return bool(await conn.fetchval(
        """UPDATE endpoints SET consecutive_failures = consecutive_failures + 1,
                  failing_since = coalesce(failing_since, now()),
                  enabled = NOT (consecutive_failures + 1 >= $3
                                 AND coalesce(failing_since, now()) <= now() - make_interval(secs => $2)),
                  disabled_at = CASE WHEN consecutive_failures + 1 >= $3
                                 AND coalesce(failing_since, now()) <= now() - make_interval(secs => $2)
                                 THEN now() END,
                  disabled_reason = CASE WHEN consecutive_failures + 1 >= $3
                                 AND coalesce(failing_since, now()) <= now() - make_interval(secs => $2)
                                 THEN $4 END
           WHERE id = $1 AND enabled RETURNING NOT enabled""", endpoint_id, disable_after_seconds, min_failures, reason))


async def deliveries(pool: asyncpg.Pool, endpoint_id: int, limit: int = 100) -> list[asyncpg.Record]:
    return await pool.fetch(f"SELECT {DELIVERY} FROM deliveries d WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2",
                            endpoint_id, limit)


async def attempts_of(pool: asyncpg.Pool, delivery_ids: list[int]) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT delivery_id, at, status_code, latency_ms, error, manual FROM attempts"
                            " WHERE delivery_id = ANY($1::bigint[]) ORDER BY id", delivery_ids)


async def delivery(pool: asyncpg.Pool, delivery_id: int) -> asyncpg.Record | None:
    return await pool.fetchrow(f"SELECT {DELIVERY} FROM deliveries d WHERE d.id = $1", delivery_id)


async def redeliver(pool: asyncpg.Pool, delivery_id: int, give_up_seconds: float) -> None:
    """Due again now, with a fresh day of retries (whatever its status was)."""
    await pool.execute("UPDATE deliveries SET status = 'pending', next_attempt_at = now(), lease_token = NULL, manual = true,"
                       " lease_until = NULL, give_up_at = now() + make_interval(secs => $2) WHERE id = $1",
                       delivery_id, give_up_seconds)


async def add_inbound(pool: asyncpg.Pool, seller_id: int, description: str, sealed: str, created_by: int) -> int:
    return await pool.fetchval("INSERT INTO inbound_secrets (seller_id, description, secret, created_by)"
                               " VALUES ($1, $2, $3, $4) RETURNING id", seller_id, description, sealed, created_by)


async def inbound(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT id, seller_id, description, secret, created_by, created_at, revoked_at"
                            " FROM inbound_secrets ORDER BY id DESC LIMIT 500")


async def revoke_inbound(pool: asyncpg.Pool, secret_id: int) -> None:
    await pool.execute("UPDATE inbound_secrets SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", secret_id)
