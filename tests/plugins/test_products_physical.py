"""Products as physical goods (issue 10): weight and tax class through the API, the seller form and the
product page, and a catalog price filter that never compares minor units of two currencies."""
from __future__ import annotations

import pytest

from ecom.app import POOLS, create_app
from plugins.products.keys import PRODUCTS

from .test_products import ENABLED, create, log_in, uniq, user


@pytest.fixture
async def client(aiohttp_client, make_config):
    return await aiohttp_client(create_app(make_config(plugins=ENABLED)))


async def test_weight_and_tax_class_defaults_create_patch_and_read(client):
    _, headers = await user(client)
    plain = await create(client, headers)
    assert (plain["weight_grams"], plain["tax_class"]) == (500, "standard")  # the migration's defaults
    book = await create(client, headers, weight_grams=1250, tax_class="Reduced")
    assert (book["weight_grams"], book["tax_class"]) == (1250, "reduced")
    resp = await client.patch(f"/api/v1/products/{book['id']}", json={"weight_grams": 0, "tax_class": "zero"},
                              headers=headers)
    assert resp.status == 200 and ((await resp.json())["weight_grams"], (await resp.json())["tax_class"]) == (0, "zero")
    read = await (await client.get(f"/api/v1/products/{book['id']}")).json()
    assert (read["weight_grams"], read["tax_class"]) == (0, "zero")
    product = await client.app[PRODUCTS].get(book["id"])  # what orders, shipping and taxes read
    assert (product.weight_grams, product.tax_class) == (0, "zero")
    row = await client.app[POOLS]["products"].fetchrow("SELECT weight_grams, tax_class FROM products WHERE id = $1",
                                                       book["id"])
    assert tuple(row) == (0, "zero")


@pytest.mark.parametrize("changes, field", [
    ({"weight_grams": -1}, "weight_grams"), ({"weight_grams": 1_000_001}, "weight_grams"),
    ({"weight_grams": 1.5}, "weight_grams"), ({"weight_grams": "500"}, "weight_grams"),
    ({"weight_grams": True}, "weight_grams"), ({"weight_grams": None}, "weight_grams"),
    ({"tax_class": "luxury"}, "tax_class"), ({"tax_class": 0}, "tax_class"), ({"tax_class": None}, "tax_class"),
])
async def test_bad_weight_or_tax_class_is_a_422_naming_the_field(client, changes, field):
    _, headers = await user(client)
    resp = await client.post("/api/v1/products", json={"name": "Box", "price_cents": 100, "currency": "EUR",
                                                       "type": "Boxes", "sku": f"B-{uniq()}"} | changes,
                             headers=headers)
    body = await resp.json()
    assert resp.status == 422 and resp.content_type == "application/problem+json" and set(body["errors"]) == {field}
    product = await create(client, headers)
    resp = await client.patch(f"/api/v1/products/{product['id']}", json=changes, headers=headers)
    assert resp.status == 422 and set((await resp.json())["errors"]) == {field}


async def test_openapi_documents_weight_tax_class_and_the_currency_filter(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    create_op = doc["paths"]["/api/v1/products"]["post"]
    schema = create_op["requestBody"]["content"]["application/json"]["schema"]
    text = str(schema) + str(doc.get("components", {}))
    assert "weight_grams" in text and "tax_class" in text and "reduced" in text
    params = {p["name"] for p in doc["paths"]["/api/v1/products"]["get"]["parameters"]}
    assert "currency" in params


async def test_seller_form_sets_weight_and_tax_class_and_the_product_page_shows_the_weight(client):
    seller, _ = await user(client)
    token = await log_in(client, seller["email"])
    page = await (await client.get("/seller/products/new")).text()
    assert 'name="weight_grams"' in page and 'name="tax_class"' in page and 'value="500"' in page
    sku = f"W-{uniq()}"
    form = {"csrf_token": token, "name": "Cast Iron Pan", "price": "35", "currency": "EUR", "type": "Kitchen",
            "sku": sku, "active": "on", "weight_grams": "2400", "tax_class": "reduced"}
    resp = await client.post("/seller/products/new", data=form | {"weight_grams": "2.4 kg"})
    page = await resp.text()
    assert resp.status == 422 and "Enter the weight in whole grams" in page and 'aria-invalid="true"' in page
    resp = await client.post("/seller/products/new", data=form | {"tax_class": "luxury"})
    assert resp.status == 422 and "Use one of standard, reduced, zero." in await resp.text()
    resp = await client.post("/seller/products/new", data=form)
    assert resp.status == 200 and resp.url.path == "/seller/products", await resp.text()
    row = await client.app[POOLS]["products"].fetchrow("SELECT id, weight_grams, tax_class FROM products WHERE sku = $1",
                                                       sku)
    assert (row["weight_grams"], row["tax_class"]) == (2400, "reduced")
    edit = await (await client.get(f"/seller/products/{row['id']}/edit")).text()
    assert 'value="2400"' in edit and '<option value="reduced" selected>' in edit
    resp = await client.post(f"/seller/products/{row['id']}/edit", data=form | {"weight_grams": "800",
                                                                                 "tax_class": "zero"})
    assert resp.status == 200
    product = await client.app[PRODUCTS].get(row["id"])
    assert (product.weight_grams, product.tax_class) == (800, "zero")
    page = await (await client.get(f"/products/{row['id']}")).text()
    assert "Weight" in page and "800 g" in page
    await client.post(f"/seller/products/{row['id']}/edit", data=form | {"weight_grams": "1250"})
    assert "1.25 kg" in await (await client.get(f"/products/{row['id']}")).text()


async def test_price_filter_compares_within_one_currency(client):
    """EUR 20.00 is 2000 minor units and JPY 2000 is 2000 too: a "between 1500 and 2500" filter that
    compared raw minor units would mix them. Each query sees only the currency it names (default: the
    display currency, EUR)."""
    _, headers = await user(client)
    kind = f"Honest {uniq()}"
    eur = await create(client, headers, type=kind, currency="EUR", price_cents=2000)
    usd = await create(client, headers, type=kind, currency="USD", price_cents=2000)
    usd_cheap = await create(client, headers, type=kind, currency="USD", price_cents=500)
    jpy = await create(client, headers, type=kind, currency="JPY", price_cents=2000)

    async def found(**params) -> list[int]:
        resp = await client.get("/api/v1/products", params={"type": kind, "limit": "100", **params})
        assert resp.status == 200, await resp.text()
        return sorted(p["id"] for p in (await resp.json())["items"])

    assert await found() == sorted([eur["id"], usd["id"], usd_cheap["id"], jpy["id"]])  # no price: every currency
    assert await found(min_price="1500", max_price="2500") == [eur["id"]]  # the display currency, EUR
    assert await found(min_price="1500", max_price="2500", currency="usd") == [usd["id"]]
    assert await found(max_price="2500", currency="USD") == sorted([usd["id"], usd_cheap["id"]])
    assert await found(min_price="1500", currency="JPY") == [jpy["id"]]
    assert await found(currency="USD") == sorted([usd["id"], usd_cheap["id"]])
    resp = await client.get("/api/v1/products", params={"type": kind, "sort": "price_asc", "currency": "USD"})
    assert [p["id"] for p in (await resp.json())["items"]] == [usd_cheap["id"], usd["id"]]
    resp = await client.get("/api/v1/products", params={"type": kind, "sort": "price_desc"})
    assert [p["id"] for p in (await resp.json())["items"]] == [eur["id"]]  # a price order is one currency too
    for bad in ("XYZ", "E", "<b>"):
        resp = await client.get("/api/v1/products", params={"currency": bad, "min_price": "1"})
        assert resp.status == 422 and set((await resp.json())["errors"]) == {"currency"}, bad

    assert {"EUR", "JPY", "USD"} <= set(await client.app[PRODUCTS].currencies())
    resp = await client.get("/products", params={"type": kind, "min": "15", "max": "25"})
    page = await resp.text()
    assert resp.status == 200 and f'/products/{eur["id"]}"' in page and f'/products/{usd["id"]}"' not in page
    assert 'name="currency"' in page and "<option selected>EUR</option>" in page  # the selector: several currencies
    resp = await client.get("/products", params={"type": kind, "min": "15", "max": "25", "currency": "USD"})
    page = await resp.text()
    assert f'/products/{usd["id"]}"' in page and f'/products/{eur["id"]}"' not in page and "From 15 USD" in page
    resp = await client.get("/products", params={"type": kind, "min": "1500", "currency": "JPY"})
    assert f'/products/{jpy["id"]}"' in await resp.text()
    resp = await client.get("/products", params={"type": kind, "min": "15.5", "currency": "JPY"})
    assert resp.status == 422 and "This currency has no decimal places." in await resp.text()
    resp = await client.get("/products", params={"min": "1", "currency": "<b>x</b>"})
    page = await resp.text()
    assert resp.status == 422 and "<b>x</b>" not in page and "<B>X</B>" not in page
