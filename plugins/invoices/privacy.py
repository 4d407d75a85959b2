"""What invoices keeps about a person: for their data export, and on the deletion of their account.

Issued invoices and credit notes are tax records the seller must keep unchanged for years (in Spain, the
Ley General Tributaria's four years at least), so a deleted account's documents are kept as issued; only
what is no longer needed goes: a deleted seller's invoicing profile (each issued document has its own
copy of it).
"""
from __future__ import annotations

from typing import Any

from . import db
from .model import Document


class Privacy:
    def __init__(self, pool: Any):
        self.pool = pool

    async def export(self, user_id: int) -> dict[str, Any]:
        """The documents where the person is the buyer or the seller, and their invoicing profile."""
        rows = await db.listing(self.pool, customer_id=user_id, seller_id=None, order_id=None, limit=10_000, offset=0)
        sold = await db.listing(self.pool, customer_id=None, seller_id=user_id, order_id=None, limit=10_000,
                                offset=0)
        profile = await db.profile(self.pool, user_id)
        return {"as_buyer": [Document.from_row(r).as_json() for r in rows],
                "as_seller": [Document.from_row(r).as_json() for r in sold],
                "profile": {k: profile[k] for k in db.PROFILE_FIELDS} if profile else None}

    async def on_user_deleted(self, conn, evt: Any) -> None:
        await conn.execute("DELETE FROM seller_profiles WHERE seller_id = $1", evt.user_id)
