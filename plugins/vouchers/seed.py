"""`run.py seed`: a few shop-wide demo codes, so a newcomer can try one at checkout."""
from __future__ import annotations

from .keys import VOUCHERS

DEMO = (
    {"code": "WELCOME10", "kind": "percent", "percent": 10},
    {"code": "SPRING5", "kind": "fixed", "amount_cents": 500, "currency": "EUR", "min_spend_cents": 3000},
    {"code": "FIRST50", "kind": "percent", "percent": 15, "max_uses": 50, "max_uses_per_customer": 1},
)


async def seed(seeder) -> None:
    service = seeder.app[VOUCHERS]
    existing = {v.code for v in await service.list(seller_id=None, limit=500)}
    for data in DEMO:
        if data["code"] not in existing:  # seeding twice keeps what it made
            await service.create(data, seller_id=None, created_by=0)
