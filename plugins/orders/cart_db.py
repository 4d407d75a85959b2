"""The SQL of the customers' persistent carts."""
from __future__ import annotations

MAX_QUANTITY = 99


async def lines(db, customer_id: int) -> list[tuple[int, int]]:
    rows = await db.fetch("SELECT product_id, quantity FROM carts WHERE customer_id = $1 ORDER BY added_at, product_id",
                          customer_id)
    return [(r["product_id"], r["quantity"]) for r in rows]


async def put(db, customer_id: int, product_id: int, quantity: int) -> None:
    await db.execute("""
        INSERT INTO carts (customer_id, product_id, quantity) VALUES ($1, $2, $3)
        ON CONFLICT (customer_id, product_id) DO UPDATE SET quantity = excluded.quantity, updated_at = now()""",
                     customer_id, product_id, quantity)


async def merge(conn, customer_id: int, items: list[tuple[int, int]]) -> None:
    """Add a guest cart's quantities to the persistent cart (capped at 99 a line)."""
    await conn.executemany(f"""
        INSERT INTO carts (customer_id, product_id, quantity) VALUES ($1, $2, least($3, {MAX_QUANTITY}))
        ON CONFLICT (customer_id, product_id)
        DO UPDATE SET quantity = least(carts.quantity + excluded.quantity, {MAX_QUANTITY}), updated_at = now()""",
                           [(customer_id, p, q) for p, q in items])


async def remove(db, customer_id: int, product_ids: list[int]) -> None:
    await db.execute("DELETE FROM carts WHERE customer_id = $1 AND product_id = ANY($2::bigint[])",
                     customer_id, product_ids)
