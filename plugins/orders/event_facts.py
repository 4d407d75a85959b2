"""What orders' events say about the order beyond its status: the buyer's id and the lines
(OrderStatusChanged.customer_id / lines, ShipmentStatusChanged's for its shipment), so that a consumer
(a reviews plugin: "customer X received product Y") needs no call back into orders.

Read in the transaction that emits the event, so they are the order as committed with it. For an order
status change they ride on the history insert the change makes anyway: one round trip, as before.
A guest's order gives ``customer_id`` None: its email is personal data and stays out of events.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

_LINES = """(SELECT coalesce(json_agg(json_build_object(
                 'product_id', d.product_id, 'seller_id', d.seller_id, 'shipment_no', d.shipment_no,
                 'quantity', d.quantity, 'unit_price_cents', d.unit_price_cents, 'currency', btrim(o.currency))
             ORDER BY d.line_no), '[]'::json)
             FROM order_detail d WHERE d.order_id = o.id)"""


@dataclass(frozen=True)
class Facts:
    customer_id: int | None
    lines: list[dict[str, Any]]

    def of_shipment(self, shipment_no: int) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["shipment_no"] == shipment_no]


def _facts(row: asyncpg.Record) -> Facts:
    lines = row["lines"]
    return Facts(row["customer_id"], json.loads(lines) if isinstance(lines, str) else list(lines))


async def insert_history(conn: asyncpg.Connection, order_id: str, status: str, previous: str | None, actor: str,
                         reason: str) -> tuple[datetime, Facts]:
    """The order's history row (as db.insert_history) and the order's facts, in one statement."""
    row = await conn.fetchrow(f"""
        WITH h AS (INSERT INTO order_history (order_id, status, previous, actor, reason)
                   VALUES ($1, $2, $3, $4, $5) RETURNING at)
        SELECT h.at, o.customer_id, {_LINES} AS lines FROM h JOIN orders o ON o.id = $1""",
                              order_id, status, previous, actor, reason)
    return row["at"], _facts(row)


async def of_order(conn: asyncpg.Connection, order_id: str) -> Facts:
    """The order's facts alone (a shipment change that writes no order history)."""
    row = await conn.fetchrow(f"SELECT o.customer_id, {_LINES} AS lines FROM orders o WHERE o.id = $1", order_id)
    return _facts(row) if row is not None else Facts(None, [])
