"""Payments, vouchers and addresses speak Spanish to a reader who asks for it (``Accept-Language: es``):
a representative page of each, its errors, and the failure reason stored in English (a msgid) shown
translated. Real PostgreSQL, broker and HTTP; the accounts are made without a language, so the header
alone decides."""
from __future__ import annotations

import pytest

from ecom.app import POOLS
from ecom.errors import ValidationFailed
from ecom.i18n import percent, use_locale
from plugins.vouchers.keys import VOUCHERS
from plugins.vouchers.model import VoucherLine
from tests.helpers import account, start, wait_until
from tests.plugins.test_payments import DECLINED, order, processed, publish, request_for

ES = {"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


async def test_address_book_and_its_errors_in_spanish(aiohttp_client, make_config):
    client = await start(aiohttp_client, make_config(plugins={"enabled": ["users", "addresses"]}))
    _, _, token = await account(client)
    resp = await client.post("/api/v1/addresses", headers=bearer(token, **ES), json={
        "name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "9", "country": "ES"})
    assert resp.status == 422
    problem = await resp.json()
    assert problem["errors"]["postal_code"] == "Introduce un código postal válido de España, por ejemplo 28013."
    resp = await client.post("/api/v1/addresses", headers=bearer(token), json={
        "name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES"})
    assert resp.status == 201

    page = await (await client.get("/account/addresses", headers=bearer(token, **ES))).text()
    assert "<h1 class=\"h3 mb-0\">Tus direcciones</h1>" in page and "Envío predeterminado" in page
    assert "28013 Madrid<br>ESPAÑA<br>" in page and "Usar para facturación" not in page  # already the default
    assert "Your addresses" not in page and "Default shipping" not in page
    form = await (await client.get("/account/addresses/new", headers=bearer(token, **ES))).text()
    assert "Elige un país…" in form and '<option value="DE">Alemania</option>' in form
    assert form.index(">Alemania<") < form.index(">Austria<")  # sorted in the reader's language
    english = await (await client.get("/account/addresses/new", headers=bearer(token))).text()
    assert "Choose a country…" in english and '<option value="DE">Germany</option>' in english


async def test_voucher_pages_and_checkout_messages_in_spanish(aiohttp_client, make_config):
    client = await start(aiohttp_client, make_config(plugins={"enabled": ["users", "vouchers"]}))
    _, _, admin = await account(client, admin=True)
    resp = await client.post("/api/v1/vouchers", headers=bearer(admin), json={
        "code": "VERANO30", "kind": "percent", "percent": 30, "currency": "EUR", "min_spend_cents": 3000,
        "ends_at": "2099-12-31T23:59:00Z"})
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    resp = await client.post("/api/v1/vouchers", headers=bearer(admin, **ES), json={"code": "X", "kind": "percent"})
    assert resp.status == 422 and (await resp.json())["errors"]["code"] == \
        "Usa de 3 a 32 letras, cifras, guiones o guiones bajos."

    listing = await (await client.get("/admin/vouchers", headers=bearer(admin, **ES))).text()
    assert "<title>Cupones · Administración" in listing and "Crear código" in listing
    with use_locale("es"):
        assert f"{percent(0.3)} de descuento" in listing  # the percent in the reader's locale
    assert "desde 30,00\xa0€" in listing and "Toda la tienda" in listing and "Activo" in listing
    assert "Create code" not in listing and "ahora – 31 dic 2099" in listing  # the reader's date format
    detail = await (await client.get(f"/admin/vouchers/{created['id']}", headers=bearer(admin, **ES))).text()
    assert "Todavía no se ha usado." in detail and "Desactivar" in detail and "Sin límite" in detail

    with use_locale("es"), pytest.raises(ValidationFailed) as caught:  # what checkout shows a Spanish shopper
        await client.app[VOUCHERS].preview("verano30", "", [VoucherLine("l1", 1, "Kitchen", 1000)], "EUR")
    assert caught.value.errors["voucher"] == ("Este cupón necesita un gasto mínimo de EUR 30,00 en los "
                                              "artículos a los que se aplica.")


async def test_payments_page_and_failure_reason_in_spanish(aiohttp_client, make_config):
    config = make_config(fresh=True, plugins={"enabled": ["users", "payments"], "payments": {"delay_seconds": 0}})
    client = await start(aiohttp_client, config)
    customer, _, token = await account(client)
    declined = order()
    await publish(config, await request_for(client.app, declined, DECLINED, customer_id=customer))
    row = await wait_until(lambda: processed(client.app[POOLS]["payments"], declined), bool, "the payment declined")
    assert row["failure_reason"] == "Card declined"  # stored in English: the msgid

    page = await (await client.get("/account/payments", headers=bearer(token, **ES))).text()
    assert "<h1 class=\"h3 mb-0\">Tus pagos</h1>" in page and declined in page
    assert "Tarjeta rechazada" in page and "Rechazado" in page and "Visa acabada en 0002" in page
    assert "25,99\xa0€" in page and "Card declined" not in page and "Your payments" not in page
    resp = await client.get("/api/v1/payments", params={"status": "paid"}, headers=bearer(token, **ES))
    assert resp.status == 422 and (await resp.json())["errors"]["status"].startswith("debe ser uno de estos:")
