"""Holding stock for orders: reserve (all or nothing), commit (sold), release, restock, expiry sweep.

Every function runs in one transaction. Rows of one order are locked together (``FOR UPDATE``, in
product order); stock rows are changed in ascending product order; the sweeper skips rows another
transaction holds (``SKIP LOCKED``). So concurrent calls neither deadlock nor double-count.
"""
from __future__ import annotations

import asyncpg

from ecom.errors import Conflict, NotFound
from ecom.i18n import _

from . import db
from .db import Move
from .lowstock import Level, LowStockAlerts
from .models import OutOfStock, Reservation
from .stockevents import StockEvents


class _AlreadyThere(Exception):
    """A concurrent call reserved the same order_ref first: roll ours back and return theirs."""


def as_reservation(row: asyncpg.Record) -> Reservation:
    return Reservation(row["order_ref"], row["product_id"], row["region"], row["quantity"], row["status"],
                       row["expires_at"], row["created_at"], row["restocked_at"] is not None)


async def reserve(pool: asyncpg.Pool, order_ref: str, lines: list[tuple[int, int]], region: str,
                  ttl_seconds: int, actor: str, alerts: LowStockAlerts | None = None,
                  stock: StockEvents | None = None) -> list[Reservation]:
    """``lines`` are checked, summed and sorted by product id (checks.items). A reservation is what lowers
    the available units at checkout, so its transaction also writes the LowStock alerts (``alerts``) and a
    StockChanged per product (``stock``). The sellers are looked up before any row is locked."""
    sellers = await stock.sellers([p for p, _ in lines]) if stock is not None else None
    try:
        async with pool.acquire() as conn, conn.transaction():
            existing = await db.reservations_of(conn, order_ref)
            if existing:
                return [as_reservation(r) for r in existing]
            if await db.insert_reservations(conn, order_ref, region, lines, ttl_seconds) != len(lines):
                raise _AlreadyThere
            levels, changed = [], []
            for product_id, units in lines:
                row = await db.reserve_units(conn, product_id, region, units)
                if row is None:
                    raise OutOfStock(product_id, region, units, await db.available(conn, product_id, region))
                after = row["quantity"] - row["reserved"]
                levels.append(Level(product_id, region, after + units, after))
                changed.append(row)
            await db.record(conn, [Move(p, region, 0, n, "reservation", actor, "", order_ref) for p, n in lines])
            if alerts is not None:
                await alerts.announce(conn, levels, sellers)
            if stock is not None:
                await stock.announce(conn, changed, "reservation", actor, order_ref)
            return [as_reservation(r) for r in await db.reservations_of(conn, order_ref)]
    except _AlreadyThere:
        return [as_reservation(r) for r in await db.reservations_of(pool, order_ref)]


async def _locked(conn, order_ref: str) -> list[asyncpg.Record]:
    rows = await db.reservations_of(conn, order_ref, lock=True)
    if not rows:
        raise NotFound(_("No reservation for order {order}.").format(order=repr(order_ref)))
    return rows


async def commit(pool: asyncpg.Pool, order_ref: str, actor: str,
                 stock: StockEvents | None = None) -> list[Reservation]:
    async with pool.acquire() as conn, conn.transaction():
        rows = await _locked(conn, order_ref)
        if any(r["status"] == "released" for r in rows):
            raise Conflict(_("The reservation for order {order} was released (or expired); it cannot be "
                             "committed. Reserve again.").format(order=repr(order_ref)))
        held = [r for r in rows if r["status"] == "held"]
        changed = [await db.change(conn, r["product_id"], r["region"], -r["quantity"], -r["quantity"]) for r in held]
        await db.record(conn, [Move(r["product_id"], r["region"], -r["quantity"], -r["quantity"], "sale", actor,
                                    "", order_ref) for r in held])
        if stock is not None:
            await stock.announce(conn, changed, "sale", actor, order_ref)
        await db.set_status(conn, order_ref, [r["product_id"] for r in held], "committed")
        return [as_reservation(r) for r in await db.reservations_of(conn, order_ref)]


async def release(pool: asyncpg.Pool, order_ref: str, reason: str, actor: str,
                  stock: StockEvents | None = None) -> list[Reservation]:
    async with pool.acquire() as conn, conn.transaction():
        rows = await _locked(conn, order_ref)
        if any(r["status"] == "committed" for r in rows):
            raise Conflict(_("The reservation for order {order} is committed (sold); restock it instead.").format(
                order=repr(order_ref)))
        held = [r for r in rows if r["status"] == "held"]
        changed = await _free(conn, held, reason, actor)
        if stock is not None:
            await stock.announce(conn, changed, "release", actor, order_ref)
        await db.set_status(conn, order_ref, [r["product_id"] for r in held], "released")
        return [as_reservation(r) for r in await db.reservations_of(conn, order_ref)]


async def restock(pool: asyncpg.Pool, order_ref: str, reason: str, actor: str,
                  stock: StockEvents | None = None) -> list[Reservation]:
    """Put the units of a committed (sold) reservation back on the shelf: a refund. Idempotent."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await _locked(conn, order_ref)
        if any(r["status"] != "committed" for r in rows):
            raise Conflict(_("Only a committed reservation can be restocked; order {order}'s is not.").format(
                order=repr(order_ref)))
        todo = [r for r in rows if r["restocked_at"] is None]
        changed = [await db.change(conn, r["product_id"], r["region"], r["quantity"], 0) for r in todo]
        await db.record(conn, [Move(r["product_id"], r["region"], r["quantity"], 0, "adjustment", actor,
                                    reason or "restock", order_ref) for r in todo])
        if stock is not None:
            await stock.announce(conn, changed, "restock", actor, order_ref)
        await db.mark_restocked(conn, order_ref, [r["product_id"] for r in todo])
        return [as_reservation(r) for r in await db.reservations_of(conn, order_ref)]


async def _free(conn, rows: list[asyncpg.Record], reason: str, actor: str) -> list[asyncpg.Record]:
    """reserved -= n for each row, stock rows in ascending (product, region) order, with 'release' moves;
    the stock rows after the change."""
    totals: dict[tuple[int, str], int] = {}
    for r in rows:
        key = (r["product_id"], r["region"])
        totals[key] = totals.get(key, 0) + r["quantity"]
    changed = [await db.change(conn, product_id, region, 0, -units)
               for (product_id, region), units in sorted(totals.items())]
    await db.record(conn, [Move(r["product_id"], r["region"], 0, -r["quantity"], "release", actor, reason,
                                r["order_ref"]) for r in rows])
    return changed


async def sweep(pool: asyncpg.Pool, limit: int = 500, stock: StockEvents | None = None) -> int:
    """Release up to ``limit`` held rows past their expiry; the number released. Safe with many workers."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await db.claim_expired(conn, limit)
        if rows:
            changed = await _free(conn, rows, "expired", "system:sweeper")
            if stock is not None:
                await stock.announce(conn, changed, "expiry", "system:sweeper")
            await db.release_claimed(conn, [(r["order_ref"], r["product_id"]) for r in rows])
        return len(rows)
