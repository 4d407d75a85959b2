"""The addresses plugin: the validator as a pure function, then the address book through real HTTP
(API with bearer tokens, pages with a logged-in session and CSRF) on a real PostgreSQL."""
from __future__ import annotations

import asyncio
import re

import pytest

from ecom.errors import ValidationFailed
from plugins.addresses.countries import COUNTRIES
from plugins.addresses.keys import ADDRESSES
from plugins.addresses.model import Address, validate_address
from plugins.users.keys import USERS
from tests.helpers import PASSWORD, account

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
MADRID = {"name": "Ana García", "line1": "Calle Mayor 1", "line2": "3º B", "city": "Madrid",
          "postal_code": "28013", "country": "ES", "phone": "+34 911 23 45 67"}
NEW_YORK = {"name": "Bob Smith", "company": "Acme", "line1": "350 5th Ave", "city": "New York", "region": "ny",
            "postal_code": "10118", "country": "us", "phone": "(212) 736-3100"}


def errors_of(data: dict, prefix: str = "") -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        validate_address(data, prefix)
    return caught.value.errors


# --- the validator (no I/O) ---

def test_valid_addresses_are_normalised():
    spain = validate_address(MADRID)
    assert spain.phone == "+34911234567" and spain.country == "ES"
    assert spain.lines() == ["Ana García", "Calle Mayor 1", "3º B", "28013 Madrid", "SPAIN"]
    us = validate_address(NEW_YORK)
    assert (us.region, us.country, us.phone) == ("NY", "US", "+12127363100")
    assert us.lines()[-2:] == ["New York, NY 10118", "UNITED STATES"]
    gb = validate_address({"name": "C", "line1": "10 Downing St", "city": "London", "postal_code": "sw1a2aa",
                           "country": "GB", "phone": "020 7946 0958"})
    assert (gb.postal_code, gb.phone) == ("SW1A 2AA", "+442079460958")
    assert validate_address({**MADRID, "country": "PT", "postal_code": "1000 001", "phone": ""}).postal_code == "1000-001"
    assert validate_address({**MADRID, "country": "NL", "postal_code": "1012ab", "phone": ""}).postal_code == "1012 AB"
    assert validate_address({**NEW_YORK, "country": "CA", "region": "on", "postal_code": "k1a0b1"}).postal_code == "K1A 0B1"
    assert Address.from_dict(spain.as_dict()) == spain


@pytest.mark.parametrize("phone, country, expected", [
    ("+34 911-234-567", "ES", "+34911234567"),
    ("0034 911 234 567", "ES", "+34911234567"),
    ("06 12 34 56 78", "FR", "+33612345678"),        # trunk 0 dropped
    ("+33 (0)6 12 34 56 78", "FR", "+33612345678"),
    ("030 1234567", "DE", "+49301234567"),
    ("06 1234 5678", "IT", "+390612345678"),          # Italy keeps its leading 0
    ("1 (415) 555-2671", "US", "+14155552671"),
    ("55 1234 5678", "MX", "+525512345678"),
    ("+44 20 7946 0958", "ES", "+442079460958"),      # a foreign number stays as given
])
def test_phone_numbers_become_e164(phone, country, expected):
    postal = COUNTRIES[country].postal_example.split(" or ")[0]
    data = {"name": "A", "line1": "B", "city": "C", "country": country, "postal_code": postal, "phone": phone,
            "region": {"US": "CA", "MX": "CMX"}.get(country, "")}
    assert validate_address(data).phone == expected


@pytest.mark.parametrize("phone", ["12", "91 123 45", "+34 911 234 5678", "call me", "++34911234567",
                                   "0612345678901234", "+0034911234567"])
def test_bad_phone_numbers_are_named(phone):
    assert set(errors_of({**MADRID, "phone": phone})) == {"phone"}


def test_missing_fields_and_bad_codes_name_each_field_with_the_prefix():
    errors = errors_of({"country": "ES", "postal_code": "99999"}, "ship_to.")
    assert set(errors) == {"ship_to.name", "ship_to.line1", "ship_to.city", "ship_to.postal_code"}
    assert "28013" in errors["ship_to.postal_code"]
    assert set(errors_of({**MADRID, "postal_code": ""})) == {"postal_code"}
    assert set(errors_of({**MADRID, "country": "ZZ"})) == {"country"}
    assert set(errors_of({**MADRID, "country": ""})) == {"country"}
    assert set(errors_of({**NEW_YORK, "region": ""})) == {"region"}          # US needs a state
    assert set(errors_of({**NEW_YORK, "region": "XX"})) == {"region"}
    assert set(errors_of({**NEW_YORK, "postal_code": "1011"})) == {"postal_code"}
    assert set(errors_of({**MADRID, "country": "GB", "postal_code": "28013", "phone": ""})) == {"postal_code"}
    assert validate_address({**MADRID, "country": "IE", "postal_code": "", "phone": ""}).postal_code == ""


def test_text_is_checked_for_type_length_and_storability():
    assert set(errors_of({**MADRID, "name": 7, "city": ["x"]})) == {"name", "city"}
    assert set(errors_of({**MADRID, "line1": "x" * 121})) == {"line1"}
    assert set(errors_of({**MADRID, "company": "a\x00b"})) == {"company"}
    assert set(errors_of({**MADRID, "line2": "\ud800"})) == {"line2"}
    assert validate_address({**MADRID, "line1": "  Calle\n Mayor   1 "}).line1 == "Calle Mayor 1"
    assert errors_of(["not", "a", "mapping"], "bill_to.") == {"bill_to": "Enter this as text."}


# --- the API ---

@pytest.fixture
async def shop(aiohttp_client, make_config):
    from ecom.app import create_app
    return await aiohttp_client(create_app(make_config(plugins={"enabled": ["users", "addresses"]})))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_api_add_list_get_patch_delete(shop):
    _, _, token = await account(shop)
    resp = await shop.post("/api/v1/addresses", json=MADRID, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    first = await resp.json()
    assert first["phone"] == "+34911234567" and first["country_name"] == "Spain"
    assert first["is_default_shipping"] and first["is_default_billing"]  # the first address is the default
    assert resp.headers["Location"] == f"/api/v1/addresses/{first['id']}"
    resp = await shop.post("/api/v1/addresses", json=NEW_YORK, headers=bearer(token))
    second = await resp.json()
    assert resp.status == 201 and not second["is_default_shipping"] and not second["is_default_billing"]

    resp = await shop.patch(f"/api/v1/addresses/{second['id']}", json={"default_shipping": True, "city": "Brooklyn",
                                                                       "postal_code": "11201"}, headers=bearer(token))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["city"] == "Brooklyn"
    listing = await (await shop.get("/api/v1/addresses", headers=bearer(token))).json()
    assert listing["max_items"] == 20
    assert [(a["id"], a["is_default_shipping"], a["is_default_billing"]) for a in listing["items"]] == [
        (first["id"], False, True), (second["id"], True, False)]
    shipping, billing = await shop.app[ADDRESSES].defaults(await user_id(shop, token))
    assert (shipping.id, billing.id) == (second["id"], first["id"])

    resp = await shop.patch(f"/api/v1/addresses/{first['id']}", json={"postal_code": "1234"}, headers=bearer(token))
    assert resp.status == 422 and set((await resp.json())["errors"]) == {"postal_code"}
    resp = await shop.delete(f"/api/v1/addresses/{second['id']}", headers=bearer(token))
    assert resp.status == 204
    resp = await shop.get(f"/api/v1/addresses/{second['id']}", headers=bearer(token))
    assert resp.status == 404
    shipping, billing = await shop.app[ADDRESSES].defaults(await user_id(shop, token))
    assert shipping is None and billing.id == first["id"]  # a deleted default is not silently replaced


async def user_id(shop, token: str) -> int:
    return (await (await shop.get("/api/v1/users/me", headers=bearer(token))).json())["id"]


async def test_api_bad_input_is_422_naming_the_field(shop):
    _, _, token = await account(shop)
    resp = await shop.post("/api/v1/addresses", json={**MADRID, "postal_code": "ABC", "name": ""},
                           headers=bearer(token))
    assert resp.status == 422
    problem = await resp.json()
    assert resp.content_type == "application/problem+json"
    assert set(problem["errors"]) == {"postal_code", "name"}
    resp = await shop.post("/api/v1/addresses", json={**MADRID, "default_billing": "yes"}, headers=bearer(token))
    assert resp.status == 422 and set((await resp.json())["errors"]) == {"default_billing"}
    resp = await shop.post("/api/v1/addresses", data="[1]", headers={**bearer(token), "Content-Type": "application/json"})
    assert resp.status == 422
    assert (await (await shop.get("/api/v1/addresses", headers=bearer(token))).json())["items"] == []
    resp = await shop.get("/api/v1/addresses")
    assert resp.status == 401


async def test_another_users_address_is_404(shop):
    _, _, owner = await account(shop)
    _, _, other = await account(shop)
    saved = await (await shop.post("/api/v1/addresses", json=MADRID, headers=bearer(owner))).json()
    path = f"/api/v1/addresses/{saved['id']}"
    assert (await shop.get(path, headers=bearer(other))).status == 404
    assert (await shop.patch(path, json={"city": "Toledo"}, headers=bearer(other))).status == 404
    assert (await shop.delete(path, headers=bearer(other))).status == 404
    assert (await (await shop.get("/api/v1/addresses", headers=bearer(other))).json())["items"] == []
    still = await (await shop.get(path, headers=bearer(owner))).json()
    assert still["city"] == "Madrid"


async def test_the_book_holds_at_most_20_even_under_concurrency(shop):
    _, _, token = await account(shop)
    for i in range(15):
        resp = await shop.post("/api/v1/addresses", json={**MADRID, "line1": f"Calle {i}"}, headers=bearer(token))
        assert resp.status == 201
    racing = await asyncio.gather(*(shop.post("/api/v1/addresses", json={**MADRID, "line1": f"Plaza {i}"},
                                              headers=bearer(token)) for i in range(10)))
    assert sorted(r.status for r in racing) == [201] * 5 + [409] * 5
    problem = await next(r for r in racing if r.status == 409).json()
    assert "20" in problem["detail"]
    listing = await (await shop.get("/api/v1/addresses", headers=bearer(token))).json()
    assert len(listing["items"]) == 20
    assert sum(a["is_default_shipping"] for a in listing["items"]) == 1


# --- the pages ---

async def log_in_page(shop) -> str:
    _, email, _ = await account(shop)
    page = await (await shop.get("/login")).text()
    resp = await shop.post("/login", data={"csrf_token": CSRF.search(page).group(1), "email": email,
                                           "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 303
    return email


async def test_pages_show_errors_next_to_fields_then_save_edit_default_delete(shop):
    await log_in_page(shop)
    page = await (await shop.get("/account/addresses/new")).text()
    token = CSRF.search(page).group(1)
    assert '<label for="postal_code"' in page and '<label for="country"' in page
    assert "<title>Add an address · ecom</title>" in page and '<h1 class="h3 mb-3">Add an address</h1>' in page
    resp = await shop.post("/account/addresses", data={"csrf_token": token, **MADRID, "postal_code": "9",
                                                      "city": ""})
    assert resp.status == 422
    page = await resp.text()
    assert re.search(r'id="postal_code"[^>]*aria-invalid="true"[^>]*aria-describedby="postal_code-error', page)
    assert 'id="postal_code-error" class="invalid-feedback">Enter a valid postal code for Spain, like 28013.' in page
    assert 'id="city-error"' in page and 'id="name-error"' not in page
    assert 'value="Ana García"' in page  # what was typed is kept

    resp = await shop.post("/account/addresses", data={"csrf_token": token, **MADRID}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/account/addresses"
    resp = await shop.post("/account/addresses", data={"csrf_token": token, **NEW_YORK}, allow_redirects=False)
    assert resp.status == 303
    page = await (await shop.get("/account/addresses")).text()
    assert "Address saved." in page and "28013 Madrid" in page and "New York, NY 10118" in page
    assert "+34911234567" in page
    ids = [int(i) for i in re.findall(r'/account/addresses/(\d+)/edit', page)]
    assert len(ids) == 2 and page.count("Default shipping") == 1

    resp = await shop.post(f"/account/addresses/{ids[1]}/default", data={"csrf_token": token, "kind": "shipping"},
                           allow_redirects=False)
    assert resp.status == 303
    edit = await (await shop.get(f"/account/addresses/{ids[1]}/edit")).text()
    assert re.search(r'id="default_shipping" name="default_shipping" checked', edit)
    assert "<title>Edit address · ecom</title>" in edit and 'value="New York"' in edit
    resp = await shop.post(f"/account/addresses/{ids[1]}", data={"csrf_token": token, **NEW_YORK, "region": "ZZ"})
    assert resp.status == 422 and 'id="region-error"' in await resp.text()
    resp = await shop.post(f"/account/addresses/{ids[0]}/delete", data={"csrf_token": token}, allow_redirects=False)
    assert resp.status == 303
    page = await (await shop.get("/account/addresses")).text()
    assert "28013 Madrid" not in page and "Address deleted." in page


async def test_pages_need_a_login_and_the_owner(shop):
    resp = await shop.get("/account/addresses", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login")
    _, _, token = await account(shop)
    saved = await (await shop.post("/api/v1/addresses", json=MADRID, headers=bearer(token))).json()
    await log_in_page(shop)
    assert (await shop.get(f"/account/addresses/{saved['id']}/edit")).status == 404
    page = await (await shop.get("/account/addresses")).text()
    resp = await shop.post(f"/account/addresses/{saved['id']}/delete",
                           data={"csrf_token": CSRF.search(page).group(1)}, allow_redirects=False)
    assert resp.status == 404
    resp = await shop.post(f"/account/addresses/{saved['id']}/delete", data={}, allow_redirects=False)
    assert resp.status == 403  # no CSRF token


async def test_the_account_page_links_to_the_address_book(shop):
    await log_in_page(shop)
    page = await (await shop.get("/account")).text()
    assert 'href="/account/addresses"' in page


async def test_the_demo_seed_gives_the_demo_customer_an_address_book(make_config):
    from ecom.plugin import load_plugins
    from ecom.seed import SeedOptions, run_seed
    config = make_config(fresh=True, plugins={"enabled": ["users", "addresses"]})
    await run_seed(config, load_plugins(config), SeedOptions(products=10))
    await run_seed(config, load_plugins(config), SeedOptions(products=10))  # twice: the same book
    from ecom.app import create_app
    from aiohttp import web
    runner = web.AppRunner(create_app(config, events=False), handle_signals=False)
    await runner.setup()
    try:
        app = runner.app
        customer = next(u for u in await app[USERS].list_users(100) if u.email == "customer@demo.shop")
        saved = await app[ADDRESSES].list(customer.id)
        assert [s.address.country for s in saved] == ["ES", "PT", "US"]
        shipping, billing = await app[ADDRESSES].defaults(customer.id)
        assert (shipping.address.country, billing.address.country) == ("ES", "PT")
    finally:
        await runner.cleanup()
