"""Shipments (issue 10): a two-seller order moves per shipment, only by each shipment's seller (or an admin),
the order's status follows; shipping needs a carrier and a tracking number; one shipment is refunded alone
(RefundRequested for its lines + shipping + tax, refund_ref "shipment-<n>") and only its stock comes back;
a seller sees the ship-to address and phone of their shipment and no card data.

Orders are placed as checkout places them (one stock reservation per shipment, "<order>/<n>", the order,
its lines, its shipments and the PaymentRequested in one transaction) through the plugins' own services,
and paid by the real payments plugin through the broker.
"""
from __future__ import annotations

import json
from datetime import datetime

from ecom.app import POOLS
from plugins.inventory.keys import INVENTORY
from plugins.orders import db, shipment_db
from plugins.orders.checkout import new_order_id
from plugins.orders.keys import ORDERS
from plugins.orders.shipment_db import NewShipment
from plugins.orders.shipments import derived
from plugins.payments.events import PaymentRequested
from plugins.payments.keys import PAYMENTS
from tests.helpers import start, wait_until
from tests.plugins.test_orders import EU, bearer, get_order, orders_config, product, stock, user, wait_status

SHIP_TO = {"name": "Ana García", "company": "", "line1": "Calle Mayor 1", "line2": "", "city": "Madrid",
           "region": "", "postal_code": "28013", "country": "ES", "phone": "+34911234567"}
CARD = {"card_number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": datetime.now().year + 3, "cvc": "123"}


async def place(client, customer_id: int, shipments: list[tuple[int, list[tuple[int, int, int]], int, int]]) -> str:
    """An order of ``shipments``: (seller id, [(product id, unit price, quantity)], shipping cents, shipping
    tax cents), tax-inclusive prices with 21 % tax per line, shipped to Spain; returns its id."""
    app, order_id = client.app, new_order_id()
    svc, inventory, payments = app[ORDERS], app[INVENTORY], app[PAYMENTS]
    lines, new, money = [], [], {"subtotal": 0, "shipping": 0, "tax": 0}
    for no, (seller, items, ship_cents, ship_tax) in enumerate(shipments, start=1):
        await inventory.reserve(shipment_db.reservation_ref(order_id, no), [(p, q) for p, _, q in items], EU,
                                ttl_seconds=600)
        new.append(NewShipment(no, seller, EU, "standard", ship_cents, ship_tax))
        for pid, price, qty in items:
            lines.append((pid, seller, f"product {pid}", price, qty, no, round(price * qty * 21 / 121)))
            money["subtotal"] += price * qty
        money["shipping"] += ship_cents
        money["tax"] += sum(ln[6] for ln in lines if ln[5] == no) + ship_tax
    total = money["subtotal"] + money["shipping"]
    card = await payments.tokenize(CARD)
    async with app[POOLS]["orders"].acquire() as conn, conn.transaction():
        await db.insert_order(conn, order_id, customer_id, EU, total, "EUR", card.brand, card.last4, 600)
        await db.insert_lines(conn, order_id, [ln[:5] for ln in lines])
        await conn.executemany("UPDATE order_detail SET shipment_no = $3, tax_cents = $4 "
                               "WHERE order_id = $1 AND product_id = $2",
                               [(order_id, ln[0], ln[5], ln[6]) for ln in lines])
        await conn.execute("UPDATE orders SET ship_to = $2::jsonb, subtotal_cents = $3, shipping_cents = $4, "
                           "tax_cents = $5, prices_include_tax = true WHERE id = $1", order_id, json.dumps(SHIP_TO),
                           money["subtotal"], money["shipping"], money["tax"])
        await shipment_db.insert_shipments(conn, order_id, new)
        await svc.transitions.placed(conn, order_id, f"customer:{customer_id}", "Order placed")
        await svc.transitions.events.emit(conn, PaymentRequested(order_id, customer_id, total, "EUR", card.token,
                                                                 card.brand, card.last4))
    return order_id


async def move(client, token: str, order_id: str, n: int, status: str, **extra):
    return await client.post(f"/api/v1/orders/{order_id}/shipments/{n}/status", json={"status": status, **extra},
                             headers=bearer(token))


def test_the_order_status_is_derived_from_its_shipments():
    assert derived(["pending", "pending"]) == "paid"
    assert derived(["fulfilled", "pending"]) == "fulfilled"
    assert derived(["shipped", "fulfilled"]) == "partially_shipped"
    assert derived(["shipped", "shipped"]) == "shipped"
    assert derived(["delivered", "shipped"]) == "partially_delivered"
    assert derived(["delivered", "delivered"]) == "delivered"
    assert derived(["refunded", "shipped"]) == "partially_refunded"
    assert derived(["refunded", "refunded"]) == "refunded"
    assert derived(["cancelled"]) == "cancelled"


async def test_two_sellers_ship_their_own_shipments_and_one_is_refunded_alone(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    ana_id, ana = await user(client, seller=True)
    bo_id, bo = await user(client, seller=True)
    _, cy = await user(client, seller=True)
    _, admin = await user(client, admin=True)
    dee_id, dee = await user(client)
    mug = await product(client, ana, stock={EU: 10}, price_cents=1210, name="Ana mug")
    pen = await product(client, bo, stock={EU: 10}, price_cents=605, name="Bo pen")
    order_id = await place(client, dee_id, [(ana_id, [(mug, 1210, 1)], 490, 85), (bo_id, [(pen, 605, 2)], 390, 68)])
    await wait_status(client, dee, order_id, "paid")
    assert (await stock(client, pen))["quantity"] == 8  # committed

    # a seller sees their shipment, the ship-to name, address and phone, and nothing of the payment
    as_ana = await get_order(client, ana, order_id)
    assert [s["no"] for s in as_ana["shipments"]] == [1] and [ln["name"] for ln in as_ana["lines"]] == ["product %d" % mug]
    assert as_ana["ship_to"]["phone"] == "+34911234567" and as_ana["ship_to"]["line1"] == "Calle Mayor 1"
    assert as_ana["card"] is None and "bill_to" not in as_ana and "email" not in as_ana
    assert "4242" not in json.dumps(as_ana)
    page = await (await client.get(f"/orders/{order_id}", headers=bearer(ana))).text()
    assert "Calle Mayor 1" in page and "+34911234567" in page and "4242" not in page and "Visa" not in page

    # only the shipment's seller (or an admin) moves it: another seller 404, a customer 403
    assert (await move(client, bo, order_id, 1, "fulfilled")).status == 404
    assert (await move(client, cy, order_id, 1, "fulfilled")).status == 404
    assert (await move(client, dee, order_id, 1, "fulfilled")).status == 403
    assert (await move(client, ana, order_id, 9, "fulfilled")).status == 404
    resp = await move(client, ana, order_id, 1, "shipped", carrier="DHL", tracking_number="JD1")
    assert resp.status == 409 and "cannot become shipped" in (await resp.json())["detail"]
    assert (await move(client, ana, order_id, 1, "fulfilled")).status == 200
    for body, field in (({}, "carrier"), ({"carrier": "DHL"}, "tracking_number"),
                        ({"carrier": "DHL", "tracking_number": "  "}, "tracking_number")):
        resp = await move(client, ana, order_id, 1, "shipped", **body)
        assert resp.status == 422 and field in (await resp.json())["errors"], body
    resp = await move(client, ana, order_id, 1, "shipped", carrier="DHL", tracking_number="JD0142")
    assert resp.status == 200, await resp.text()
    assert (await get_order(client, dee, order_id))["status"] == "partially_shipped"
    assert (await get_order(client, dee, order_id))["shipments"][1]["status"] == "pending"  # Bo's did not move

    assert (await move(client, bo, order_id, 2, "fulfilled")).status == 200
    resp = await move(client, admin, order_id, 2, "shipped", carrier="Correos", tracking_number="PQ9")
    assert resp.status == 200, await resp.text()
    full = await get_order(client, dee, order_id)
    assert full["status"] == "shipped"
    assert [(s["carrier"], s["tracking_number"]) for s in full["shipments"]] == [("DHL", "JD0142"), ("Correos", "PQ9")]
    assert [h["status"] for h in full["history"]] == ["pending_payment", "paid", "fulfilled", "partially_shipped",
                                                      "shipped"]

    # Bo's shipment refunded alone: its lines + shipping (tax inside), refund_ref shipment-2, its stock back
    pool = client.app[POOLS]["orders"]
    assert (await client.post(f"/api/v1/orders/{order_id}/shipments/2/refund", headers=bearer(dee))).status == 403
    assert (await client.post(f"/api/v1/orders/{order_id}/shipments/2/refund", headers=bearer(ana))).status == 404
    resp = await client.post(f"/api/v1/orders/{order_id}/shipments/2/refund", headers=bearer(bo))
    assert resp.status == 200, await resp.text()
    refund = json.loads(await pool.fetchval(
        "SELECT payload FROM outbox WHERE topic = 'ecom/payments/refund_requested' AND payload::jsonb #>> "
        "'{data,order_id}' = $1", order_id))["data"]
    assert refund["amount_cents"] == 2 * 605 + 390 and refund["currency"] == "EUR"
    assert refund.get("refund_ref", "shipment-2") == "shipment-2"
    assert (await stock(client, pen))["quantity"] == 10 and (await stock(client, mug))["quantity"] == 9
    after = await get_order(client, dee, order_id)
    assert after["status"] == "partially_refunded"
    assert [s["status"] for s in after["shipments"]] == ["shipped", "refunded"]
    assert after["shipments"][1]["refund_cents"] == 1600
    assert (await client.post(f"/api/v1/orders/{order_id}/shipments/2/refund", headers=bearer(bo))).status == 409

    # Ana's shipment is delivered; the order stays partially refunded, its shipments say the rest
    assert (await move(client, ana, order_id, 1, "delivered")).status == 200
    assert (await get_order(client, dee, order_id))["shipments"][0]["status"] == "delivered"


async def test_a_customer_cancels_a_pending_shipment_and_legacy_orders_still_move(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    ana_id, ana = await user(client, seller=True)
    dee_id, dee = await user(client)
    mug = await product(client, ana, stock={EU: 5}, price_cents=1000, name="Ana mug")
    order_id = await place(client, dee_id, [(ana_id, [(mug, 1000, 2)], 0, 0)])
    await wait_status(client, dee, order_id, "paid")
    resp = await client.post(f"/api/v1/orders/{order_id}/shipments/1/refund", headers=bearer(dee))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "refunded"
    await wait_until(lambda: stock(client, mug), lambda s: s["quantity"] == 5, "the mugs back in stock")

    # an order without shipment rows (placed before them) is read and moved as one shipment per seller
    legacy = await place(client, dee_id, [(ana_id, [(mug, 1000, 1)], 0, 0)])
    await wait_status(client, dee, legacy, "paid")
    pool = client.app[POOLS]["orders"]
    await pool.execute("DELETE FROM shipments WHERE order_id = $1", legacy)
    await pool.execute("UPDATE order_detail SET shipment_no = NULL WHERE order_id = $1", legacy)
    assert [s["no"] for s in (await get_order(client, ana, legacy))["shipments"]] == [1]
    resp = await client.post(f"/api/v1/orders/{legacy}/status", json={"status": "fulfilled"}, headers=bearer(ana))
    assert resp.status == 200 and (await resp.json())["status"] == "fulfilled"
    assert await pool.fetchval("SELECT status FROM shipments WHERE order_id = $1", legacy) == "fulfilled"
