"""Partial refunds (issue 10): several refunds of one payment, once per (order, refund_ref), their sum
never above the amount paid; status partially_refunded, then refunded; the API and pages show them.
Requests arrive as signed envelopes on the real broker, as orders sends them (test_payments.py)."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

import plugins.payments as payments_plugin
from ecom.app import POOLS
from ecom.db import database_url, ensure_database, migrate, read_migrations
from ecom.events import Envelope
from plugins.payments.events import PaymentRefunded, RefundRequested
from plugins.payments.keys import PAYMENTS

from tests.helpers import start, wait_until

from .test_payments import (bearer, envelope, order, payment_row, payments_config, processed, publish,
                            request_for, user, wire)


def refund(order_id: str, amount: int, ref: str, currency: str = "EUR") -> Envelope:
    return envelope(RefundRequested(order_id, amount, currency, f"Shipment {ref} cancelled", ref))


async def refund_rows(pool, order_id: str) -> list:
    return await pool.fetch("SELECT refund_ref, amount_cents, status, rejection FROM refunds WHERE order_id = $1 "
                            "ORDER BY created_at, id", order_id)


async def test_shipments_are_refunded_one_by_one_never_above_the_amount_paid(aiohttp_client, make_config):
    config = payments_config(make_config)
    client = await start(aiohttp_client, config)
    app, pool = client.app, client.app[POOLS]["payments"]
    customer, token = await user(client)
    paid = order()
    async with wire(config) as seen:
        await publish(config, await request_for(app, paid, customer_id=customer, amount_cents=10000))
        await wait_until(lambda: processed(pool, paid), bool, "the payment")

        await publish(config, refund(paid, 3000, "1"), times=2)  # a repeat (QoS 1, N workers) refunds once
        await wait_until(lambda: refund_rows(pool, paid), lambda rows: len(rows) == 1, "the first refund")
        row = await payment_row(pool, paid)
        assert (row["status"], row["refunded_cents"]) == ("partially_refunded", 3000)

        await publish(config, refund(paid, 8000, "2"))  # 3000 + 8000 > 10000: rejected, nothing moves
        await publish(config, refund(paid, 2500, "2", currency="USD"))  # another currency: rejected
        await wait_until(lambda: refund_rows(pool, paid), lambda rows: len(rows) == 3, "the two rejections")
        assert (await payment_row(pool, paid))["refunded_cents"] == 3000

        await publish(config, refund(paid, 2500, "2"))
        await wait_until(lambda: payment_row(pool, paid), lambda r: r["refunded_cents"] == 5500, "the second refund")
        assert (await payment_row(pool, paid))["status"] == "partially_refunded"

        # the whole order ("") after two shipments: what is left, not the total asked for again
        await publish(config, envelope(RefundRequested(paid, 10000, "EUR", "Order cancelled")))
        await wait_until(lambda: payment_row(pool, paid), lambda r: r["status"] == "refunded", "the rest")
        row = await payment_row(pool, paid)
        assert row["refunded_cents"] == 10000 and row["refunded_at"] is not None

        await publish(config, refund(paid, 1, "3"))  # nothing left
        await wait_until(lambda: refund_rows(pool, paid), lambda rows: len(rows) == 6, "the last rejection")
        rows = await refund_rows(pool, paid)
        assert {(r["refund_ref"], r["amount_cents"]) for r in rows if r["status"] == "completed"} == {
            ("1", 3000), ("2", 2500), ("", 4500)}  # 3000 + 2500 + 4500 = the 10000 paid, to the cent
        rejected = {(r["refund_ref"], r["amount_cents"]): r["rejection"] for r in rows if r["status"] == "rejected"}
        assert set(rejected) == {("2", 8000), ("2", 2500), ("3", 1)}
        assert "more than the 7000 left" in rejected[("2", 8000)]
        assert "currency 'USD' differs" in rejected[("2", 2500)]
        assert "already refunded in full" in rejected[("3", 1)]

        events = await wait_until(lambda: asyncio.sleep(0, seen.results(paid, (PaymentRefunded.TOPIC,))),
                                  lambda found: len(found) == 3, "three PaymentRefunded")
        assert sorted((e.data["refund_ref"], e.data["amount_cents"]) for e in events) == [
            ("", 4500), ("1", 3000), ("2", 2500)]
        assert sum(e.data["amount_cents"] for e in events) == 10000

    resp = await client.get("/api/v1/payments", params={"order_id": paid}, headers=bearer(token))
    (payment,) = await resp.json()
    assert payment["status"] == "refunded" and payment["refunded_cents"] == 10000
    assert [(r["refund_ref"], r["amount_cents"]) for r in payment["refunds"]] == [("1", 3000), ("2", 2500), ("", 4500)]
    page = await (await client.get("/account/payments", headers=bearer(token))).text()
    assert "Shipment 1" in page and "Whole order" in page and "€45.00" in page


async def test_concurrent_refunds_of_one_order_never_exceed_what_was_paid(aiohttp_client, make_config):
    """Twelve different shipment refunds of 1,000 race for a 5,000 payment (two app instances, so two
    consumers): the row lock decides them one by one; exactly five are granted."""
    config = payments_config(make_config)
    client = await start(aiohttp_client, config)
    await start(aiohttp_client, config)  # a second worker receiving every message too
    app, pool = client.app, client.app[POOLS]["payments"]
    paid = order()
    await publish(config, await request_for(app, paid, amount_cents=5000))
    await wait_until(lambda: processed(pool, paid), bool, "the payment")
    await publish(config, *[refund(paid, 1000, f"s{n}") for n in range(12)])
    rows = await wait_until(lambda: refund_rows(pool, paid), lambda r: len(r) == 12, "twelve decisions")
    assert sum(r["status"] == "completed" for r in rows) == 5
    row = await payment_row(pool, paid)
    assert (row["status"], row["refunded_cents"]) == ("refunded", 5000)


async def test_partially_refunded_payments_are_listed_and_filtered(aiohttp_client, make_config):
    config = payments_config(make_config)
    client = await start(aiohttp_client, config)
    app, pool = client.app, client.app[POOLS]["payments"]
    _, admin = await user(client, admin=True)
    part = order()
    await publish(config, await request_for(app, part, amount_cents=4000))
    await wait_until(lambda: processed(pool, part), bool, "the payment")
    await publish(config, refund(part, 1500, "shipment-3"))
    await wait_until(lambda: payment_row(pool, part), lambda r: r["status"] == "partially_refunded", "a refund")
    resp = await client.get("/api/v1/payments", params={"status": "partially_refunded"}, headers=bearer(admin))
    found = await resp.json()
    assert resp.status == 200 and [p["order_id"] for p in found] == [part] and found[0]["refunded_cents"] == 1500
    page = await (await client.get("/admin/payments", headers=bearer(admin))).text()
    assert "Partially refunded" in page and "Refunded €15.00 of €40.00" in page and "Shipment 3" in page
    summary = await (await client.get("/api/v1/payments/summary", headers=bearer(admin))).json()
    assert (summary[0]["approved"], summary[0]["refunded"]) == (1, 1)
    counts = await app[PAYMENTS].counts_by_status()
    assert counts["partially_refunded"] == 1


async def test_migration_0003_keeps_past_refunds_honest(pg):
    """A database refunded before partial refunds existed: a refund of the whole amount stays
    ``refunded``; one of part of it (allowed then) becomes ``partially_refunded`` with its sum."""
    url = database_url(pg.url(), f"m{uuid.uuid4().hex[:10]}_payments")
    await ensure_database(url)
    migrations = read_migrations(Path(payments_plugin.__file__).parent / "migrations", "payments")
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn, [m for m in migrations if m.version < "0003"])
        ids = {}
        for name, paid, refunded in (("full", 2599, 2599), ("part", 5000, 1200), ("open", 900, None)):
            ids[name] = uuid.uuid4()
            await conn.execute("""
                INSERT INTO payments (id, order_id, customer_id, amount_cents, currency, status, transaction_id,
                                      due_at, processed_at, refunded_at)
                VALUES ($1, $2, 1, $3, 'EUR', $4, $5, now(), now(), CASE WHEN $6::bigint IS NULL THEN NULL ELSE now() END)""",
                               ids[name], f"ord_{name}", paid, "approved" if refunded is None else "refunded",
                               f"txn_{name}", refunded)
            if refunded is not None:
                await conn.execute("INSERT INTO refunds (id, order_id, payment_id, amount_cents, currency, reason, "
                                   "status) VALUES ($1, $2, $3, $4, 'EUR', 'Cancelled', 'completed')",
                                   uuid.uuid4(), f"ord_{name}", ids[name], refunded)
        applied = [m.split(":")[1][:4] for m in await migrate(conn, migrations)]
        assert applied[0] == "0003" and "0003" not in applied[1:]  # later migrations may follow it
        rows = {r["order_id"]: (r["status"], r["refunded_cents"])
                for r in await conn.fetch("SELECT order_id, status, refunded_cents FROM payments")}
        assert rows == {"ord_full": ("refunded", 2599), "ord_part": ("partially_refunded", 1200),
                        "ord_open": ("approved", 0)}
        assert await conn.fetchval("SELECT count(*) FROM refunds WHERE refund_ref = ''") == 2
        with pytest.raises(asyncpg.CheckViolationError):  # the sum can never pass the amount
            await conn.execute("UPDATE payments SET refunded_cents = 6000 WHERE order_id = 'ord_part'")
    finally:
        await conn.close()
