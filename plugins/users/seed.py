"""`run.py seed`: demo sellers (and one demo customer) for the catalog that the products plugin seeds."""
from __future__ import annotations

from ecom.errors import Conflict

from .keys import USERS

DEMO_PASSWORD = "demo-password"
SELLER_NAMES = ["Northwind Goods", "Bluebird Supply", "Oak & Iron", "Juniper Market", "Harbor Tech",
                "Copper Kettle", "Atlas Outfitters", "Maple Lane", "Nimbus Audio", "Fjord Home"]


async def seed(seeder) -> None:
    users = seeder.app[USERS]
    count = seeder.options.sellers
    with seeder.progress(count + 1, "sellers") as bar:
        for i in range(count):
            name = f"{SELLER_NAMES[i % len(SELLER_NAMES)]}{'' if i < len(SELLER_NAMES) else f' {i // len(SELLER_NAMES) + 1}'}"
            await _register(users, f"seller{i + 1}@demo.shop", name, True)
            bar.update()
        await _register(users, "customer@demo.shop", "Demo Customer", False)
        bar.update()


async def _register(users, email: str, name: str, is_seller: bool) -> None:
    try:
        await users.register(email, name, DEMO_PASSWORD, is_seller)
    except Conflict:
        pass  # seeding twice keeps the accounts
