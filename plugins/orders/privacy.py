"""What orders keeps about a person, for their data export and for the erasure of their account.

When an account is deleted (users' ``UserDeleted``) its orders stay — their amounts, lines and statuses
are bookkeeping the shop must keep — but what identifies the buyer is replaced by one fixed marker:
the names, company, street lines and phone of the ship-to and bill-to copies and the order's email.
City, region, postal code and country stay (they decide the tax that was charged). The customer's
saved cart and Idempotency-Keys go. Running it twice changes nothing more (idempotent, as the inbox
may deliver an event again after a crash).

The export (``register_exporter(app, "orders", ...)``) is the customer's orders as the API shows them.
"""
from __future__ import annotations

import logging
from typing import Any

import asyncpg

from plugins.users.events import UserDeleted

from . import order_view
from .views import order_json

log = logging.getLogger("ecom.plugins.orders")

ANONYMISED = "[anonymised]"
PERSONAL_KEYS = ["name", "company", "line1", "line2", "phone"]

# one address copy with every non-empty personal key replaced by the marker ($2: keys, $3: marker)
_SCRUB = """CASE WHEN {col} IS NULL OR jsonb_typeof({col}) <> 'object' THEN {col} ELSE (
    SELECT coalesce(jsonb_object_agg(key, CASE WHEN key = ANY($2::text[]) AND value <> '""'::jsonb
                                                 AND value <> 'null'::jsonb
                                            THEN to_jsonb($3::text) ELSE value END), '{{}}'::jsonb)
    FROM jsonb_each({col})) END"""


async def anonymise(conn: asyncpg.Connection, customer_id: int) -> int:
    """Replace the personal data of ``customer_id``'s orders (in the caller's transaction). Returns how
    many orders were anonymised now (0 on a repeat)."""
    status = await conn.execute(f"""
        UPDATE orders SET ship_to = {_SCRUB.format(col="ship_to")}, bill_to = {_SCRUB.format(col="bill_to")},
                          email = CASE WHEN email IS NULL THEN NULL ELSE $3 END,
                          anonymised_at = coalesce(anonymised_at, now())
        WHERE customer_id = $1 AND anonymised_at IS NULL""", customer_id, PERSONAL_KEYS, ANONYMISED)
    await conn.execute("DELETE FROM carts WHERE customer_id = $1", customer_id)
    await conn.execute("DELETE FROM idempotency_keys WHERE customer_id = $1", customer_id)
    return int(status.split()[-1])


class Privacy:
    """The UserDeleted handler and the data exporter, bound to the orders database."""

    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def on_user_deleted(self, conn: asyncpg.Connection, evt: UserDeleted) -> None:
        """Runs in the inbox transaction of orders' subscription (once per event id)."""
        count = await anonymise(conn, int(evt.user_id))
        log.info("user %s deleted: %d order(s) anonymised", evt.user_id, count)

    async def export(self, user_id: int) -> list[dict[str, Any]]:
        """The customer's orders, newest first, each as GET /api/v1/orders/{id} shows it."""
        ids = [r["id"] for r in await self.pool.fetch(
            "SELECT id FROM orders WHERE customer_id = $1 ORDER BY created_at DESC, id", user_id)]
        return [order_json(o) for o in await order_view.load_many(self.pool, ids, with_history=True)]
