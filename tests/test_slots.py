"""Page slots (ecom/slots.py) over real HTTP: test plugins loaded by the normal loader from tests/slotplugins
fill the product page's ``product.details``, the catalog's ``product.card`` and the navbar. Checked: their
output appears in ``order`` then plugin name, escaped; a raising slot and a slow one (> 1 s) leave the page
200 and whole, each logging one line; the per-item slot's context runs once per page, and not at all when
the page's shared part comes from the page cache; a shared slot's fragment sees no identity."""
from __future__ import annotations

import logging
import re

import pytest

from ecom.app import create_app
from ecom.plugin import PluginError
from tests.slotplugins.slota import CALLS  # the loader imports this same module

from .plugins.test_products import create, log_in, uniq, user

PLUGINS = {"enabled": ["users", "products", "slota", "slotb"], "paths": ["plugins", "tests/slotplugins"]}


@pytest.fixture
async def client(aiohttp_client, make_config):
    return await aiohttp_client(create_app(make_config(plugins=PLUGINS)))


async def test_product_page_shows_the_slots_in_order_and_survives_a_raising_and_a_slow_one(client, caplog):
    _, seller = await user(client)
    product = await create(client, seller, name=f"Lamp {uniq()}", description="Bright & warm")
    caplog.set_level(logging.WARNING, logger="ecom.slots")
    resp = await client.get(f"/products/{product['id']}", timeout=15)
    page = await resp.text()
    assert resp.status == 200, page
    assert "Bright &amp; warm" in page and "Log in to buy" in page and "</html>" in page  # the rest is there
    first, own, other = (page.index(f"SLOTA-FIRST {product['id']}"), page.index(f"SLOTA {product['name']}"),
                         page.index(f"SLOTB {product['id']}"))
    assert first < own < other  # order 10, then order 50: slota before slotb by plugin name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "identity:no" in page  # a shared slot's fragment gets nothing personal
    assert "SLOTA-BOOM" not in page and "SLOTA-SLOW" not in page
    lines = [r.getMessage() for r in caplog.records if r.name == "ecom.slots"]
    assert len(lines) == 2, lines
    assert any("slot product.details of plugin slota" in m and "RuntimeError: slot boom" in m for m in lines)
    assert any("slot product.details of plugin slota" in m and "timed out" in m for m in lines)


async def test_card_slot_context_runs_once_per_page_and_not_on_a_cache_hit(client):
    _, seller = await user(client)
    tag = uniq()
    made = [await create(client, seller, name=f"Mug {tag} {n}") for n in range(3)]
    ids = sorted(p["id"] for p in made)
    before = len(CALLS)
    page = await (await client.get(f"/products?q={tag}")).text()
    assert len(CALLS) == before + 1 and sorted(CALLS[-1]) == ids  # one call for the whole grid
    for product_id in ids:
        assert f"CARD-{product_id}" in page
    # a logged-in shopper's catalog main column is kept (pagecache.py): the second page costs no slot call
    shopper, _ = await user(client)  # a seller too: log_in lands on /seller/products
    await log_in(client, shopper["email"])
    for _ in range(2):
        page = await (await client.get(f"/products?q={tag}")).text()
        assert all(f"CARD-{product_id}" in page for product_id in ids)
    assert len(CALLS) == before + 2


async def test_navbar_slot_is_personal_and_comes_from_the_plugins(client):
    guest = await (await client.get("/products")).text()
    assert "slot-nav" not in guest and 'href="/orders"' not in guest  # orders is not enabled here
    shopper, _ = await user(client, seller=True)
    await log_in(client, shopper["email"])
    page = await (await client.get("/products")).text()
    assert page.index(f"NAVB-{shopper['id']}") < page.index(f"NAV-{shopper['id']}")  # a context slot; order 5
    assert "NAVB-" not in guest
    nav = page[page.index('id="main-nav"'):page.index("</nav>")]
    assert re.search(r'href="/seller"', nav) is None  # the dashboards plugin (its link) is not enabled here


async def test_a_slot_naming_a_missing_template_stops_start_up_in_one_line(make_config):
    config = make_config(plugins={"enabled": ["users", "slotbad"], "paths": ["plugins", "tests/slotplugins"]})
    with pytest.raises(PluginError) as err:
        create_app(config)
    assert str(err.value) == ("plugin slotbad: slot 'product.details' names template 'slotbad/missing.html', "
                              "which does not exist")
