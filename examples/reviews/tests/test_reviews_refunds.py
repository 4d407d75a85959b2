"""A refund takes "verified buyer" back (README, "Refunds"), in the real shop: orders' ShipmentStatusChanged
"refunded" through the real outbox and broker. Only the refunded shipment's products are revoked (an order
of three sellers: the others keep theirs); a review already written stays, out of the public list and the
average, and counts again after another delivery of the product; events handled in either order, or twice,
leave the same answer."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from ecom.app import POOLS
from ecom.testing import log_in, wait_until
from plugins.orders.events import ShipmentStatusChanged

from reviews_shop import (bearer, checkout, deliver, post_review, product, public, review_allowed, shipment_of,
                          shop)


async def test_a_refunded_shipment_revokes_only_its_products_and_its_review_stops_counting(ecom_shop, ecom_user):
    client = await shop(ecom_shop)
    refunding = await ecom_user(client, "seller", login=False)
    keeping = await ecom_user(client, "seller", login=False)
    # a third seller's shipment stays pending: a fully delivered order is final, its shipments no longer refundable
    waiting = await ecom_user(client, "seller", login=False)
    buyer = await ecom_user(client, "customer")  # the client's session is the buyer's
    mug = await product(client, refunding.token, name="Refund mug")
    cup = await product(client, refunding.token, name="Refund cup")
    lamp = await product(client, keeping.token, name="Kept lamp")
    kettle = await product(client, waiting.token, name="Waiting kettle")
    order = await checkout(client, buyer.token, [mug, cup, lamp, kettle])
    refunded_no = await shipment_of(client, buyer.token, order, refunding.id)
    kept_no = await shipment_of(client, buyer.token, order, keeping.id)
    await deliver(client, refunding.token, order, refunded_no)
    await deliver(client, keeping.token, order, kept_no)

    review = await (await review_allowed(client, buyer.token, mug, rating=1, text="Chipped on arrival.")).json()
    assert (await review_allowed(client, buyer.token, lamp, rating=5, text="Bright.")).status == 201
    assert (await client.get(f"/products/{cup}/review")).status == 200  # may review the cup, has not yet
    assert (await public(client, mug))["summary"] == {"count": 1, "average": 1.0}

    resp = await client.post(f"/api/v1/orders/{order}/shipments/{refunded_no}/refund", headers=bearer(refunding.token))
    assert resp.status == 200, await resp.text()
    listing = await wait_until(lambda: public(client, mug), lambda found: found["summary"]["count"] == 0,
                               "the refund to take the mug's review out of the public list")
    assert listing == {"summary": {"count": 0, "average": None}, "items": []}

    # no new review of the refunded shipment's products, and no edit of the kept one
    assert (await post_review(client, buyer.token, cup, rating=5)).status == 403
    refused = await client.get(f"/products/{cup}/review")
    assert refused.status == 403 and "Only customers who received this product can review it." in await refused.text()
    assert (await post_review(client, buyer.token, mug, rating=5, text="Changed my mind")).status == 403
    # the other seller's products are untouched
    assert (await public(client, lamp))["summary"] == {"count": 1, "average": 5.0}
    assert (await post_review(client, buyer.token, lamp, rating=4, text="Bright enough.")).status == 200

    # the review is kept for its author and the moderators, marked as no longer counting
    mine = await (await client.get("/api/v1/reviews", headers=bearer(refunding.token))).json()
    assert [(r["id"], r["hidden"], r["verified"], r["text"]) for r in mine["items"]] == [
        (review["id"], False, False, "Chipped on arrival.")]
    await log_in(client, refunding)
    page = await client.get("/seller/reviews")
    assert page.status == 200
    row = (await page.text()).split(f'id="review-{review["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert "Chipped on arrival." in row and "Purchase refunded" in row
    page = await (await client.get("/seller/reviews?lang=es")).text()
    assert "Compra reembolsada" in page

    # another delivery of the mug (another order): the review counts again; the cup stays revoked
    second = await checkout(client, buyer.token, [mug])
    await deliver(client, refunding.token, second, await shipment_of(client, buyer.token, second, refunding.id))
    listing = await wait_until(lambda: public(client, mug), lambda found: found["summary"]["count"] == 1,
                               "the second delivery to make the mug's review count again")
    assert [(r["id"], r["text"]) for r in listing["items"]] == [(review["id"], "Chipped on arrival.")]
    assert (await post_review(client, buyer.token, cup, rating=5)).status == 403


def _shipment(order_id: str, status: str, customer_id: int, seller_id: int, product_id: int) -> ShipmentStatusChanged:
    line = {"product_id": product_id, "seller_id": seller_id, "shipment_no": 1, "quantity": 1,
            "unit_price_cents": 1299, "currency": "EUR"}
    previous = {"delivered": "shipped", "refunded": "delivered"}[status]
    return ShipmentStatusChanged(order_id, 1, seller_id, status, previous, "DHL", "JD0142",
                                 datetime.now(timezone.utc).isoformat(), f"seller:{seller_id}", customer_id, [line])


async def test_deliveries_and_refunds_count_in_any_order_and_once(ecom_shop, ecom_user, ecom_events):
    """Orders' events, emitted as orders through its outbox: a refund handled before its delivery still
    wins; a refund of one order leaves another order's delivery standing; a repeat changes nothing."""
    client = await shop(ecom_shop)
    seller = await ecom_user(client, "seller", login=False)
    buyer = await ecom_user(client, "customer", login=False)
    early, kept = (await product(client, seller.token, name="Early refund vase"),
                   await product(client, seller.token, name="Twice bought bowl"))
    first, second, third = (f"ord_{uuid.uuid4().hex[:12]}" for _ in range(3))
    events = [_shipment(first, "refunded", buyer.id, seller.id, early),   # refund handled first ...
              _shipment(first, "delivered", buyer.id, seller.id, early),  # ... its delivery later
              _shipment(second, "delivered", buyer.id, seller.id, kept),  # two orders deliver the bowl,
              _shipment(third, "delivered", buyer.id, seller.id, kept),
              _shipment(second, "refunded", buyer.id, seller.id, kept),   # one of them is refunded,
              _shipment(second, "refunded", buyer.id, seller.id, kept),   # twice (a repeat)
              _shipment(second, "delivered", buyer.id, seller.id, kept)]  # and its delivery again
    ids = [await ecom_events.emit(client, event) for event in events]
    pool = client.app[POOLS]["reviews"]
    await wait_until(lambda: pool.fetchval("SELECT count(DISTINCT event_id) FROM inbox WHERE event_id = ANY($1::uuid[])",
                                           ids), lambda n: n == len(ids), "the reviews plugin to handle every event")

    assert (await post_review(client, buyer.token, early, rating=3)).status == 403
    assert (await post_review(client, buyer.token, kept, rating=4)).status == 201  # the third order stands
    rows = await pool.fetch("SELECT order_id, refunded FROM purchases WHERE customer_id = $1 ORDER BY order_id",
                            buyer.id)
    assert sorted((r["order_id"], r["refunded"]) for r in rows) == sorted(
        [(first, True), (second, True), (third, False)])

    # the last delivery refunded: the review written meanwhile stops counting
    refund = await ecom_events.emit(client, _shipment(third, "refunded", buyer.id, seller.id, kept))
    await wait_until(lambda: pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", refund),
                     lambda n: n == 1, "the reviews plugin to handle the last refund")
    assert (await public(client, kept))["summary"]["count"] == 0
    assert (await post_review(client, buyer.token, kept, rating=5)).status == 403
