"""The webhooks pages are reachable from the dashboards (issue 13): an admin's dashboard links
/admin/webhooks, a seller's links /seller/webhooks (an admin's marketplace view: the admin pages), in both
languages; every link opens for that user, and no link is shown when the webhooks plugin is off."""
from __future__ import annotations

import re

import pytest

from ecom.app import create_app
from tests.helpers import account

PLUGINS = ["users", "addresses", "products", "inventory", "payments", "shipping", "taxes", "vouchers", "orders",
           "dashboards", "webhooks"]


def integrations(html: str) -> tuple[set[str], str]:
    """The links and the heading of the dashboard's "Integrations" card."""
    start = html.index('id="integrations"')
    card = html[start:html.index("</section>", start)]
    heading = re.search(r'id="integrations-heading">([^<]+)<', card).group(1)
    return set(re.findall(r'href="(/[^"]*)"', card)), heading


async def get(client, path: str, token: str, lang: str = "en") -> str:
    resp = await client.get(path, headers={"Authorization": f"Bearer {token}", "Accept-Language": lang})
    assert resp.status == 200, (path, resp.status, (await resp.text())[:500])
    return await resp.text()


@pytest.mark.parametrize("who, path, expected", [
    ("seller", "/seller", "/seller/webhooks"),
    ("admin", "/seller", "/admin/webhooks"),  # the marketplace view: every seller's endpoints
    ("admin", "/admin", "/admin/webhooks"),
])
async def test_dashboards_link_the_webhooks_pages(aiohttp_client, make_config, who, path, expected):
    client = await aiohttp_client(create_app(make_config(fresh=True, plugins={"enabled": PLUGINS})))
    _, _, token = await account(client, seller=who == "seller", admin=who == "admin")
    hrefs, heading = integrations(await get(client, path, token))
    assert hrefs == {expected} and heading == "Integrations"
    assert integrations(await get(client, path, token, "es"))[1] == "Integraciones"
    await get(client, expected, token)  # no dead link: the page opens for this user


async def test_no_webhooks_link_without_the_plugin(aiohttp_client, make_config):
    enabled = [p for p in PLUGINS if p != "webhooks"]
    client = await aiohttp_client(create_app(make_config(fresh=True, plugins={"enabled": enabled})))
    _, _, token = await account(client, admin=True)
    for path in ("/admin", "/seller"):
        html = await get(client, path, token)
        assert 'id="integrations"' not in html and "/webhooks" not in html
