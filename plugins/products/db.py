"""The products plugin's SQL. ``db`` is an asyncpg pool or connection."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Sequence

import asyncpg

COLUMNS = ("p.id, p.seller_id, p.name, p.description, p.price_cents, p.currency, p.type, p.sku, p.active, "
           "p.image, p.created_at, p.updated_at, p.weight_grams, p.tax_class")
LIVE = "p.deleted_at IS NULL"
CATALOG = "p.active AND p.deleted_at IS NULL"  # the predicate of every catalog index
COPY_COLUMNS = ("seller_id", "name", "description", "price_cents", "currency", "type", "sku", "active",
                "created_at", "updated_at", "weight_grams", "tax_class")

# sort name -> (sort key expression, descending?)  Ties are broken by id in the same direction.
SORTS: dict[str, tuple[str, bool]] = {
    "relevance": ("score", True),
    "newest": ("created_at", True),
    "price_asc": ("price_cents", False),
    "price_desc": ("price_cents", True),
    "name": ("lower_name", False),
}
SORT_EXPRESSIONS = {"price_cents": "p.price_cents", "created_at": "p.created_at", "lower_name": "lower(p.name)"}


async def insert(db, seller_id: int, fields: dict[str, Any]) -> asyncpg.Record | None:
    """The new product, or None when this seller already has a live product with this SKU."""
    return await db.fetchrow(f"""
        INSERT INTO products AS p (seller_id, name, description, price_cents, currency, type, sku, active,
                                   weight_grams, tax_class)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (seller_id, sku) WHERE deleted_at IS NULL DO NOTHING
        RETURNING {COLUMNS}""", seller_id, fields["name"], fields["description"], fields["price_cents"],
                             fields["currency"], fields["type"], fields["sku"], fields["active"],
                             fields["weight_grams"], fields["tax_class"])


SEED_COLUMNS = ("id", *COPY_COLUMNS, "image")  # ids from reserve_ids (COPY writes identity values as given)


async def copy_rows(conn: asyncpg.Connection, rows: Iterable[Sequence[Any]],
                    columns: Sequence[str] = COPY_COLUMNS) -> None:
    """Bulk insert (seeding): tuples in ``columns`` order (COPY_COLUMNS or SEED_COLUMNS)."""
    await conn.copy_records_to_table("products", records=rows, columns=columns)


async def reserve_ids(db, count: int) -> list[int]:
    """``count`` fresh product ids from the identity sequence (for rows that name their image file)."""
    return [r["id"] for r in await db.fetch(
        "SELECT nextval(pg_get_serial_sequence('products', 'id')) AS id FROM generate_series(1, $1)", count)]


async def by_id(db, product_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {COLUMNS} FROM products p WHERE p.id = $1 AND {LIVE}", product_id)


async def by_ids(db, ids: list[int], include_deleted: bool = False) -> list[asyncpg.Record]:
    return await db.fetch(f"""
        SELECT {COLUMNS} FROM products p WHERE p.id = ANY($1::bigint[]) AND ($2 OR {LIVE})""", ids, include_deleted)


async def by_skus(db, seller_id: int, skus: list[str]) -> list[asyncpg.Record]:
    return await db.fetch(f"""
        SELECT {COLUMNS} FROM products p WHERE p.seller_id = $1 AND p.sku = ANY($2::text[]) AND {LIVE}""",
                          seller_id, skus)


async def all_ids(db) -> list[int]:
    return [r["id"] for r in await db.fetch(f"SELECT p.id FROM products p WHERE {LIVE} ORDER BY p.id")]


async def max_id(db) -> int:
    return await db.fetchval("SELECT coalesce(max(id), 0) FROM products")


async def update(db, product_id: int, seller_id: int | None, changes: dict[str, Any]) -> asyncpg.Record | None:
    """Change a live product (only ``seller_id``'s unless None, i.e. an admin); None when there is no such row.

    ``changes`` keys are trusted column names (the service checked them)."""
    sets = [f"{column} = ${i}" for i, column in enumerate(changes, start=3)]
    return await db.fetchrow(f"""
        UPDATE products AS p SET {', '.join([*sets, 'updated_at = now()'])}
        WHERE p.id = $1 AND {LIVE} AND ($2::bigint IS NULL OR p.seller_id = $2)
        RETURNING {COLUMNS}""", product_id, seller_id, *changes.values())


async def lock_live(conn, product_id: int, seller_id: int | None) -> asyncpg.Record | None:
    """The live product (only ``seller_id``'s unless None), locked until the end of the transaction: what an
    update compares against to announce exactly what it changed (events.changes)."""
    return await conn.fetchrow(f"""
        SELECT {COLUMNS} FROM products p
        WHERE p.id = $1 AND {LIVE} AND ($2::bigint IS NULL OR p.seller_id = $2) FOR UPDATE""", product_id, seller_id)


async def soft_delete(db, product_id: int, seller_id: int | None) -> asyncpg.Record | None:
    """The deleted product's row (for its ProductDeleted), or None when there was no such live product."""
    return await db.fetchrow(f"""
        UPDATE products AS p SET deleted_at = now(), updated_at = now()
        WHERE p.id = $1 AND {LIVE} AND ($2::bigint IS NULL OR p.seller_id = $2) RETURNING {COLUMNS}""",
                             product_id, seller_id)


async def archive_seller(db, seller_id: int) -> list[asyncpg.Record]:
    """Take a seller's live products off sale (active = false); the rows that were still on sale (each gets a
    ProductUpdated). The rows stay: orders and invoices keep referring to them."""
    return await db.fetch(f"""
        UPDATE products AS p SET active = false, updated_at = now()
        WHERE p.seller_id = $1 AND p.active AND {LIVE} RETURNING {COLUMNS}""", seller_id)


async def set_image(db, product_id: int, seller_id: int | None, image: str) -> tuple[asyncpg.Record, str | None] | None:
    """(the product, the previous image name), or None when there is no such row for this seller."""
    row = await db.fetchrow(f"""
        UPDATE products AS p SET image = $3, updated_at = now()
        FROM (SELECT id, image AS old_image FROM products WHERE id = $1 FOR UPDATE) old
        WHERE p.id = old.id AND {LIVE} AND ($2::bigint IS NULL OR p.seller_id = $2)
        RETURNING {COLUMNS}, old.old_image""", product_id, seller_id, image)
    return (row, row["old_image"]) if row else None


async def seller_products(db, seller_id: int | None, before_id: int | None, limit: int) -> list[asyncpg.Record]:
    """A seller's live products (every seller's when ``seller_id`` is None), newest id first."""
    where, args = [LIVE], [limit]
    for clause, value in (("p.seller_id = ${}", seller_id), ("p.id < ${}", before_id)):
        if value is not None:  # no "$n IS NULL OR": a generic plan could not use products_seller_id then
            args.append(value)
            where.append(clause.format(len(args)))
    return await db.fetch(f"""
        SELECT {COLUMNS} FROM products p WHERE {' AND '.join(where)} ORDER BY p.id DESC LIMIT $1""", *args)


async def seller_ids_of(db, seller_id: int | None) -> list[int]:
    """Ids of a seller's live products (every seller's when None), newest first."""
    if seller_id is None:
        return [r["id"] for r in await db.fetch(f"SELECT p.id FROM products p WHERE {LIVE} ORDER BY p.id DESC")]
    return [r["id"] for r in await db.fetch(f"SELECT p.id FROM products p WHERE p.seller_id = $1 AND {LIVE} "
                                            "ORDER BY p.id DESC", seller_id)]


async def featured(db, limit: int) -> list[asyncpg.Record]:
    """The newest catalog products with an image, then the newest without (each walks products_created)."""
    return await db.fetch(f"""
        (SELECT {COLUMNS} FROM products p WHERE {CATALOG} AND p.image IS NOT NULL
         ORDER BY p.created_at DESC, p.id DESC LIMIT $1)
        UNION ALL
        (SELECT {COLUMNS} FROM products p WHERE {CATALOG} AND p.image IS NULL
         ORDER BY p.created_at DESC, p.id DESC LIMIT $1)""", limit)


async def types(db) -> list[asyncpg.Record]:
    return await db.fetch(f"""
        SELECT p.type, count(*) AS count FROM products p WHERE {CATALOG} GROUP BY p.type ORDER BY p.type""")


async def currencies(db) -> list[str]:
    """The catalog's currencies, in code order: a loose index scan (one probe of products_currency_price
    per currency), so it stays cheap however many products there are."""
    return [r["currency"].strip() for r in await db.fetch(f"""
        WITH RECURSIVE c(currency) AS (
            (SELECT p.currency FROM products p WHERE {CATALOG} ORDER BY p.currency LIMIT 1)
            UNION ALL
            SELECT (SELECT p.currency FROM products p WHERE {CATALOG} AND p.currency > c.currency
                    ORDER BY p.currency LIMIT 1) FROM c WHERE c.currency IS NOT NULL)
        SELECT currency FROM c WHERE currency IS NOT NULL""")]


def search_query(q: str | None, sku_range: tuple[str, str] | None, type_: str | None, min_price: int | None,
                 max_price: int | None, sort: str, after: tuple[Any, int] | None, limit: int,
                 currency: str | None = None) -> tuple[str, list]:
    """(sql, args) for one catalog page, keyset-paginated. Each clause is shaped to use its index:

    - text: ``search @@ websearch_to_tsquery`` in English or Spanish (products_search, GIN) OR ``q <% lower(name)``
      (products_name_trgm, word similarity: typos) OR ``lower(sku)`` in [prefix, next prefix)
      (products_sku_prefix: a range, so that the index serves it in generic plans too);
    - currency: products_currency_price (currency, price_cents, id), which also serves price order and
      range (the service always names a currency for those: minor units of two currencies never compare);
    - type: products_type (type, created_at, id);
      newest: products_created; name: products_name (lower(name), id).
    """
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where = [CATALOG]
    score = "0::float8"
    if q is not None:
        text = arg(q)  # English OR Spanish stems (migration 0004): either language's words find a product
        tsq = f"(websearch_to_tsquery('english', {text}) || websearch_to_tsquery('catalog_spanish', {text}))"
        lowered = arg(q.lower())
        matches = [f"p.search @@ {tsq}", f"{lowered} <% lower(p.name)"]
        if sku_range is not None:
            low, high = arg(sku_range[0]), arg(sku_range[1])
            matches.append(f"(lower(p.sku) ~>=~ {low} AND lower(p.sku) ~<~ {high})")
        where.append(f"({' OR '.join(matches)})")
        score = f"(ts_rank_cd(p.search, {tsq}) + word_similarity({lowered}, lower(p.name)))::float8"
    if type_ is not None:
        where.append(f"p.type = {arg(type_)}")
    if currency is not None:
        where.append(f"p.currency = {arg(currency)}")
    if min_price is not None:
        where.append(f"p.price_cents >= {arg(min_price)}")
    if max_price is not None:
        where.append(f"p.price_cents <= {arg(max_price)}")
    key, descending = SORTS[sort]
    inner = f"""SELECT {COLUMNS}, {score} AS score, lower(p.name) AS lower_name FROM products p
                WHERE {' AND '.join(where)}"""
    if key != "score":  # order by an indexed expression inside, so the planner can walk the index
        expr = SORT_EXPRESSIONS[key]
        if after is not None:
            inner += f" AND ({expr}, p.id) {'<' if descending else '>'} ({arg(after[0])}, {arg(after[1])})"
        direction = "DESC" if descending else "ASC"
        return f"{inner} ORDER BY {expr} {direction}, p.id {direction} LIMIT {arg(limit)}", args
    outer = f"SELECT * FROM ({inner}) s"
    if after is not None:
        outer += f" WHERE (s.score, s.id) < ({arg(after[0])}::float8, {arg(after[1])})"
    return f"{outer} ORDER BY s.score DESC, s.id DESC LIMIT {arg(limit)}", args


async def search(db, sql: str, args: list) -> list[asyncpg.Record]:
    return await db.fetch(sql, *args)


def sort_key(row: asyncpg.Record, sort: str) -> Any:
    value = row[SORTS[sort][0]]
    return value.isoformat() if isinstance(value, datetime) else value
