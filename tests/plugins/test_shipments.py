"""Shipments (issue 10): a two-seller order moves per shipment, only by each shipment's seller (or an admin),
the order's status follows; shipping needs a carrier and a tracking number; one shipment is refunded alone
(RefundRequested for its lines + shipping + tax, refund_ref "shipment-<n>") and only its stock comes back;
a seller sees the ship-to address and phone of their shipment and no card data. The list pages show one row
per shipment (a seller's: theirs only, with the ship-to and their step buttons), the status filters know the
statuses derived from shipments, and the live stream ends once the order can change no more (a partially
refunded order: when no shipment can move).

Orders are placed through the real checkout API (a Spanish ship-to; one shipment per seller, stock reserved
per shipment "<order>/<n>") and paid by the real payments plugin through the broker.
"""
from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime

from ecom.app import POOLS
from ecom.testing import patiently
from plugins.orders.shipments import derived
from tests.helpers import start, wait_until
from tests.plugins.test_orders import (EU, bearer, get_order, orders_config, product, read_event, stock, user,
                                      wait_status)

SHIP_TO = {"name": "Ana García", "company": "", "line1": "Calle Mayor 1", "line2": "", "city": "Madrid",
           "region": "", "postal_code": "28013", "country": "ES", "phone": "+34911234567"}
CARD = {"card_number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": datetime.now().year + 3, "cvc": "123"}


async def place(client, token: str, items: list[tuple[int, int]], **extra) -> str:
    """An order of ``items`` [(product id, quantity)] placed through the real checkout API, shipped to
    Spain (one shipment per seller, stock reserved per shipment); returns its id. A 503 (no database
    connection in time: many checkouts at once on a busy machine) is retried after its Retry-After with the
    same Idempotency-Key, as a real client does, for up to 60 s: never a second order."""
    headers = {**bearer(token), "Idempotency-Key": f"place-{uuid.uuid4().hex}"}
    resp = await patiently(client.post, "/api/v1/orders", headers=headers, json={
        "items": [{"product_id": p, "quantity": q} for p, q in items], "ship_to": SHIP_TO,
        "payment": {"method": "card", **CARD}, **extra})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"]


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
    client = await start(aiohttp_client, orders_config(make_config, shipping={}))
    _, ana = await user(client, seller=True)
    _, bo = await user(client, seller=True)
    _, cy = await user(client, seller=True)
    _, admin = await user(client, admin=True)
    _, dee = await user(client)
    mug = await product(client, ana, stock={EU: 10}, price_cents=1210, name="Ana mug")
    pen = await product(client, bo, stock={EU: 10}, price_cents=605, name="Bo pen")
    order_id = await place(client, dee, [(mug, 1), (pen, 2)])
    await wait_status(client, dee, order_id, "paid")
    assert (await stock(client, pen))["quantity"] == 8  # committed

    # a seller sees their shipment, the ship-to name, address and phone, and nothing of the payment
    as_ana = await get_order(client, ana, order_id)
    assert [s["no"] for s in as_ana["shipments"]] == [1] and [ln["name"] for ln in as_ana["lines"]] == ["Ana mug"]
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
    # a seller's view of the history has no step of another seller's shipment
    ana_id = as_ana["lines"][0]["seller_id"]
    assert {h["actor"] for h in (await get_order(client, bo, order_id))["history"]}.isdisjoint({f"seller:{ana_id}"})
    assert f"seller:{ana_id}" in {h["actor"] for h in full["history"]}

    # Bo's shipment refunded alone: its lines + shipping (tax inside), refund_ref shipment-2, its stock back
    pool = client.app[POOLS]["orders"]
    assert (await client.post(f"/api/v1/orders/{order_id}/shipments/2/refund", headers=bearer(dee))).status == 403
    assert (await client.post(f"/api/v1/orders/{order_id}/shipments/2/refund", headers=bearer(ana))).status == 404
    resp = await client.post(f"/api/v1/orders/{order_id}/shipments/2/refund", headers=bearer(bo))
    assert resp.status == 200, await resp.text()
    refund = json.loads(await pool.fetchval(
        "SELECT payload FROM outbox WHERE topic = 'ecom/payments/refund_requested' AND payload::jsonb #>> "
        "'{data,order_id}' = $1", order_id))["data"]
    assert refund["amount_cents"] == 2 * 605 + 490 and refund["currency"] == "EUR"
    assert refund.get("refund_ref", "shipment-2") == "shipment-2"
    assert (await stock(client, pen))["quantity"] == 10 and (await stock(client, mug))["quantity"] == 9
    after = await get_order(client, dee, order_id)
    assert after["status"] == "partially_refunded"
    assert [s["status"] for s in after["shipments"]] == ["shipped", "refunded"]
    assert after["shipments"][1]["refund_cents"] == 2 * 605 + 490
    assert (await client.post(f"/api/v1/orders/{order_id}/shipments/2/refund", headers=bearer(bo))).status == 409

    # Ana's shipment is delivered; the order stays partially refunded, its shipments say the rest
    assert (await move(client, ana, order_id, 1, "delivered")).status == 200
    assert (await get_order(client, dee, order_id))["shipments"][0]["status"] == "delivered"


async def test_a_customer_cancels_a_pending_shipment_and_legacy_orders_still_move(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    _, ana = await user(client, seller=True)
    _, dee = await user(client)
    mug = await product(client, ana, stock={EU: 5}, price_cents=1000, name="Ana mug")
    order_id = await place(client, dee, [(mug, 2)])
    await wait_status(client, dee, order_id, "paid")
    resp = await client.post(f"/api/v1/orders/{order_id}/shipments/1/refund", headers=bearer(dee))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "refunded"
    await wait_until(lambda: stock(client, mug), lambda s: s["quantity"] == 5, "the mugs back in stock")

    # an order without shipment rows (placed before them) is read and moved as one shipment per seller
    legacy = await place(client, dee, [(mug, 1)])
    await wait_status(client, dee, legacy, "paid")
    pool = client.app[POOLS]["orders"]
    await pool.execute("DELETE FROM shipments WHERE order_id = $1", legacy)
    await pool.execute("UPDATE order_detail SET shipment_no = NULL WHERE order_id = $1", legacy)
    assert [s["no"] for s in (await get_order(client, ana, legacy))["shipments"]] == [1]
    resp = await client.post(f"/api/v1/orders/{legacy}/status", json={"status": "fulfilled"}, headers=bearer(ana))
    assert resp.status == 200 and (await resp.json())["status"] == "fulfilled"
    assert await pool.fetchval("SELECT status FROM shipments WHERE order_id = $1", legacy) == "fulfilled"


async def test_sellers_list_their_shipments_with_the_address_and_the_filters_know_the_new_statuses(
        aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    _, ana = await user(client, seller=True)
    _, bo = await user(client, seller=True)
    _, admin = await user(client, admin=True)
    _, dee = await user(client)
    mug = await product(client, ana, stock={EU: 10}, price_cents=1210, name="Ana mug")
    pen = await product(client, bo, stock={EU: 10}, price_cents=605, name="Bo pen")
    order_id = await place(client, dee, [(mug, 1), (pen, 2)])
    await wait_status(client, dee, order_id, "paid")

    # Ana's "Orders to fulfil": one row for her shipment, the ship-to name, place and phone, her step
    # button for that shipment only; nothing of Bo's shipment and nothing of the payment
    page = await (await client.get("/seller/orders", headers=bearer(ana))).text()
    assert f'id="row-{order_id}-1"' in page and f'id="row-{order_id}-2"' not in page
    assert "1 × Ana mug<" in page and "Bo pen" not in page
    assert "Ana García" in page and "Madrid, ES" in page and "+34911234567" in page
    assert f'action="/orders/{order_id}/shipments/1/status"' in page
    assert f'action="/orders/{order_id}/shipments/2/status"' not in page and f"/orders/{order_id}/status" not in page
    assert "4242" not in page and "visa" not in page.lower()
    bo_page = await (await client.get("/seller/orders", headers=bearer(bo))).text()
    assert f'id="row-{order_id}-2"' in bo_page and f'id="row-{order_id}-1"' not in bo_page
    admin_page = await (await client.get("/admin/orders", headers=bearer(admin))).text()
    assert f'id="row-{order_id}-1"' in admin_page and f'id="row-{order_id}-2"' in admin_page

    # the list's button moves Ana's shipment alone, back to the list
    resp = await client.post(f"/orders/{order_id}/shipments/1/status", headers=bearer(ana), allow_redirects=False,
                             data={"status": "fulfilled", "next": "/seller/orders"})
    assert resp.status == 303 and resp.headers["Location"] == "/seller/orders"
    assert [s["status"] for s in (await get_order(client, dee, order_id))["shipments"]] == ["fulfilled", "pending"]
    assert (await move(client, ana, order_id, 1, "shipped", carrier="DHL", tracking_number="JD77")).status == 200
    assert (await get_order(client, dee, order_id))["status"] == "partially_shipped"

    # the status filter of the API and of the list pages knows the statuses derived from shipments
    async def listed(token: str, **params: str) -> list[str]:
        resp = await client.get("/api/v1/orders", params=params, headers=bearer(token))
        assert resp.status == 200, await resp.text()
        return [o["id"] for o in await resp.json()]
    assert await listed(dee, status="partially_shipped") == [order_id]
    assert await listed(admin, status="partially_shipped") == [order_id]
    assert await listed(bo, status="partially_shipped", **{"as": "seller"}) == [order_id]
    assert await listed(dee, status="shipped") == [] and await listed(dee, status="refunded") == []
    assert (await client.get("/api/v1/orders", params={"status": "lost"}, headers=bearer(dee))).status == 422
    spec = await (await client.get("/api/v1/openapi.json")).json()
    params = {p["name"]: p for p in spec["paths"]["/api/v1/orders"]["get"]["parameters"]}
    assert {"partially_shipped", "partially_delivered", "partially_refunded", "refunded"} <= set(
        params["status"]["schema"]["enum"])
    for path, token in (("/seller/orders", bo), ("/admin/orders", admin), ("/orders", dee)):
        text = await (await client.get(path, params={"status": "partially_shipped"}, headers=bearer(token))).text()
        assert order_id in text and '<option value="partially_shipped" selected>Partially shipped</option>' in text
        empty = await (await client.get(path, params={"status": "partially_refunded"}, headers=bearer(token))).text()
        assert order_id not in empty
    history = await (await client.get("/orders", headers=bearer(dee))).text()
    assert 'data-shipments="2">2 (1 sent)' in history and "Partially shipped" in history

    # the order page shows each shipment's own history
    page = await (await client.get(f"/orders/{order_id}", headers=bearer(dee))).text()
    assert "History of shipment 1" in page and "Marked shipped by the seller" in page
    assert "History of shipment 2" not in page  # nothing happened to Bo's yet


async def test_the_live_stream_ends_once_the_order_can_change_no_more(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    _, ana = await user(client, seller=True)
    _, bo = await user(client, seller=True)
    _, dee = await user(client)
    mug = await product(client, ana, stock={EU: 10}, price_cents=1000, name="Ana mug")
    pen = await product(client, bo, stock={EU: 10}, price_cents=500, name="Bo pen")
    order_id = await place(client, dee, [(mug, 1), (pen, 1)])
    await wait_status(client, dee, order_id, "paid")
    assert (await client.post(f"/api/v1/orders/{order_id}/shipments/2/refund", headers=bearer(bo))).status == 200

    # partially refunded while Ana's shipment can still move: the stream stays open, the page is live
    events = f"/api/v1/orders/{order_id}/events"
    assert 'data-events-url="' in await (await client.get(f"/orders/{order_id}", headers=bearer(dee))).text()
    resp = await client.get(events, headers=bearer(dee))
    try:
        first = await read_event(resp)
        assert first["status"] == "partially_refunded" and first["final"] is False
        for step, extra in (("fulfilled", {}), ("shipped", {"carrier": "DHL", "tracking_number": "JD5"}),
                            ("delivered", {})):
            assert (await move(client, ana, order_id, 1, step, **extra)).status == 200
        # delivered changes no order status (it stays partially refunded): the stream sees it is settled
        last = await read_event(resp, timeout=30)
        assert last["status"] == "partially_refunded" and last["final"] is True
        async with asyncio.timeout(10):
            assert await resp.content.read() == b""  # and ends
    finally:
        resp.close()
    assert (await get_order(client, dee, order_id))["status"] == "partially_refunded"
    page = await (await client.get(f"/orders/{order_id}", headers=bearer(dee))).text()
    assert 'data-events-url="' not in page and "History of shipment 2" in page
    resp = await client.get(events, headers=bearer(dee))  # a settled order: one final frame, then the end
    try:
        assert (await read_event(resp))["final"] is True
        async with asyncio.timeout(10):
            assert await resp.content.read() == b""
    finally:
        resp.close()

    # refunded (every shipment given back) is final at once
    other = await place(client, dee, [(mug, 1)])
    await wait_status(client, dee, other, "paid")
    resp = await client.get(f"/api/v1/orders/{other}/events", headers=bearer(dee))
    try:
        assert (await read_event(resp))["status"] == "paid"
        assert (await client.post(f"/api/v1/orders/{other}/shipments/1/refund", headers=bearer(dee))).status == 200
        last = await read_event(resp)
        assert last["status"] == "refunded" and last["final"] is True
        async with asyncio.timeout(10):
            assert await resp.content.read() == b""
    finally:
        resp.close()


async def test_a_cancelled_order_gives_its_voucher_use_back(aiohttp_client, make_config):
    client = await start(aiohttp_client, orders_config(make_config))
    _, ana = await user(client, seller=True)
    _, admin = await user(client, admin=True)
    _, dee = await user(client)
    mug = await product(client, ana, stock={EU: 5}, price_cents=2000, name="Ana mug")
    resp = await client.post("/api/v1/vouchers", headers=bearer(admin), json={
        "code": "ONCE10", "kind": "percent", "percent": 10, "max_uses": 1})
    assert resp.status == 201, await resp.text()
    voucher = await resp.json()

    async def used() -> int:
        resp = await client.get(f"/api/v1/vouchers/{voucher['id']}", headers=bearer(admin))
        return (await resp.json())["used"]
    order_id = await place(client, dee, [(mug, 1)], voucher="once10")
    paid = await wait_status(client, dee, order_id, "paid")
    assert paid["voucher_code"] == "ONCE10" and paid["discount_cents"] == 200 and await used() == 1
    resp = await client.post("/api/v1/orders", headers=bearer(dee), json={
        "items": [{"product_id": mug, "quantity": 1}], "ship_to": SHIP_TO, "payment": {"method": "card", **CARD},
        "voucher": "ONCE10"})
    assert resp.status == 409 and "voucher" in (await resp.json())["errors"]  # its one use is taken
    assert (await client.post(f"/api/v1/orders/{order_id}/cancel", headers=bearer(dee))).status == 200
    assert await used() == 0  # the cancelled order gave it back: the next customer may use it
    again = await place(client, dee, [(mug, 1)], voucher="ONCE10")
    assert (await wait_status(client, dee, again, "paid"))["discount_cents"] == 200
