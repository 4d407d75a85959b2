"""ecom.db's pools skip asyncpg's server-side reset query for a clean connection (one round trip per
``pool.fetch()``, not two) and still run it for a connection that carries session state.

Round trips are observed two ways that do not depend on each other: asyncpg's own count of queries
sent on the connection (``queries_count``, which the pool itself uses for ``max_queries``), and the
server's ``pg_stat_activity.query`` (the last statement the backend ran: our SELECT, or the reset).
"""
from __future__ import annotations

import uuid

import asyncpg
import pytest

from ecom import db

PROBE = "SELECT 1 AS pool_probe"
LOCK_KEY = 0x706F6F6C  # "pool"


@pytest.fixture(scope="module")
async def url(pg):
    target = db.database_url(pg.url(), f"pooltest_{uuid.uuid4().hex[:8]}")
    await db.ensure_database(target)
    return target


@pytest.fixture
async def pool(url):
    """One connection only, so every acquire gets the same backend back."""
    pool = await db.create_pool(url, max_size=1, min_size=1)
    yield pool
    await pool.close()


@pytest.fixture
async def admin(url):
    conn = await asyncpg.connect(url)
    yield conn
    await conn.close()


async def backend(pool) -> tuple[int, object]:
    async with pool.acquire() as conn:
        return conn.get_server_pid(), conn._protocol


async def last_statement(admin, pid: int) -> str:
    return await admin.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)


async def fetches_cost(pool, n: int = 20) -> int:
    """Queries sent on the pool's one connection for ``n`` pool.fetch() calls (and their releases)."""
    _, protocol = await backend(pool)
    await pool.fetch(PROBE)  # the statement is prepared once: that first time is not what we count
    before = protocol.queries_count
    for _ in range(n):
        assert (await pool.fetch(PROBE))[0]["pool_probe"] == 1
    return protocol.queries_count - before


async def test_a_clean_release_costs_no_round_trip(pool, admin):
    assert await fetches_cost(pool) == 20
    pid, _ = await backend(pool)
    await pool.fetch(PROBE)
    assert await last_statement(admin, pid) == PROBE  # no reset query ran after it


async def test_a_committed_transaction_costs_no_reset_either(pool):
    """BEGIN and COMMIT are statements without parameters: the release looks at the reported settings
    (unchanged), and sends nothing."""
    _, protocol = await backend(pool)
    before = protocol.queries_count
    for _ in range(5):
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetchval(PROBE)
    assert protocol.queries_count - before == 5 * 3  # BEGIN, the SELECT, COMMIT


async def test_the_measure_sees_asyncpg_default_reset(url, admin):
    """What the count above would be with asyncpg's own reset: two round trips per fetch."""
    plain = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        assert await fetches_cost(plain) == 40
        pid, _ = await backend(plain)
        await plain.fetch(PROBE)
        assert "pg_advisory_unlock_all" in await last_statement(admin, pid)
    finally:
        await plain.close()


async def test_a_listening_connection_is_unlistened_before_it_is_lent_again(pool, admin):
    heard: list[str] = []
    with pytest.warns(asyncpg.InterfaceWarning, match="notification listener"):  # released still listening
        async with pool.acquire() as conn:
            await conn.add_listener("pool_test", lambda *args: heard.append(args[-1]))
            assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0
        pid = conn.get_server_pid()
    await admin.execute("NOTIFY pool_test, 'late'")
    await pool.fetch(PROBE)
    assert heard == []
    assert await fetches_cost(pool) == 20  # clean again: the mark went with the reset
    assert await last_statement(admin, pid) == PROBE


async def test_a_marked_session_advisory_lock_is_released(pool, admin):
    async with pool.acquire() as conn:
        db.mark_session_state(conn)
        assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
        pid = conn.get_server_pid()
    assert await admin.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1", pid) == 0
    assert await admin.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
    await admin.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


def test_marking_a_plain_asyncpg_connection_is_harmless():
    db.mark_session_state(object())  # plain pools reset on every release: nothing to mark


async def test_a_reported_setting_changed_without_a_mark_is_reset(pool):
    original = await pool.fetchval("SHOW TimeZone")
    other = "Asia/Tokyo" if original != "Asia/Tokyo" else "America/Lima"
    async with pool.acquire() as conn:
        await conn.execute(f"SET TIME ZONE '{other}'")
    assert await pool.fetchval("SHOW TimeZone") == original


async def test_a_transaction_left_open_is_rolled_back(pool, url):
    await pool.execute("CREATE TABLE IF NOT EXISTS pool_rows (x int)")
    await pool.execute("TRUNCATE pool_rows")
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("INSERT INTO pool_rows VALUES (1)")
        await conn.execute("SET LOCAL statement_timeout = '1234ms'")
        # released here without commit or rollback (a handler that forgot, or was cancelled)
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT count(*) FROM pool_rows") == 0
        assert await conn.fetchval("SHOW statement_timeout") != "1234ms"
