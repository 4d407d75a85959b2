"""Where the pages of issue 10 are linked from: the footer's "Your addresses", and the dashboards' vouchers
and shipping cards (the seller's own pages for a seller, the admin pages for an admin). Every link is
followed and must answer 200, and a link to a plugin that is not enabled is not shown."""
from __future__ import annotations

import re

import pytest

from ecom.app import create_app
from tests.helpers import account



def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def links(html: str) -> set[str]:
    return set(re.findall(r'href="(/[^"]*)"', html))


async def shop(aiohttp_client, make_config, plugins: list[str]):
    return await aiohttp_client(create_app(make_config(fresh=True, plugins={"enabled": plugins})))


async def page(client, path: str, token: str) -> str:
    resp = await client.get(path, headers=bearer(token))
    assert resp.status == 200, (path, resp.status, (await resp.text())[:500])
    return await resp.text()


async def test_the_footer_links_the_address_book_when_addresses_are_enabled(aiohttp_client, make_config):
    client = await shop(aiohttp_client, make_config, ["users", "addresses"])
    _, _, token = await account(client)
    html = await page(client, "/account", token)
    assert '<li class="list-inline-item"><a href="/account/addresses">Your addresses</a></li>' in html
    await page(client, "/account/addresses", token)

    client = await shop(aiohttp_client, make_config, ["users"])
    _, _, token = await account(client)
    assert "/account/addresses" not in await page(client, "/account", token)


DASHBOARDS = ["users", "addresses", "products", "inventory", "payments", "shipping", "taxes", "vouchers", "orders",
              "dashboards"]


@pytest.mark.parametrize("who, path, expected", [
    ("seller", "/seller", {"/seller/vouchers", "/seller/shipping"}),
    ("admin", "/seller", {"/admin/vouchers", "/admin/shipping"}),  # the marketplace view: the admin pages
    ("admin", "/admin", {"/admin/vouchers", "/admin/shipping"}),
])
async def test_dashboards_link_vouchers_and_shipping(aiohttp_client, make_config, who, path, expected):
    client = await shop(aiohttp_client, make_config, DASHBOARDS)
    _, _, token = await account(client, seller=who == "seller", admin=who == "admin")
    html = await page(client, path, token)
    tools = html[html.index('id="selling-tools"'):]
    tools = tools[:tools.index("</nav>" if path == "/admin" else '<div class="row g-4">')]
    assert links(tools) == expected, tools
    for href in expected:  # no dead links: each page opens for this user
        await page(client, href, token)
