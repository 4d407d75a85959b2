"""Deleting an account, end to end through the real users API, broker and plugins: the token dies at
once, the customer's orders stay (amounts, lines, statuses) but anonymised, their address book goes, and
the invoice the seller issued them stays as issued (a tax record)."""
from __future__ import annotations

import json

from ecom.app import POOLS
from plugins.orders.privacy import ANONYMISED
from tests.helpers import PASSWORD, account, start, wait_until
from tests.plugins.test_orders import EU, PLUGINS, bearer, orders_config, product, user, wait_status
from tests.plugins.test_shipments import place


async def test_deleting_an_account_anonymises_its_orders_keeps_invoices_and_kills_its_token(aiohttp_client, make_config):
    config = orders_config(make_config)
    config = config.replace(plugins={"enabled": (*PLUGINS, "invoices"), "settings": config.plugins.settings})
    client = await start(aiohttp_client, config)
    _, ana = await user(client, seller=True)
    dee_id, dee_email, dee = await account(client)
    mug = await product(client, ana, stock={EU: 5}, price_cents=1210, name="Ana mug")
    address = await client.post("/api/v1/addresses", headers=bearer(dee), json={
        "name": "Dee Doe", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES",
        "phone": "+34 911 234 567"})
    assert address.status == 201, await address.text()
    order_id = await place(client, dee, [(mug, 2)])
    paid = await wait_status(client, dee, order_id, "paid")
    invoices = client.app[POOLS]["invoices"]
    await wait_until(lambda: invoices.fetchval("SELECT count(*) FROM invoices WHERE order_id = $1", order_id),
                     lambda n: n == 1, "the order's invoice")
    issued = dict(await invoices.fetchrow("SELECT * FROM invoices WHERE order_id = $1", order_id))

    wrong = await client.delete("/api/v1/users/me", headers=bearer(dee), json={"password": "not my password"})
    assert wrong.status in (401, 422) and (await client.get("/api/v1/users/me", headers=bearer(dee))).status == 200
    gone = await client.delete("/api/v1/users/me", headers=bearer(dee), json={"password": PASSWORD})
    assert gone.status == 204, await gone.text()
    assert (await client.get("/api/v1/users/me", headers=bearer(dee))).status == 401  # the token died with it
    assert (await client.get(f"/api/v1/orders/{order_id}", headers=bearer(dee))).status == 401

    orders = client.app[POOLS]["orders"]
    row = await wait_until(lambda: orders.fetchrow("SELECT * FROM orders WHERE id = $1", order_id),
                           lambda r: r["anonymised_at"] is not None, "the order anonymised")
    text = json.dumps(dict(row), default=str)
    assert "Dee Doe" not in text and dee_email not in text and "Calle Mayor" not in text
    assert json.loads(row["ship_to"])["name"] == ANONYMISED
    assert row["total_cents"] == paid["total_cents"] and row["status"] == "paid"  # the sale itself is kept
    addresses = client.app[POOLS]["addresses"]
    await wait_until(lambda: addresses.fetchval("SELECT count(*) FROM addresses WHERE user_id = $1", dee_id),
                     lambda n: n == 0, "the address book erased")
    assert dict(await invoices.fetchrow("SELECT * FROM invoices WHERE order_id = $1", order_id)) == issued
    again = await client.post("/api/v1/auth/token", json={"email": dee_email, "password": PASSWORD})
    assert again.status == 401  # no account left to log in to
