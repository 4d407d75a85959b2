"""The products seed hook (`run.py seed`) gives every demo product a weight and a tax class, so a newcomer's
cart shows shipping by weight and taxes by class; it runs through the real hook on a real database."""
from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timezone

from ecom.app import create_app
from ecom.seed import Seeder, SeedOptions
from plugins.products.keys import PRODUCTS
from plugins.products.seed import CATEGORIES, PARCELS, make_rows, seed as seed_products
from plugins.users.seed import seed as seed_users


def test_every_category_has_a_tax_class_and_a_weight_range():
    assert set(PARCELS) == set(CATEGORIES)
    for tax_class, lightest, heaviest in PARCELS.values():
        assert tax_class in ("standard", "reduced", "zero") and 0 < lightest < heaviest <= 1_000_000


def test_rows_carry_weights_in_their_category_range_and_leave_the_shared_generator_alone():
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    first, second = random.Random(3), random.Random(3)
    rows = make_rows(first, 500, [1, 2], "RONE", now)
    others = make_rows(second, 500, [1, 2], "RTWO", now)
    for row in rows:
        category, grams, tax_class = row[5], row[-2], row[-1]
        klass, lightest, heaviest = PARCELS[category]
        assert tax_class == klass and lightest - 10 <= grams <= heaviest and grams % 10 == 0
    assert len({row[-2] for row in rows}) > 50  # weights vary, not one default
    # weights come from a generator of their own (seeded by the run): the shared one, which the inventory
    # seed goes on with, draws the same whatever the weights are
    assert [r[-2] for r in rows] != [r[-2] for r in others]
    assert [r[:6] + r[7:-2] for r in rows] == [r[:6] + r[7:-2] for r in others]
    assert first.getstate() == second.getstate()


async def test_the_seed_hook_stores_weights_and_tax_classes(aiohttp_client, make_config):
    client = await aiohttp_client(create_app(make_config(fresh=True, plugins={"enabled": ["users", "products"]})))
    seeder = Seeder(client.app, SeedOptions(products=200))
    await seed_users(seeder)
    await seed_products(seeder)
    products = client.app[PRODUCTS]
    stored = [await products.get(pid) for pid in await products.all_ids()]
    assert len(stored) == 200
    classes = Counter(p.tax_class for p in stored)
    assert classes["standard"] and classes["reduced"], classes
    for p in stored:
        tax_class, lightest, heaviest = PARCELS[p.type]
        assert p.tax_class == tax_class and lightest - 10 <= p.weight_grams <= heaviest, p
    resp = await client.get(f"/api/v1/products/{stored[0].id}")
    body = await resp.json()
    assert resp.status == 200 and body["weight_grams"] == stored[0].weight_grams, body
