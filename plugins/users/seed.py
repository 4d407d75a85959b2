"""`run.py seed`: demo sellers (and one demo customer) for the catalog that the products plugin seeds."""
from __future__ import annotations

from . import db
from .keys import USERS

DEMO_PASSWORD = "demo-password"
SELLER_NAMES = ["Northwind Goods", "Bluebird Supply", "Oak & Iron", "Juniper Market", "Harbor Tech",
                "Copper Kettle", "Atlas Outfitters", "Maple Lane", "Nimbus Audio", "Fjord Home"]


def seller_name(i: int) -> str:
    base = SELLER_NAMES[i % len(SELLER_NAMES)]
    return base if i < len(SELLER_NAMES) else f"{base} {i // len(SELLER_NAMES) + 1}"


async def seed(seeder) -> None:
    users = seeder.app[USERS]
    password_hash = await users.passwords.hash(DEMO_PASSWORD)  # one hash for every demo account
    accounts = [(f"seller{i + 1}@demo.shop", seller_name(i), True) for i in range(seeder.options.sellers)]
    accounts.append(("customer@demo.shop", "Demo Customer", False))
    with seeder.progress(len(accounts), "sellers") as bar:
        for email, name, is_seller in accounts:
            await db.insert_user(users.pool, email, name, password_hash, is_seller)  # seeding twice keeps them
            bar.update()
