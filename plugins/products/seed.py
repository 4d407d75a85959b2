"""`run.py seed`: a realistic catalog for the sellers the users plugin seeded.

Names are adjective + material + noun, prices fall in a range per category, most prices are in USD and a
few in EUR. Each product gets a weight in its category's range (shipping rates charge per started kg) and
its category's tax class (books and groceries are taxed at the reduced rate in most of Europe), so the
cart shows real shipping and tax lines. Every run's SKUs start with a prefix of their own (from the highest product id so far), so
seeding again adds products without SKU clashes. Rows go in with COPY, in batches. Most products get a
picture drawn in their category's colour (seed_images.py).
"""
from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone

from .keys import PRODUCTS
from .seed_images import VARIANTS, SeedPictures

try:
    from plugins.users.keys import USERS
except ImportError:  # pragma: no cover - the users plugin ships with the shop
    USERS = None

BATCH = 2000
PICTURE_SHARE = 0.6  # products that get a drawn picture (seed_images.py); the rest show the placeholder
ADJECTIVES = ["Classic", "Compact", "Deluxe", "Essential", "Everyday", "Handmade", "Heavy-Duty", "Lightweight",
              "Modern", "Premium", "Rustic", "Sleek", "Smart", "Sturdy", "Vintage", "Eco", "Portable", "Pro"]
# category -> (code, lowest and highest price in cents, materials, nouns, what it is good for)
CATEGORIES = {
    "Electronics": ("EL", 999, 149999, ["Aluminium", "Carbon", "Matte Black", "Graphite", "Wireless"],
                    ["Headphones", "Speaker", "Charger", "Keyboard", "Mouse", "Monitor", "Webcam", "Router",
                     "Smartwatch", "Tablet"], "work, music and calls"),
    "Books": ("BK", 499, 5999, ["Paperback", "Hardcover", "Illustrated", "Annotated", "Pocket"],
              ["Cookbook", "Novel", "Atlas", "Field Guide", "Poetry Collection", "History", "Biography"],
              "long evenings and curious minds"),
    "Home & Kitchen": ("HK", 799, 39999, ["Cast Iron", "Ceramic", "Stainless Steel", "Bamboo", "Glass"],
                       ["Skillet", "Kettle", "Mug Set", "Cutting Board", "Knife Block", "Teapot", "Blender"],
                       "cooking and serving every day"),
    "Garden": ("GA", 599, 29999, ["Galvanised", "Teak", "Recycled Plastic", "Terracotta", "Steel"],
               ["Planter", "Hose Reel", "Trowel", "Bird Feeder", "Watering Can", "Pruning Shears"],
               "balconies, beds and borders"),
    "Toys": ("TO", 399, 14999, ["Wooden", "Plush", "Magnetic", "Felt", "Tin"],
             ["Building Blocks", "Puzzle", "Train Set", "Teddy Bear", "Kite", "Board Game"],
             "ages three and up"),
    "Sports": ("SP", 999, 49999, ["Neoprene", "Carbon Fibre", "Rubber", "Mesh", "Titanium"],
               ["Yoga Mat", "Dumbbell Set", "Water Bottle", "Tennis Racket", "Running Belt", "Jump Rope"],
               "training at home or outdoors"),
    "Clothing": ("CL", 999, 24999, ["Cotton", "Merino Wool", "Linen", "Denim", "Fleece"],
                 ["T-Shirt", "Sweater", "Jacket", "Scarf", "Beanie", "Socks", "Shorts"],
                 "layering through the seasons"),
    "Beauty": ("BE", 399, 9999, ["Argan", "Shea", "Charcoal", "Rose", "Aloe"],
               ["Face Cream", "Shampoo", "Soap Bar", "Lip Balm", "Body Lotion", "Serum"],
               "a simple daily routine"),
    "Grocery": ("GR", 199, 4999, ["Organic", "Roasted", "Wildflower", "Smoked", "Stone-Ground"],
                ["Coffee Beans", "Honey", "Olive Oil", "Sea Salt", "Granola", "Green Tea"],
                "breakfasts and pantry shelves"),
    "Office": ("OF", 299, 59999, ["Leather", "Recycled Paper", "Oak", "Acrylic", "Brass"],
               ["Notebook", "Desk Lamp", "Pen Set", "Desk Organizer", "Office Chair", "Planner"],
               "a tidy, pleasant desk"),
}
# category -> (tax class, lightest and heaviest weight in grams); the rates per class live in the taxes plugin
PARCELS = {
    "Electronics": ("standard", 150, 6000), "Books": ("reduced", 150, 1500),
    "Home & Kitchen": ("standard", 300, 5000), "Garden": ("standard", 200, 8000), "Toys": ("standard", 100, 2500),
    "Sports": ("standard", 100, 15000), "Clothing": ("standard", 80, 1200), "Beauty": ("standard", 50, 600),
    "Grocery": ("reduced", 100, 1500), "Office": ("standard", 50, 12000),
}
FEATURES = ["Built to last", "Thoughtfully designed", "Tested by our team", "A customer favourite",
            "Easy to care for", "Made in small batches"]


def _base36(number: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def make_rows(rng, count: int, seller_ids: list[int], run: str, now: datetime) -> list[tuple]:
    """``count`` product rows in the service's COPY column order.

    Weights come from a generator of their own, so ``rng`` draws what it drew before weights existed
    (the inventory seed goes on with the same generator: the demo stock stays the same)."""
    categories = list(CATEGORIES.items())
    scales = random.Random(f"weights:{run}")
    rows = []
    for n in range(count):
        category, (code, low, high, materials, nouns, use) = rng.choice(categories)
        adjective, material, noun = rng.choice(ADJECTIVES), rng.choice(materials), rng.choice(nouns)
        name = f"{adjective} {material} {noun}"
        description = f"{name}, made for {use}. {rng.choice(FEATURES)}."
        price = max(0, rng.randint(low, high) // 100 * 100 + rng.choice((99, 49, 0)) - 100)
        currency = "EUR" if rng.random() < 0.1 else "USD"
        created = now - timedelta(seconds=rng.randint(0, 365 * 86400))
        tax_class, lightest, heaviest = PARCELS[category]
        grams = scales.randint(lightest, heaviest) // 10 * 10
        rows.append((rng.choice(seller_ids), name, description, price, currency, category,
                     f"{run}-{code}-{n + 1:07d}", rng.random() > 0.02, created, created, grams, tax_class))
    return rows


async def seed(seeder) -> None:
    products = seeder.app[PRODUCTS]
    users = seeder.app.get(USERS) if USERS is not None else None
    seller_ids = await users.seller_ids() if users is not None else []
    if not seller_ids:
        raise RuntimeError("products seed: no sellers; enable the users plugin and list it before products")
    total = seeder.options.products
    run = "R" + _base36(await products.max_id() + 1)
    rows = make_rows(seeder.rng, total, seller_ids, run, datetime.now(timezone.utc))
    pictures = SeedPictures(products.media_dir, list(CATEGORIES)) if products.media_dir else None
    ids = await products.reserve_ids(total)
    pick = random.Random(f"pictures:{seeder.options.random_seed}")  # seeder.rng stays as it was for stock
    with seeder.progress(total, "products") as bar:
        for start in range(0, total, BATCH):
            batch, links = [], []
            for product_id, row in zip(ids[start:start + BATCH], rows[start:start + BATCH]):
                image = None
                if pictures is not None and pick.random() < PICTURE_SHARE:
                    variant = pick.randrange(VARIANTS)
                    image = pictures.name_for(product_id, row[5], variant)
                    links.append((image, row[5], variant))
                batch.append((product_id, *row, image))
            if links:
                await asyncio.to_thread(pictures.link, links)
            await products.bulk_insert(batch, with_ids=True)
            bar.update(len(batch))
    await products.refresh_statistics()  # fresh statistics, so that catalog queries pick their indexes at once
