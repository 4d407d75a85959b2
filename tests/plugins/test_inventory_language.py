"""The inventory pages and CSV import messages in Spanish and English: a rejected line is stored as its
English msgid and values, so the same job reads in the language of whoever looks at it later."""
from __future__ import annotations

import pytest

from ecom.app import POOLS, create_app

from .test_inventory import EU, app_config, bearer, product, put_stock, user

ES = {"Accept-Language": "es"}


@pytest.fixture
async def client(aiohttp_client, make_config):
    return await aiohttp_client(create_app(app_config(make_config)))


async def test_rejected_lines_read_in_each_readers_language(client):
    _, token = await user(client, seller=True)
    csv = "sku,region,quantity\r\nNOPE-1,moon,1\r\nNOPE-2,eu-west,-3\r\n"
    resp = await client.post("/api/v1/inventory/imports", data=csv,
                             headers={**bearer(token), "Content-Type": "text/csv", **ES})
    assert resp.status == 202, await resp.text()
    job = await resp.json()
    spanish = [r["error"] for r in job["rejected_lines"]]
    assert spanish[0].startswith("Región desconocida 'moon'") and spanish[1] == "La cantidad -3 es negativa."
    stored = await client.app[POOLS]["inventory"].fetchval(
        "SELECT error FROM import_lines WHERE import_id = $1 AND line_no = 3", job["id"])
    assert "Quantity {quantity} is negative." in stored  # the msgid, not a sentence in one language
    english = await (await client.get(f"/api/v1/inventory/imports/{job['id']}", headers=bearer(token))).json()
    assert [r["error"] for r in english["rejected_lines"]][1] == "Quantity -3 is negative."
    page = await (await client.get(f"/seller/inventory/imports/{job['id']}", headers={**bearer(token), **ES})).text()
    assert "Líneas rechazadas" in page and "La cantidad -3 es negativa." in page and "terminada" in page


async def test_stock_pages_and_errors_in_spanish(client):
    _, token = await user(client, seller=True)
    product_id = await product(client, token)
    assert (await put_stock(client, token, product_id, EU, 1234)).status == 200
    page = await (await client.get(f"/seller/inventory/{product_id}", headers={**bearer(token), **ES})).text()
    assert "Stock por región" in page and "1.234" in page and "ajuste" in page and "Historial" in page
    resp = await client.put(f"/api/v1/inventory/{product_id}/mars", json={"quantity": 1}, headers={**bearer(token), **ES})
    assert resp.status == 422 and (await resp.json())["errors"]["region"].startswith("Región desconocida 'mars'")
    resp = await client.put(f"/api/v1/inventory/{product_id}/mars", json={"quantity": 1}, headers=bearer(token))
    assert (await resp.json())["errors"]["region"].startswith("Unknown region 'mars'")
