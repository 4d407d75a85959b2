"""The SQL of CSV import jobs. ``db`` is an asyncpg pool or connection."""
from __future__ import annotations

import asyncpg

JOB_COLUMNS = "id, seller_id, status, total, applied, rejected, filename, created_at, finished_at"
LINE_COLUMNS = ["import_id", "line_no", "sku", "region", "quantity", "product_id", "status", "error"]


async def insert_job(conn, seller_id: int, actor: str, filename: str, total: int, rejected: int) -> int:
    return await conn.fetchval("""
        INSERT INTO imports (seller_id, actor, filename, total, rejected, status, finished_at)
        VALUES ($1, $2, $3, $4::integer, $5::integer, CASE WHEN $4 = $5 THEN 'done' ELSE 'queued' END,
                CASE WHEN $4 = $5 THEN now() END)
        RETURNING id""", seller_id, actor, filename, total, rejected)


COPY_CHUNK = 5000  # rows per COPY: asyncpg encodes a COPY's rows on the event loop, so a big file goes in parts


async def insert_lines(conn, records: list[tuple]) -> None:
    """(import_id, line_no, sku, region, quantity, product_id, status, error) rows, by COPY, in chunks (the
    caller's transaction makes them one insert)."""
    for start in range(0, len(records), COPY_CHUNK):
        await conn.copy_records_to_table("import_lines", records=records[start:start + COPY_CHUNK],
                                         columns=LINE_COLUMNS)


async def purge_lines(db, retention_days: int, limit: int) -> int:
    """Delete up to ``limit`` lines of imports finished more than ``retention_days`` ago; how many went.
    The jobs themselves (counts, file name, who and when) stay."""
    status = await db.execute("""
        WITH doomed AS (
            SELECT l.import_id, l.line_no FROM imports j JOIN import_lines l ON l.import_id = j.id
            WHERE j.status = 'done' AND j.finished_at < now() - make_interval(days => $1) LIMIT $2)
        DELETE FROM import_lines l USING doomed d WHERE l.import_id = d.import_id AND l.line_no = d.line_no""",
                              retention_days, limit)
    return int(status.split()[-1])


async def job(db, import_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {JOB_COLUMNS} FROM imports WHERE id = $1", import_id)


async def jobs_of(db, seller_id: int | None, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(f"""
        SELECT {JOB_COLUMNS} FROM imports WHERE $1::bigint IS NULL OR seller_id = $1 ORDER BY id DESC LIMIT $2""",
                          seller_id, limit)


async def rejected_lines(db, import_id: int, limit: int) -> list[asyncpg.Record]:
    return await db.fetch("""
        SELECT line_no, error, sku, region FROM import_lines WHERE import_id = $1 AND status = 'rejected'
        ORDER BY line_no LIMIT $2""", import_id, limit)


async def claim_job(conn) -> asyncpg.Record | None:
    """The oldest unfinished job no other worker is busy with, locked for this transaction."""
    return await conn.fetchrow(f"""
        SELECT {JOB_COLUMNS}, actor FROM imports WHERE status <> 'done'
        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED""")


async def pending_lines(conn, import_id: int, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch("""
        SELECT line_no, product_id, region, quantity FROM import_lines
        WHERE import_id = $1 AND status = 'pending' ORDER BY line_no LIMIT $2""", import_id, limit)


async def lock_stock_rows(conn, keys: list[tuple[int, str]]) -> dict[tuple[int, str], asyncpg.Record]:
    """Create missing stock rows, then lock them all in ascending (product, region) order."""
    products, regions = [k[0] for k in keys], [k[1] for k in keys]
    await conn.execute("""
        INSERT INTO stock (product_id, region)
        SELECT p, r FROM unnest($1::bigint[], $2::text[]) AS t(p, r) ORDER BY p, r ON CONFLICT DO NOTHING""",
                       products, regions)
    rows = await conn.fetch("""
        SELECT s.product_id, s.region, s.quantity, s.reserved FROM stock s
        JOIN unnest($1::bigint[], $2::text[]) AS t(p, r) ON s.product_id = t.p AND s.region = t.r
        ORDER BY s.product_id, s.region FOR UPDATE OF s""", products, regions)
    return {(r["product_id"], r["region"]): r for r in rows}


async def set_quantities(conn, values: list[tuple[int, str, int]]) -> list[asyncpg.Record]:
    """Set each (product, region)'s quantity (a file names each pair once: csvfile rejects repeats); the rows
    as they are now (for their StockChanged events)."""
    if not values:
        return []
    return await conn.fetch("""
        UPDATE stock s SET quantity = t.q, updated_at = now()
        FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS t(p, r, q)
        WHERE s.product_id = t.p AND s.region = t.r
        RETURNING s.product_id, s.region, s.quantity, s.reserved""",
                            [v[0] for v in values], [v[1] for v in values], [v[2] for v in values])


async def mark_lines(conn, import_id: int, applied: list[int], rejected: list[tuple[int, str]]) -> None:
    await conn.execute("""
        UPDATE import_lines SET status = 'applied' WHERE import_id = $1 AND line_no = ANY($2::integer[])""",
                       import_id, applied)
    if rejected:
        await conn.execute("""
            UPDATE import_lines l SET status = 'rejected', error = t.e
            FROM unnest($2::integer[], $3::text[]) AS t(n, e) WHERE l.import_id = $1 AND l.line_no = t.n""",
                           import_id, [r[0] for r in rejected], [r[1] for r in rejected])


async def progress(conn, import_id: int, applied: int, rejected: int, finished: bool) -> None:
    await conn.execute("""
        UPDATE imports SET applied = applied + $2, rejected = rejected + $3,
               status = CASE WHEN $4 THEN 'done' ELSE 'running' END,
               started_at = coalesce(started_at, now()), finished_at = CASE WHEN $4 THEN now() END
        WHERE id = $1""", import_id, applied, rejected, finished)


async def has_pending(conn, import_id: int) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM import_lines WHERE import_id = $1 AND status = 'pending')", import_id)
