"""`run.py seed`: the first demo seller ships cheaper in the EU and offers express to GB, so that a
newcomer sees seller rates replacing the shop's (the shop's own rates and zones live in shipping.toml)."""
from __future__ import annotations

from plugins.users.keys import USERS

from .keys import SHIPPING

DEMO_RATES = [
    {"zone": "eu", "method": "standard", "currency": "EUR", "base_cents": 390, "per_kg_cents": 0,
     "free_above_cents": 3500},
    {"zone": "gb", "method": "express", "currency": "EUR", "base_cents": 1490, "per_kg_cents": 200},
]


async def seed(seeder) -> None:
    sellers = await seeder.app[USERS].seller_ids()
    if not sellers:
        return
    service = seeder.app[SHIPPING]
    if not await service.seller_rates(sellers[0]):  # seeding twice keeps what an operator changed
        await service.replace_seller_rates(sellers[0], DEMO_RATES)
