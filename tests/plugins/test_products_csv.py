"""Catalog CSV export and import over real HTTP, PostgreSQL and the users and products plugins: an exported
file imports back unchanged, an import matches SKUs among the seller's own products (idempotent), a
preview changes nothing, one bad line refuses the whole file (422 naming the line, nothing written, no
event), admins act on any seller, and the seller page shows the report in English and Spanish."""
from __future__ import annotations

import csv
import io
import json

import pytest

from ecom.app import POOLS, create_app

from .test_inventory import aiohttp_form, csrf_from, session_seller
from .test_products import ENABLED, create, uniq, user

HEADER = "sku,name,price_cents,currency,type\n"


@pytest.fixture
async def client(aiohttp_client, make_config):
    return await aiohttp_client(create_app(make_config(plugins=ENABLED)))


async def export(client, headers: dict, query: str = "") -> list[dict]:
    resp = await client.get(f"/seller/products.csv{query}", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/csv" and resp.headers["Cache-Control"] == "no-store"
    return list(csv.DictReader(io.StringIO(await resp.text())))


async def import_csv(client, headers: dict, text: str, query: str = ""):
    return await client.post(f"/api/v1/products/import{query}", data=text.encode(),
                             headers={**headers, "Content-Type": "text/csv"})


async def outbox_count(client) -> int:
    return await client.app[POOLS]["products"].fetchval(
        "SELECT count(*) FROM outbox WHERE topic LIKE 'ecom/products/%'")


async def test_export_imports_back_unchanged_and_sellers_see_only_their_own(client):
    seller, headers = await user(client)
    _, other = await user(client)
    mine = [await create(client, headers, description='Says "hi",\nover two lines') for _ in range(2)]
    await create(client, other)
    rows = await export(client, headers)
    assert sorted(int(r["id"]) for r in rows) == sorted(p["id"] for p in mine)
    assert {r["seller_id"] for r in rows} == {str(seller["id"])} and rows[0]["description"] == 'Says "hi",\nover two lines'
    resp = await client.get("/seller/products.csv", headers=headers)
    before = await outbox_count(client)
    resp = await import_csv(client, headers, await resp.text())
    assert resp.status == 200, await resp.text()
    report = await resp.json()
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 2)
    assert await outbox_count(client) == before  # nothing changed, nothing announced


async def test_preview_then_import_creates_and_updates_by_sku_once(client):
    seller, headers = await user(client)
    known = await create(client, headers, price_cents=1000, currency="EUR")
    new_sku = f"NEW-{uniq()}"
    text = HEADER + f"{known['sku']},{known['name']},1500,EUR,{known['type']}\n{new_sku},Oak shelf,4200,EUR,Home\n"
    before = await outbox_count(client)
    resp = await import_csv(client, headers, text, "?dry_run=true")
    assert resp.status == 200, await resp.text()
    preview = await resp.json()
    assert preview["dry_run"] is True and (preview["created"], preview["updated"]) == (1, 1)
    assert [(l["line"], l["action"], l["changed"]) for l in preview["lines"]] == [
        (2, "updated", ["price_cents"]), (3, "created", [])]
    assert await outbox_count(client) == before and len(await export(client, headers)) == 1  # nothing written

    resp = await import_csv(client, headers, text)
    report = await resp.json()
    assert resp.status == 200 and (report["created"], report["updated"], report["dry_run"]) == (1, 1, False)
    assert await outbox_count(client) == before + 2  # one ProductUpdated, one ProductCreated
    rows = {r["sku"]: r for r in await export(client, headers)}
    assert rows[known["sku"]]["price_cents"] == "1500" and rows[new_sku]["name"] == "Oak shelf"
    again = await (await import_csv(client, headers, text)).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)  # idempotent
    assert await outbox_count(client) == before + 2


async def test_one_bad_line_refuses_the_whole_file(client):
    _, headers = await user(client)
    good = f"G-{uniq()}"
    text = (HEADER + f"{good},Good lamp,100,EUR,Home\n{good},Twice,100,EUR,Home\n"
            f"B-{uniq()},Bad price,12.50,EUR,Home\nN-{uniq()},No type\n")
    before = await outbox_count(client)
    resp = await import_csv(client, headers, text)
    assert resp.status == 422 and resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert sorted(problem["errors"]) == ["line 3", "line 4", "line 5"], problem
    assert "line 2" in problem["errors"]["line 3"] and "price_cents" in problem["errors"]["line 4"]
    resp = await import_csv(client, headers, f"sku,name\nX-{uniq()},Only a name\n")  # new SKU: needs more columns
    assert resp.status == 422 and "currency" in (await resp.json())["errors"]["line 2"]
    assert await export(client, headers) == [] and await outbox_count(client) == before
    for bad, status in ((b"\xff\xfe", 422), (b"name,price\nx,1\n", 422)):
        resp = await client.post("/api/v1/products/import", data=bad, headers={**headers, "Content-Type": "text/csv"})
        assert resp.status == status and "file" in (await resp.json())["errors"]
    resp = await client.post("/api/v1/products/import", data="{}", headers={**headers, "Content-Type": "application/json"})
    assert resp.status == 415


async def test_admin_exports_everyone_and_imports_for_a_seller_customers_cannot(client):
    seller, headers = await user(client)
    _, admin = await user(client, admin=True)
    _, customer = await user(client, seller=False)
    await create(client, headers)
    assert (await client.get("/seller/products.csv", headers=customer)).status == 403
    assert (await import_csv(client, customer, HEADER)).status == 403
    sku = f"A-{uniq()}"
    resp = await import_csv(client, admin, HEADER + f"{sku},Made by admin,100,EUR,Home\n", f"?seller_id={seller['id']}")
    assert resp.status == 200, await resp.text()
    assert sku in {r["sku"] for r in await export(client, headers)}  # the seller's product now
    everyone = await export(client, admin)
    assert {r["seller_id"] for r in everyone} >= {str(seller["id"])}
    assert {r["sku"] for r in await export(client, admin, f"?seller_id={seller['id']}")} == {
        r["sku"] for r in await export(client, headers)}


@pytest.mark.parametrize("language, refused, done", [("en", "need attention", "Catalog imported."),
                                                     ("es", "necesitan atención", "Catálogo importado.")])
async def test_import_page_previews_refuses_and_imports(client, language, refused, done):
    _, token = await session_seller(client)
    client.session.cookie_jar.update_cookies({"ecom_locale": language})
    csrf = await csrf_from(client, "/seller/products/import")
    sku = f"P-{uniq()}"
    bad = HEADER + f"{sku},Lamp,abc,EUR,Home\n{sku}-2,Lamp,1,EUR\n"
    resp = await client.post("/seller/products/import", data=aiohttp_form({"csrf_token": csrf, "mode": "apply"}, bad))
    page = await resp.text()
    assert resp.status == 422 and refused in page and "line 2" in page and "line 3" in page
    good = HEADER + f"{sku},Lamp,100,EUR,Home\n"
    resp = await client.post("/seller/products/import", data=aiohttp_form({"csrf_token": csrf, "mode": "preview"}, good))
    assert resp.status == 200 and sku in await resp.text()
    assert await export(client, {"Authorization": f"Bearer {token}"}) == []
    resp = await client.post("/seller/products/import", data=aiohttp_form({"csrf_token": csrf, "mode": "apply"}, good))
    assert resp.status == 200 and done in await resp.text()
    assert [r["sku"] for r in await export(client, {"Authorization": f"Bearer {token}"})] == [sku]
    resp = await client.post("/seller/products/import", data=aiohttp_form({}, good))
    assert resp.status in (400, 403)  # no CSRF token: refused
