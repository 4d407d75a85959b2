"""What the reviews tests do in the real shop, through its public HTTP API only (as any third-party
plugin's tests would): a seller's product in stock, a customer's paid order, its shipments moved to
delivered."""
from __future__ import annotations

import re
import uuid
from datetime import datetime

from ecom.testing import wait_until

PLUGINS = ["users", "products", "inventory", "payments", "addresses", "shipping", "taxes", "vouchers", "orders",
           "dashboards", "reviews"]
REGION = "eu-west"
SHIP_TO = {"name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013",
           "country": "ES", "phone": "+34911234567"}
CARD = {"method": "card", "card_number": "4242 4242 4242 4242", "exp_month": 12,
        "exp_year": datetime.now().year + 3, "cvc": "123"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PAID_AT_ONCE = {"payments": {"delay_seconds": 0}}  # the tests wait for deliveries, not a payment timer


async def shop(ecom_shop, **sections):
    """A shop with the reviews plugin and everything a delivery needs, payments at once."""
    return await ecom_shop({"enabled": PLUGINS, **PAID_AT_ONCE, **sections})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def product(client, seller_token: str, name: str = "Blue mug", stock: int = 10) -> int:
    resp = await client.post("/api/v1/products", headers=bearer(seller_token), json={
        "name": name, "description": "A mug.", "price_cents": 1299, "currency": "EUR", "type": "Kitchen",
        "sku": f"SKU-{uuid.uuid4().hex[:10]}"})
    assert resp.status == 201, await resp.text()
    product_id = (await resp.json())["id"]
    resp = await client.put(f"/api/v1/inventory/{product_id}/{REGION}", headers=bearer(seller_token),
                            json={"quantity": stock})
    assert resp.status == 200, await resp.text()
    return product_id


async def order_status(client, token: str, order_id: str) -> str:
    resp = await client.get(f"/api/v1/orders/{order_id}", headers=bearer(token))
    return (await resp.json())["status"] if resp.status == 200 else f"HTTP {resp.status}"


async def checkout(client, customer_token: str, product_ids: list[int]) -> str:
    """A real order of one unit of each product, paid through the broker. Returns the order id."""
    resp = await client.post("/api/v1/orders", headers=bearer(customer_token), json={
        "items": [{"product_id": pid, "quantity": 1} for pid in product_ids], "ship_to": SHIP_TO, "payment": CARD})
    assert resp.status == 201, await resp.text()
    order_id = (await resp.json())["id"]
    await wait_until(lambda: order_status(client, customer_token, order_id), lambda s: s == "paid",
                     f"order {order_id} to be paid")
    return order_id


async def shipment_of(client, token: str, order_id: str, seller_id: int) -> int:
    """The number of the order's shipment that ``seller_id`` ships (one per seller)."""
    resp = await client.get(f"/api/v1/orders/{order_id}", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    found = [s["no"] for s in (await resp.json())["shipments"] if s["seller_id"] == seller_id]
    assert len(found) == 1, found
    return found[0]


async def deliver(client, seller_token: str, order_id: str, shipment_no: int = 1) -> None:
    """The seller moves the shipment to fulfilled, shipped and delivered."""
    for step in ({"status": "fulfilled"}, {"status": "shipped", "carrier": "DHL", "tracking_number": "JD0142"},
                 {"status": "delivered"}):
        resp = await client.post(f"/api/v1/orders/{order_id}/shipments/{shipment_no}/status", json=step,
                                 headers=bearer(seller_token))
        assert resp.status == 200, await resp.text()


async def delivered(client, customer_token: str, seller_token: str, product_id: int) -> str:
    """A real order of one ``product_id``: checkout, payment through the broker, then the seller moves its
    one shipment to fulfilled, shipped and delivered. Returns the order id."""
    order_id = await checkout(client, customer_token, [product_id])
    await deliver(client, seller_token, order_id)
    return order_id


async def public(client, product_id: int) -> dict:
    """The product's public reviews: {summary: {count, average}, items}."""
    resp = await client.get(f"/api/v1/products/{product_id}/reviews")
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def post_review(client, token: str, product_id: int, **body):
    return await client.post(f"/api/v1/products/{product_id}/reviews", json=body, headers=bearer(token))


async def review_allowed(client, token: str, product_id: int, **body):
    """Post a review as soon as the delivery has reached the reviews plugin (an event: not at once)."""
    resp = await wait_until(lambda: post_review(client, token, product_id, **body), lambda r: r.status != 403,
                            "the delivery to make the customer a verified buyer")
    return resp


async def csrf_of(client, path: str) -> str:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    found = CSRF.search(await resp.text())
    assert found, f"no CSRF token on {path}"
    return found.group(1)
