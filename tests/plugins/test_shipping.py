"""The shipping plugin: prices (flat, by started kilogram, free above), seller rates replacing the shop's,
destinations without a rate (CannotShip, 422 naming ship_to.country), fulfilment order, the data file
checked at start-up, and the seller rates API and pages through real HTTP on a real database."""
from __future__ import annotations

import asyncio

from contextlib import asynccontextmanager

import pytest

from ecom.app import create_app
from ecom.config import ConfigError
from ecom.plugin import load_plugins
from plugins.shipping.keys import SHIPPING, CannotShip
from plugins.shipping.service import price
from plugins.shipping.table import Rate, load_table
from tests.helpers import account

PLUGINS = ["users", "products", "inventory", "shipping"]
REGIONS = ("eu-west", "us-east", "ap-south")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def shop(aiohttp_client, make_config, fresh: bool = False, **shipping):
    config = make_config(fresh=fresh, plugins={"enabled": PLUGINS, "shipping": shipping})
    client = await aiohttp_client(create_app(config))
    try:
        yield client
    finally:
        await client.close()  # before the session's broker stops (a fixture teardown left late hangs)


# ----------------------------------------------------------------------------- prices (pure)

def test_price_flat_by_started_kilogram_and_free_above():
    flat = Rate("eu", "standard", "EUR", 490)
    assert [price(flat, g, 100) for g in (0, 1, 25_000)] == [490, 490, 490]
    by_weight = Rate("eu", "express", "EUR", 990, per_kg_cents=150)
    # 0 g: base only; 1 g and 1000 g: one kg; 1001 g: two kg; 2500 g: three kg
    assert [price(by_weight, g, 0) for g in (0, 1, 1000, 1001, 2500)] == [990, 1140, 1140, 1290, 1440]
    free = Rate("eu", "standard", "EUR", 490, per_kg_cents=100, free_above_cents=5000)
    assert price(free, 3000, 4999) == 790 and price(free, 3000, 5000) == 0 and price(free, 3000, 9000) == 0


@pytest.mark.parametrize("text, key", [
    ("[fulfilment]\nES = ['eu-west']\n[zones.eu]\ncountries = ['ES']\n", "fulfilment.default"),
    ("[fulfilment]\ndefault = ['mars']\n[zones.eu]\ncountries = ['ES']\n", "fulfilment.default"),
    ("[fulfilment]\ndefault = ['eu-west']\n[zones.eu]\ncountries = ['ES']\n[zones.x]\ncountries = ['ES']\n",
     "zones.x.countries"),
    ("[fulfilment]\ndefault = ['eu-west']\n[zones.eu]\ncountries = ['es']\n", "zones.eu.countries"),
    ("[fulfilment]\ndefault = ['eu-west']\n[zones.eu]\ncountries = ['ES']\n"
     "[[rates]]\nzone = 'eu'\nmethod = 'pigeon'\ncurrency = 'EUR'\nbase_cents = 1\n", "rates[0].method"),
    ("[fulfilment]\ndefault = ['eu-west']\n[zones.eu]\ncountries = ['ES']\n"
     "[[rates]]\nzone = 'mars'\nmethod = 'standard'\ncurrency = 'EUR'\nbase_cents = 1\n", "rates[0].zone"),
    ("[fulfilment]\ndefault = ['eu-west']\n[zones.eu]\ncountries = ['ES']\n"
     "[[rates]]\nzone = 'eu'\nmethod = 'standard'\ncurrency = 'EUR'\nbase_cents = 4.9\n", "rates[0].base_cents"),
    ("[zones.eu\n", "not valid TOML"),
])
def test_a_bad_data_file_stops_start_up_with_one_line_naming_the_key(tmp_path, make_config, text, key):
    path = tmp_path / "shipping.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_table(str(path), REGIONS)  # the regions check runs at start-up, the rest also at config parse
    assert key in str(err.value) and "\n" not in str(err.value)
    if key != "fulfilment.default" or "mars" not in text:
        with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
            load_plugins(make_config(plugins={"enabled": PLUGINS, "shipping": {"rates_file": str(path)}}))


def test_shipped_file_covers_the_design():
    table = load_table("", REGIONS)
    zones = {c: z for z, cs in table.zones.items() for c in cs}
    for code in ("ES", "PT", "FR", "DE", "IT", "NL", "BE", "IE"):
        assert zones[code] == "eu"
    assert zones["GB"] == "gb" and zones["US"] == "us" and zones["*"] == "world"
    keys = {(r.zone, r.currency) for r in table.rates if r.method == "standard"}
    assert {(z, c) for z in ("eu", "gb", "us", "world") for c in ("EUR", "USD")} <= keys


# ----------------------------------------------------------------------------- the service on a real database

async def test_quotes_seller_rates_and_cannot_ship(aiohttp_client, make_config):
    async with shop(aiohttp_client, make_config) as client:
        svc = client.app[SHIPPING]
        seller, _, _ = await account(client, seller=True)
        other, _, _ = await account(client, seller=True)
        q = await svc.quote(seller, "es", "standard", "EUR", 2500, 1000)
        assert (q.method, q.zone, q.price_cents) == ("standard", "eu", 490)           # flat
        assert (await svc.quote(seller, "ES", "standard", "EUR", 2500, 5000)).price_cents == 0   # free above 50
        assert (await svc.quote(seller, "DE", "express", "EUR", 2500, 9000)).price_cents == 990 + 3 * 150
        assert (await svc.quote(seller, "JP", "standard", "USD", 1000, 0)).zone == "world"
        await svc.replace_seller_rates(seller, [
            {"zone": "eu", "method": "standard", "currency": "EUR", "base_cents": 300, "per_kg_cents": 50},
            {"zone": "gb", "method": "express", "currency": "EUR", "base_cents": 1500}])
        mine = await svc.quote(seller, "ES", "standard", "EUR", 2500, 9000)
        assert mine.price_cents == 300 + 3 * 50  # the seller's rate replaces the shop's (no free-above in it)
        assert (await svc.quote(other, "ES", "standard", "EUR", 2500, 1000)).price_cents == 490  # others: shop's
        assert (await svc.quote(seller, "GB", "express", "EUR", 0, 0)).price_cents == 1500  # a method the shop lacks
        assert (await svc.quote(seller, "DE", "express", "EUR", 0, 0)).price_cents == 990   # keys not set: shop's
        for args in (("US", "express", "EUR"), ("GB", "express", "USD"), ("ES", "pigeon", "EUR"),
                     ("ES", "standard", "XYZ")):
            with pytest.raises(CannotShip) as err:
                await svc.quote(other, args[0], args[1], args[2], 100, 100)
            assert list(err.value.errors) == ["ship_to.country"] and err.value.status == 422
        assert await svc.methods("es", "eur") == ["standard", "express"]
        assert await svc.methods("GB", "EUR") == ["standard"] and await svc.methods("JP", "JPY") == []


async def test_regions_for_follows_the_fallback_order(aiohttp_client, make_config, tmp_path):
    path = tmp_path / "shipping.toml"
    path.write_text("[fulfilment]\ndefault = ['eu-west', 'ap-south']\nUS = ['us-east', 'eu-west']\n"
                    "[zones.eu]\ncountries = ['ES']\n"
                    "[[rates]]\nzone = 'eu'\nmethod = 'standard'\ncurrency = 'EUR'\nbase_cents = 100\n")
    async with shop(aiohttp_client, make_config, rates_file=str(path)) as client:
        svc = client.app[SHIPPING]
        assert svc.regions_for("US") == ("us-east", "eu-west") and svc.regions_for("us") == ("us-east", "eu-west")
        assert svc.regions_for("ES") == ("eu-west", "ap-south") == svc.regions_for("ZZ")
        assert svc.zone_of("ES") == "eu" and svc.zone_of("FR") is None  # no world zone in this file
        with pytest.raises(CannotShip):
            await svc.quote(1, "FR", "standard", "EUR", 0, 0)
    shipped = load_table("", REGIONS)
    assert shipped.fulfilment["US"][0] == "us-east" and shipped.fulfilment["default"][0] == "eu-west"


async def test_a_region_missing_from_inventory_stops_start_up(aiohttp_client, make_config, tmp_path):
    path = tmp_path / "shipping.toml"
    path.write_text("[fulfilment]\ndefault = ['eu-west', 'moon-base']\n[zones.eu]\ncountries = ['ES']\n"
                    "[[rates]]\nzone = 'eu'\nmethod = 'standard'\ncurrency = 'EUR'\nbase_cents = 100\n")
    with pytest.raises(ConfigError, match="fulfilment.default names region 'moon-base'"):
        async with shop(aiohttp_client, make_config, rates_file=str(path)):
            pass
    # what started before shipping failed (inventory's sweeper, its pools) was stopped on the way out
    await asyncio.sleep(0)
    assert not [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("inventory-")]


# ----------------------------------------------------------------------------- HTTP: API and pages

async def test_methods_api_and_cannot_ship_is_a_422(aiohttp_client, make_config):
    async with shop(aiohttp_client, make_config) as client:
        resp = await client.get("/api/v1/shipping/methods?country=es&currency=EUR")
        assert resp.status == 200 and await resp.json() == {"country": "ES", "currency": "EUR", "zone": "eu",
                                                              "methods": ["standard", "express"]}
        resp = await client.get("/api/v1/shipping/methods?country=Spain&currency=EUR")
        assert resp.status == 422 and "country" in (await resp.json())["errors"]
        resp = await client.get("/api/v1/shipping/methods?currency=EUR")
        assert resp.status == 422 and resp.content_type == "application/problem+json"


async def test_seller_rates_api_own_only_and_customers_forbidden(aiohttp_client, make_config):
    async with shop(aiohttp_client, make_config) as client:
        a_id, _, a = await account(client, seller=True)
        _, _, b = await account(client, seller=True)
        _, _, customer = await account(client)
        rate = {"zone": "eu", "method": "express", "currency": "EUR", "base_cents": 700, "per_kg_cents": 10,
                "free_above_cents": None}
        resp = await client.put("/api/v1/shipping/rates", json={"rates": [rate]}, headers=auth(a))
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert body["rates"] == [rate] and len(body["shop_rates"]) >= 8 and "eu" in body["zones"]
        assert (await (await client.get("/api/v1/shipping/rates", headers=auth(b))).json())["rates"] == []
        assert (await (await client.get("/api/v1/shipping/rates", headers=auth(a))).json())["rates"] == [rate]
        assert (await client.app[SHIPPING].quote(a_id, "ES", "express", "EUR", 1500, 0)).price_cents == 720
        for who in (customer,):
            assert (await client.get("/api/v1/shipping/rates", headers=auth(who))).status == 403
            assert (await client.put("/api/v1/shipping/rates", json={"rates": []}, headers=auth(who))).status == 403
        assert (await client.get("/api/v1/shipping/rates")).status == 401
        bad = [{**rate, "zone": "mars"}, {**rate, "zone": {"a": 1}}, {**rate, "method": ["x"]}, {**rate, "base_cents": -1},
               {**rate, "colour": "red"}]
        for i, wrong in enumerate(bad):
            resp = await client.put("/api/v1/shipping/rates", json={"rates": [rate, wrong]}, headers=auth(a))
            assert resp.status == 422, await resp.text()
            assert any(k.startswith("rates[1].") for k in (await resp.json())["errors"]), i
        resp = await client.put("/api/v1/shipping/rates", json={"rates": [rate, rate]}, headers=auth(a))
        assert resp.status == 422 and "rates[1]" in (await resp.json())["errors"]
        resp = await client.put("/api/v1/shipping/rates", json={"rates": "all"}, headers=auth(a))
        assert resp.status == 422
        assert (await (await client.get("/api/v1/shipping/rates", headers=auth(a))).json())["rates"] == [rate]
        resp = await client.put("/api/v1/shipping/rates", json={"rates": []}, headers=auth(a))
        assert resp.status == 200 and (await resp.json())["rates"] == []


async def test_seller_page_adds_and_deletes_own_rates_admin_page_reads_the_file(aiohttp_client, make_config):
    async with shop(aiohttp_client, make_config) as client:
        a_id, _, a = await account(client, seller=True)
        b_id, _, b = await account(client, seller=True)
        _, _, customer = await account(client)
        _, _, admin = await account(client, admin=True)
        form = {"zone": "gb", "method": "standard", "currency": "eur", "base": "6,50", "per_kg": "", "free_above": "80"}
        resp = await client.post("/seller/shipping", data=form, headers=auth(a), allow_redirects=False)
        assert resp.status == 303, await resp.text()
        assert await client.app[SHIPPING].seller_rates(a_id) == [Rate("gb", "standard", "EUR", 650, 0, 8000)]
        page = await (await client.get("/seller/shipping", headers=auth(a))).text()
        assert "€6.50" in page and "€80.00" in page
        assert "€6.50" not in await (await client.get("/seller/shipping", headers=auth(b))).text()
        resp = await client.post("/seller/shipping", data={**form, "base": "6.5.0"}, headers=auth(a))
        assert resp.status == 422 and "amount like 4.90" in await resp.text()
        # B deleting "the same" rate deletes only B's (none): A's stays
        key = {"zone": "gb", "method": "standard", "currency": "EUR"}
        await client.post("/seller/shipping/delete", data=key, headers=auth(b), allow_redirects=False)
        assert len(await client.app[SHIPPING].seller_rates(a_id)) == 1
        resp = await client.post("/seller/shipping/delete", data=key, headers=auth(a), allow_redirects=False)
        assert resp.status == 303 and await client.app[SHIPPING].seller_rates(a_id) == []
        assert (await client.get("/seller/shipping", headers=auth(customer))).status == 403
        assert (await client.get("/admin/shipping", headers=auth(a))).status == 403
        admin_page = await (await client.get("/admin/shipping", headers=auth(admin))).text()
        assert "Everywhere else" in admin_page and "us-east → eu-west" in admin_page and "€4.90" in admin_page


async def test_demo_seed_gives_the_first_seller_own_rates_once(aiohttp_client, make_config):
    from types import SimpleNamespace
    from plugins.shipping.seed import DEMO_RATES, seed
    async with shop(aiohttp_client, make_config, fresh=True) as client:
        await account(client)  # a customer: not a seller
        seller, _, _ = await account(client, seller=True)
        await seed(SimpleNamespace(app=client.app))
        rates = await client.app[SHIPPING].seller_rates(seller)
        assert sorted(r.as_dict()["zone"] for r in rates) == sorted(r["zone"] for r in DEMO_RATES)
        await client.app[SHIPPING].replace_seller_rates(seller, DEMO_RATES[:1])
        await seed(SimpleNamespace(app=client.app))  # seeding again keeps what the seller changed
        assert len(await client.app[SHIPPING].seller_rates(seller)) == 1
