"""The seller's and the admin's dashboards, the shipping pages and the shipping/taxes errors in Spanish
(``Accept-Language: es``): words from the catalogs, money, numbers and days in Spanish notation, and the
SVG charts' titles, legends and descriptions in the reader's language. Real PostgreSQL, broker and HTTP."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from ecom.app import create_app
from ecom.errors import ValidationFailed
from ecom.i18n import format_date, use_locale
from plugins.dashboards.service import day_label
from plugins.taxes.keys import TAXES
from plugins.taxes.service import TaxableLine
from tests.helpers import account as user
from tests.plugins.test_dashboards import DECLINED, PLUGINS, bearer, buy, product

ES = {"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}


@pytest.fixture
async def client(aiohttp_client, make_config):
    config = make_config(fresh=True, plugins={"enabled": PLUGINS, "payments": {"delay_seconds": 0}})
    return await aiohttp_client(create_app(config))


def spanish(day) -> tuple[str, str]:
    """(the chart's label, the table's cell) of ``day`` for a Spanish reader."""
    with use_locale("es"):
        return day_label(day), format_date(day)


async def get(client, path: str, token: str, headers: dict | None = None) -> str:
    resp = await client.get(path, headers={**bearer(token), **(headers or {})})
    assert resp.status == 200, await resp.text()
    return await resp.text()


async def test_seller_and_admin_dashboards_render_in_spanish(client):
    _, _, admin = await user(client, admin=True)
    _, _, seller = await user(client, seller=True)
    _, _, customer = await user(client)
    mug = await product(client, seller, 1250, {"eu-west": 10}, name="Taza azul")
    cup = await product(client, seller, 700, {"eu-west": 10}, currency="USD", name="Vaso")
    await product(client, seller, 300, {"eu-west": 3}, name="Plato")  # low stock
    await buy(client, customer, [(mug, 2)])
    await buy(client, customer, [(cup, 1)])
    await buy(client, customer, [(mug, 1)], number=DECLINED)
    label, cell = spanish(datetime.now(timezone.utc).date())

    resp = await client.get("/seller", headers={**bearer(seller), **ES})
    page = await resp.text()
    assert resp.status == 200 and resp.headers["Content-Language"] == "es"
    assert "<h1 class=\"h3 mb-0\">Panel del vendedor</h1>" in page and "Ventas, últimos 30 días" in page
    assert '<strong id="sales-revenue">25,00\xa0€, 7,00\xa0US$</strong>' in page
    assert re.search(r'<strong id="sales-units">3</strong> unidades vendidas\.', page)
    # the charts: Spanish titles, legends and day labels, money in Spanish notation
    assert "<title>Ingresos por día, últimos 30 días</title>" in page
    assert "Ingresos (EUR): " in page and f"{label} 25,00" in page and "Unidades vendidas: " in page
    assert "<title>Unidades vendidas por día, últimos 30 días</title>" in page and f"{label} 3" in page
    assert re.search(rf"<td>{re.escape(cell)}</td><td class=\"text-end\">25,00\xa0€, 7,00\xa0US\$</td>", page)
    assert re.search(r'>Plato</a>:\s*eu-west 3 disponibles</li>', page)  # the low-stock card
    assert "Día (UTC)" in page  # the reader's zone: UTC, the shop's default and "Envíos por enviar" in page and "Movimientos de existencias recientes" in page
    for english in ("Seller dashboard", "Sales by day", "Revenue per day", "units sold", "Low stock", "$25.00"):
        assert english not in page, english

    page = await get(client, "/admin", admin, ES)
    assert "<h1 class=\"h3 mb-3\">Panel de administración</h1>" in page and "Estado del sistema" in page
    assert re.search(r'href="/admin/orders\?status=paid">Pagado</a>\s*<span [^>]*data-count="2">2'
                     r'<span class="visually-hidden"> pedidos</span>', page)
    assert re.search(r'href="/admin/payments\?status=declined">Rechazado</a>\s*<span [^>]*data-count="1"', page)
    assert re.search(r'data-role="customer">\s*<span>Cuentas</span><strong data-count="3"', page)
    assert "<title>Pedidos por día y estado, últimos 30 días</title>" in page and "Pagado: " in page
    assert f"{label} 2" in page and "Aprobado: " in page and "Rechazado: " in page
    assert '<span id="broker-status"><span class="badge text-bg-success">Conectado</span>' in page
    assert f"<td>{cell}</td><td class=\"text-end\">2</td>" in page  # payments per day: 2 approved
    for english in ("Admin dashboard", "Orders by status", "System health", "Connected", "Paid: "):
        assert english not in page, english

    page = await get(client, "/seller", admin, ES)  # an admin's /seller: the marketplace, in Spanish too
    assert "Panel del marketplace" in page and "Eres administrador" in page
    assert "Ingresos (USD): " in page and f"{label} 7,00" in page  # two currencies: amounts without a sign

    # English readers keep English text and "$25.00"-style money
    page = await get(client, "/seller", seller)
    assert "Seller dashboard" in page and '<strong id="sales-revenue">€25.00, $7.00</strong>' in page
    assert "Panel" not in page and "últimos" not in page


async def test_shipping_pages_and_errors_in_spanish(client):
    _, _, seller = await user(client, seller=True)
    page = await get(client, "/seller/shipping", seller, ES)
    assert "Tus tarifas de envío" in page and "Guardar tarifa" in page and 'placeholder="4,90"' in page
    assert ">Estándar</option>" in page and "Resto del mundo" in page and "Your rates" not in page
    form = {"zone": "gb", "method": "standard", "currency": "EUR", "base": "6.5.0", "per_kg": "", "free_above": ""}
    resp = await client.post("/seller/shipping", data=form, headers={**bearer(seller), **ES})
    assert resp.status == 422 and "debe ser un importe como 4,90" in await resp.text()

    resp = await client.get("/api/v1/shipping/methods?country=ES", headers=ES)
    body = await resp.json()
    assert resp.status == 422 and body["detail"] == "currency es obligatorio."
    assert body["errors"]["currency"] == "debe ser un código de moneda de tres letras"
    resp = await client.put("/api/v1/shipping/rates", headers={**bearer(seller), **ES}, json={"rates": [
        {"zone": "nowhere", "method": "standard", "currency": "EUR", "base_cents": 100}]})
    body = await resp.json()
    assert resp.status == 422 and body["detail"] == "Una tarifa no es válida."
    assert body["errors"]["rates[0].zone"].startswith("debe ser una de las zonas: ")

    with use_locale("es"), pytest.raises(ValidationFailed) as err:  # taxes: raised in the reader's language
        client.app[TAXES].compute([TaxableLine("a", 100, "luxury")], "ES")
    assert err.value.detail == "Clase de impuesto desconocida."
    assert err.value.errors["lines[0].tax_class"] == "debe ser uno de estos: standard, reduced, zero"
