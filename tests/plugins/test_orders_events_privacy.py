"""Orders' additions for issue 11: ShipmentStatusChanged in the outbox for every shipment status change
(a seller's steps with carrier and tracking, a refund, a whole-order cancel), ORDERS.record (the whole
order for in-process plugins), the tax rates and the buyer's language captured at checkout (shown by the
API; None for older rows), and the erasure of a deleted account: its orders anonymised once (amounts,
lines and statuses kept), its data export.

Everything goes through the real checkout API, the real payments plugin, the broker and PostgreSQL; the
UserDeleted event is emitted into the users plugin's real outbox, as the users plugin does.
"""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ecom.app import EVENT_BUS, POOLS
from ecom.errors import NotFound
from ecom.events.subscriptions import PluginEvents
from ecom.privacy import export_personal_data
from plugins.orders.keys import ORDERS
from plugins.orders.privacy import ANONYMISED
from plugins.users.events import UserDeleted
from tests.helpers import start, wait_until
from tests.plugins.test_orders import (EU, bearer, get_order, orders_config, product, read_event, user,
                                      wait_status)
from tests.plugins.test_shipments import SHIP_TO, move, place

BILL_TO = {**SHIP_TO, "name": "Ana Facturas", "line1": "Gran Vía 2", "phone": "+34600000000"}


async def shipment_events(pool, order_id: str) -> list[dict]:
    rows = await pool.fetch("SELECT payload FROM outbox WHERE topic = 'ecom/orders/shipment' "
                            "AND payload::jsonb #>> '{data,order_id}' = $1 ORDER BY created_at, id", order_id)
    return [json.loads(r["payload"])["data"] for r in rows]


async def test_every_shipment_change_emits_shipment_status_changed(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    _, ana = await user(client, seller=True)
    _, bo = await user(client, seller=True)
    _, dee = await user(client)
    mug = await product(client, ana, stock={EU: 5}, price_cents=1210, name="Ana mug")
    pen = await product(client, bo, stock={EU: 5}, price_cents=605, name="Bo pen")
    pool = client.app[POOLS]["orders"]
    order_id = await place(client, dee, [(mug, 1), (pen, 1)])
    await wait_status(client, dee, order_id, "paid")
    assert await shipment_events(pool, order_id) == []  # placing and paying move no shipment

    assert (await move(client, ana, order_id, 1, "fulfilled")).status == 200
    resp = await move(client, ana, order_id, 1, "shipped", carrier="DHL", tracking_number="JD0142")
    assert resp.status == 200, await resp.text()
    assert (await move(client, ana, order_id, 1, "delivered")).status == 200
    assert (await client.post(f"/api/v1/orders/{order_id}/shipments/2/refund", headers=bearer(bo))).status == 200
    events = await shipment_events(pool, order_id)
    ana_id = (await get_order(client, ana, order_id))["shipments"][0]["seller_id"]
    assert [(e["shipment_no"], e["previous"], e["status"]) for e in events] == [
        (1, "pending", "fulfilled"), (1, "fulfilled", "shipped"), (1, "shipped", "delivered"), (2, "pending", "refunded")]
    assert [(e["carrier"], e["tracking_number"]) for e in events[:3]] == [(None, None), ("DHL", "JD0142"),
                                                                         ("DHL", "JD0142")]
    assert events[0]["seller_id"] == ana_id and events[0]["actor"] == f"seller:{ana_id}"
    assert events[3]["actor"].startswith("seller:") and events[3]["seller_id"] != ana_id
    assert all(e["at"] for e in events)
    # one event per shipment history row, written in the same transactions
    assert await pool.fetchval("SELECT count(*) FROM shipment_history WHERE order_id = $1", order_id) == 4

    # a whole-order cancel (of a paid order) cancels each shipment: one event each
    _, eve = await user(client)
    other = await place(client, eve, [(mug, 1), (pen, 1)])
    await wait_status(client, eve, other, "paid")
    resp = await client.post(f"/api/v1/orders/{other}/cancel", headers=bearer(eve))
    assert resp.status == 200, await resp.text()
    cancelled = await shipment_events(pool, other)
    assert sorted((e["shipment_no"], e["previous"], e["status"]) for e in cancelled) == [
        (1, "pending", "cancelled"), (2, "pending", "cancelled")]
    assert {e["actor"] for e in cancelled} == {cancelled[0]["actor"]} and cancelled[0]["actor"].startswith("customer:")


async def test_record_tax_rates_and_locale(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    _, ana = await user(client, seller=True)
    dee_id, dee = await user(client)
    mug = await product(client, ana, stock={EU: 5}, price_cents=1210, name="Ana mug")
    resp = await client.post("/api/v1/orders?lang=es", headers=bearer(dee), json={
        "items": [{"product_id": mug, "quantity": 2}], "ship_to": SHIP_TO, "bill_to": BILL_TO,
        "payment": {"method": "card", "card_number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2040,
                    "cvc": "123"}})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["locale"] == "es"
    assert body["shipments"][0]["lines"][0]["tax_rate"] == "21" and "tax_rate" not in body["lines"][0]
    assert body["shipments"][0]["shipping_tax_rate"] is not None

    svc = client.app[ORDERS]
    order = await svc.record(body["id"])  # no viewer: the whole order
    assert order.customer_id == dee_id and order.locale == "es" and order.bill_to["name"] == "Ana Facturas"
    assert order.lines[0].tax_rate == Decimal("21") and order.shipments[0].lines[0].quantity == 2
    assert order.shipments[0].shipping_tax_rate is not None and order.history[0].status == "pending_payment"
    assert order.email is not None and order.total_cents == body["total_cents"]
    with pytest.raises(NotFound):
        await svc.record("ord_" + "z" * 24)
    with pytest.raises(NotFound):
        await svc.record("nonsense")

    # an order from before issue 11: its rates and language read as None / null
    pool = client.app[POOLS]["orders"]
    await pool.execute("UPDATE order_detail SET tax_rate = NULL WHERE order_id = $1", body["id"])
    await pool.execute("UPDATE shipments SET shipping_tax_rate = NULL WHERE order_id = $1", body["id"])
    await pool.execute("UPDATE orders SET locale = NULL WHERE id = $1", body["id"])
    old = await svc.record(body["id"])
    assert old.locale is None and old.lines[0].tax_rate is None and old.shipments[0].shipping_tax_rate is None
    seen = await get_order(client, dee, body["id"])
    assert seen["locale"] is None and seen["shipments"][0]["lines"][0]["tax_rate"] is None
    assert seen["shipments"][0]["shipping_tax_rate"] is None
    # without a language asked for, checkout records the shop's default
    resp = await client.post("/api/v1/orders", headers=bearer(dee), json={
        "items": [{"product_id": mug, "quantity": 1}], "ship_to": SHIP_TO,
        "payment": {"method": "card", "card_number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2040,
                    "cvc": "123"}})
    assert resp.status == 201 and (await resp.json())["locale"] == "en"


async def test_a_deleted_customer_s_orders_are_anonymised_once_and_exported_before(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    _, ana = await user(client, seller=True)
    dee_id, dee = await user(client)
    _, eve = await user(client)
    mug = await product(client, ana, stock={EU: 9}, price_cents=1210, name="Ana mug")
    mine = await place(client, dee, [(mug, 2)], bill_to=BILL_TO)
    theirs = await place(client, eve, [(mug, 1)])
    await wait_status(client, dee, mine, "paid")
    before = await get_order(client, dee, mine)

    exported = await export_personal_data(client.app, dee_id)
    assert [o["id"] for o in exported["orders"]] == [mine]
    assert exported["orders"][0]["ship_to"]["name"] == "Ana García"

    users = PluginEvents(client.app[EVENT_BUS], "users", client.app[POOLS]["users"])
    pool = client.app[POOLS]["orders"]
    handled = "SELECT count(*) FROM inbox WHERE consumer LIKE 'orders:%on_user_deleted'"

    async def deleted(times: int) -> None:
        async with client.app[POOLS]["users"].acquire() as conn, conn.transaction():
            await users.emit(conn, UserDeleted(dee_id, "2025-01-31T12:00:00+00:00"))
        await wait_until(lambda: pool.fetchval(handled), lambda n: n == times, f"{times} deletion(s) handled", 20)

    await deleted(1)
    first = await pool.fetchrow("SELECT * FROM orders WHERE id = $1", mine)
    assert first["anonymised_at"] is not None
    await deleted(2)  # the same deletion announced again (another event id): nothing changes
    row = await pool.fetchrow("SELECT * FROM orders WHERE id = $1", mine)
    assert dict(row) == dict(first)
    ship_to, bill_to = json.loads(row["ship_to"]), json.loads(row["bill_to"])
    assert row["email"] == ANONYMISED
    for address in (ship_to, bill_to):
        assert address["name"] == address["line1"] == address["phone"] == ANONYMISED
        assert address["country"] == "ES" and address["postal_code"] == "28013" and address["company"] == ""
    assert "García" not in json.dumps(dict(row), default=str) and "Calle Mayor" not in json.dumps(dict(row), default=str)

    after = (await client.app[ORDERS].record(mine))
    assert after.status == before["status"] and after.total_cents == before["total_cents"]
    assert [(ln.product_id, ln.quantity, ln.line_total_cents) for ln in after.lines] == [
        (ln["product_id"], ln["quantity"], ln["line_total_cents"]) for ln in before["lines"]]
    assert [h.status for h in after.history] == [h["status"] for h in before["history"]]
    assert await pool.fetchval("SELECT count(*) FROM carts WHERE customer_id = $1", dee_id) == 0
    # another customer's order is untouched
    other = await client.app[ORDERS].record(theirs)
    assert other.ship_to["name"] == "Ana García" and other.email != ANONYMISED


async def test_orders_speak_spanish_when_asked(aiohttp_client, make_config):
    """Pages, API errors, history reasons and the live stream's texts in the reader's language; English
    stays the default (no Accept-Language)."""
    client = await start(aiohttp_client, orders_config(make_config))
    _, ana = await user(client, seller=True)
    _, dee = await user(client)
    mug = await product(client, ana, stock={EU: 5}, price_cents=1210, name="Ana mug")
    order_id = await place(client, dee, [(mug, 1)])
    await wait_status(client, dee, order_id, "paid")
    es = {**bearer(dee), "Accept-Language": "es"}

    page = await (await client.get(f"/orders/{order_id}", headers=es)).text()
    assert "Historial de estados" in page and "Pedido realizado" in page and "Pago aprobado" in page
    assert "Pagado" in page and "Envío 1" in page and "Status history" not in page
    assert " UTC" not in page  # times in the reader's zone, formatted for the locale
    english = await (await client.get(f"/orders/{order_id}", headers=bearer(dee))).text()
    assert "Status history" in english and "Order placed" in english and "Payment approved" in english

    resp = await client.get("/api/v1/orders/ord_" + "z" * 24, headers=es)
    assert resp.status == 404 and (await resp.json())["detail"] == "No existe ese pedido."
    resp = await move(client, ana, order_id, 1, "shipped", carrier="DHL", tracking_number="X1")
    assert resp.status == 409 and "cannot become shipped" in (await resp.json())["detail"]
    resp = await client.post(f"/api/v1/orders/{order_id}/shipments/1/status", headers={**bearer(ana),
                             "Accept-Language": "es"}, json={"status": "shipped", "carrier": "DHL"})
    body = await resp.json()
    assert resp.status == 422 and body["errors"]["tracking_number"].startswith("Indica el número de seguimiento")

    # the stored reason stays English (the msgid); the seller's step reads in Spanish on the page
    assert (await move(client, ana, order_id, 1, "fulfilled")).status == 200
    assert (await get_order(client, dee, order_id))["history"][-1]["reason"] == \
        "Marked fulfilled by the seller (shipment 1)"
    page = await (await client.get(f"/orders/{order_id}", headers=es)).text()
    assert "Marcado como preparado por el vendedor (envío 1)" in page

    # the live stream's frame carries the texts the page's script shows
    async with client.get(f"/api/v1/orders/{order_id}/events", headers=es) as resp:
        frame = await read_event(resp)
    assert frame["status"] == "fulfilled" and frame["reason_text"] == "Marcado como preparado por el vendedor (envío 1)"
    assert frame["at_text"] and frame["at_text"] != frame["at"]
