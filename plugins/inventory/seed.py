"""`run.py seed`: stock for every product in 1-3 random regions (some sold out), with its ledger rows."""
from __future__ import annotations

from plugins.products.keys import PRODUCTS

from . import db
from .keys import INVENTORY

BATCH = 5000  # products per COPY transaction


def _quantity(rng) -> int:
    roll = rng.random()
    if roll < 0.12:
        return 0                        # sold out
    if roll < 0.7:
        return rng.randint(1, 60)
    if roll < 0.95:
        return rng.randint(60, 500)
    return rng.randint(500, 5000)


async def seed(seeder) -> None:
    service = seeder.app[INVENTORY]
    ids = await seeder.app[PRODUCTS].all_ids()
    rng, regions = seeder.rng, service.regions
    with seeder.progress(len(ids), "stock") as bar:
        for start in range(0, len(ids), BATCH):
            chunk = ids[start:start + BATCH]
            async with service.pool.acquire() as conn, conn.transaction():
                done = await db.stocked(conn, chunk)  # seeding twice keeps the stock it made
                rows = [(p, region, _quantity(rng)) for p in chunk if p not in done
                        for region in rng.sample(regions, rng.randint(1, min(3, len(regions))))]
                await db.copy_stock(conn, rows, "system:seed", "initial stock")
            bar.update(len(chunk))
