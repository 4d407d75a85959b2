"""`run.py seed`: the first demo seller ships on rates of their own (by weight, free above 35 EUR, a flat
express), the others on the shop's rates, so a newcomer sees both in one cart and on /seller/shipping."""
from __future__ import annotations

from plugins.users.keys import USERS

from .keys import SHIPPING

DEMO_RATES = (
    {"zone": "eu", "method": "standard", "currency": "EUR", "base_cents": 390, "per_kg_cents": 60,
     "free_above_cents": 3500},
    {"zone": "eu", "method": "express", "currency": "EUR", "base_cents": 1190, "per_kg_cents": 0},
)


async def seed(seeder) -> None:
    sellers = await seeder.app[USERS].seller_ids()
    if not sellers:
        return
    shipping, first = seeder.app[SHIPPING], min(sellers)
    if not await shipping.seller_rates(first):  # seeding twice keeps what the seller has (maybe edited)
        await shipping.replace_seller_rates(first, [dict(r) for r in DEMO_RATES])
