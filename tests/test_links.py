"""Links between plugins' pages by public page name (ecom/links.py), over the real app.

Checked: ``page_url`` answers the path of a page the orders plugin names, and ``None`` for an unknown
name, for a missing, extra or pattern-refused part, and in a shop without orders; templates get the same
as the ``page_url`` global; a plugin naming a route outside its own prefix stops start-up. Over real
HTTP: with orders, the payments and invoices lists and the admin trace page link to the order, and the
product page posts to the cart, the layout links the cart (navbar, small-screen button, footer) and an
unknown order's 404 page links to the shopper's orders; without orders, the same pages answer 200 with the
order number but no link, a logged-in shopper gets no add-to-cart form that would post nowhere, the
layout has no cart link (guest or logged in) and /orders/... is a plain 404 with no link to orders."""
from __future__ import annotations

import json
import os
import secrets
import time
import uuid

import aiohttp_jinja2
import pytest
from aiohttp import web

from ecom import tracing
from ecom.app import POOLS, create_app
from ecom.links import check_names, page_url
from ecom.plugin import Plugin, PluginError
from tests.helpers import start, wait_until
from tests.plugins.test_orders import EU, PLUGINS, bearer, checkout, product, user, wait_status
from tests.plugins.test_payments import processed, publish, request_for

ORDER = "ord_" + "a1" * 12  # the shape of orders' public numbers: ord_[a-z0-9]{20,40}
# the layout's three cart links (templates/base.html): the small-screen button, the navbar's, the footer's
CART_LINKS = ('me-2" href="/cart">', '<a class="nav-link" href="/cart">', '<li class="list-inline-item"><a href="/cart">')
YOUR_ORDERS = 'class="btn btn-outline-primary" href="/orders">'  # the error page's button to the orders list


def shop_config(make_config, tmp_path, enabled, **plugins):
    """Tracing on with the file exporter (the admin trace page reads it); payments answer at once."""
    return make_config(fresh=True, tracing={"enabled": True, "file": str(tmp_path / "traces.jsonl")}, plugins={
        "enabled": enabled, "payments": {"delay_seconds": 0}, **plugins})


def write_span(tmp_path, order_id: str) -> None:
    """One finished span about ``order_id`` in the trace file, as the file exporter writes them."""
    now = time.time_ns()
    span = {"trace_id": secrets.token_hex(16), "span_id": secrets.token_hex(8), "parent_id": None,
            "name": "POST /api/v1/orders", "kind": "SERVER", "start_ns": now, "end_ns": now + 5_000_000,
            "service": "test", "status": "OK", "attributes": {tracing.ORDER_ID: order_id}}
    fd = os.open(tmp_path / "traces.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:  # one appending write, as the exporter's (ecom/tracing/jsonfile.py): lines never interleave
        os.write(fd, (json.dumps(span) + "\n").encode())
    finally:
        os.close(fd)


def order_link(order_id: str) -> str:
    return f'<a href="/orders/{order_id}">'


async def test_page_url_names_a_page_or_answers_none(make_config):
    app = create_app(make_config(plugins={"enabled": PLUGINS}), events=False)
    assert page_url(app, "orders.order", id=ORDER) == f"/orders/{ORDER}"
    assert page_url(app, "orders.cart") == "/cart" and page_url(app, "orders.orders") == "/orders"
    assert page_url(app, "orders.cart_items") == "/cart/items"
    assert page_url(app, "orders.nope", id=ORDER) is None and page_url(app, "wishlist.wish", wish_id=1) is None
    assert page_url(app, "orders.order") is None  # a part missing
    assert page_url(app, "orders.order", id=ORDER, page=2) is None  # a part the route does not have
    for refused in ("../admin", "ord_short", f"{ORDER}/cancel", "", 42):
        assert page_url(app, "orders.order", id=refused) is None, refused
    assert page_url(app, "orders.cart", id=ORDER) is None  # a plain page takes no parts
    rendered = aiohttp_jinja2.get_env(app).from_string(
        '{{ page_url("orders.order", id=order) }}|{{ page_url("orders.nope") is none }}'
        '|{{ page_url("orders.order", id="x/y") is none }}').render(order=ORDER)
    assert rendered == f"/orders/{ORDER}|True|True"

    alone = create_app(make_config(plugins={"enabled": ["users", "products", "payments"]}), events=False)
    assert page_url(alone, "orders.order", id=ORDER) is None and page_url(alone, "orders.cart_items") is None
    assert page_url(alone, "orders.cart") is None and page_url(alone, "orders.orders") is None
    assert aiohttp_jinja2.get_env(alone).from_string('{{ page_url("orders.order", id=o) is none }}').render(
        o=ORDER) == "True"


def test_a_plugin_names_only_its_own_pages():
    async def handler(request):
        return web.Response()
    check_names([Plugin(name="wishlist", routes=[web.get("/wishlist", handler, name="wishlist.list")])])
    with pytest.raises(PluginError, match=r"plugin wishlist: route name 'orders.order' must start with 'wishlist.'"):
        check_names([Plugin(name="wishlist", routes=[web.get("/wishlist", handler, name="orders.order")])])


async def test_with_orders_the_lists_and_the_trace_page_link_to_the_order(aiohttp_client, make_config, tmp_path):
    client = await start(aiohttp_client, shop_config(make_config, tmp_path, [*PLUGINS, "invoices"],
                                                     shipping={}, orders={"expiry_sweep_seconds": 0.2}))
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    _, token = await user(client)
    _, admin = await user(client, admin=True)
    resp = await checkout(client, token, [(mug, 1)])
    assert resp.status == 201, await resp.text()
    order_id = (await resp.json())["id"]
    await wait_status(client, token, order_id, "paid")

    payments = await (await client.get("/account/payments", headers=bearer(token))).text()
    assert order_link(order_id) in payments, payments[-3000:]

    async def invoices():
        return await (await client.get("/account/invoices", headers=bearer(token))).text()
    await wait_until(invoices, lambda page: order_link(order_id) in page, "the invoice's link to its order")

    write_span(tmp_path, order_id)
    resp = await client.get(f"/admin/traces?order={order_id}", headers=bearer(admin))
    page = await resp.text()
    assert resp.status == 200 and order_link(order_id) in page, page[-3000:]

    page = await (await client.get(f"/products/{mug}")).text()  # a guest: the session cart
    assert 'action="/cart/items"' in page and "Log in to buy" not in page
    for link in CART_LINKS:  # the layout links the cart in the navbar (both sizes) and the footer
        assert link in page, (link, page[-3000:])

    resp = await client.get(f"/orders/{ORDER}", headers={**bearer(token), "Accept": "text/html"})
    page = await resp.text()  # an order that is not the shopper's: the error page points to their orders
    assert resp.status == 404 and YOUR_ORDERS in page and "There is no such order in your account" in page, page


async def test_without_orders_the_pages_show_the_number_without_a_link(aiohttp_client, make_config, tmp_path):
    config = shop_config(make_config, tmp_path, ["users", "products", "payments"])
    client = await start(aiohttp_client, config)
    customer, token = await user(client)
    _, admin = await user(client, admin=True)
    _, seller = await user(client, seller=True)
    order_id = f"ord_{uuid.uuid4().hex[:24]}"  # a payment orders would have asked for (signed as orders)
    await publish(config, await request_for(client.app, order_id, customer_id=customer))
    await wait_until(lambda: processed(client.app[POOLS]["payments"], order_id), bool, f"{order_id} processed")

    resp = await client.get("/account/payments", headers=bearer(token))
    page = await resp.text()
    assert resp.status == 200 and f"<code>{order_id}</code>" in page and 'href="/orders/' not in page, page[-3000:]

    write_span(tmp_path, order_id)
    resp = await client.get(f"/admin/traces?order={order_id}", headers=bearer(admin))
    page = await resp.text()
    assert resp.status == 200 and "data-trace-id=" in page and 'href="/orders/' not in page, page[-3000:]

    mug = await product(client, seller)
    resp = await client.get(f"/products/{mug}")
    page = await resp.text()
    assert resp.status == 200 and "Log in to buy" in page and "/cart/items" not in page  # a guest may log in
    assert 'href="/products"' in page and 'href="/cart"' not in page  # the layout is there, with no cart link
    resp = await client.get(f"/products/{mug}", headers=bearer(token))
    page = await resp.text()
    assert resp.status == 200 and "</html>" in page
    assert "/cart/items" not in page and "Log in to buy" not in page  # no form that would post nowhere
    assert 'href="/account"' in page and 'href="/cart"' not in page  # a logged-in shopper: no cart link either

    resp = await client.get(f"/orders/{ORDER}", headers={**bearer(token), "Accept": "text/html"})
    page = await resp.text()  # nobody serves /orders/...: a plain 404, no talk of orders nor a link to them
    assert resp.status == 404 and "The link may be old or mistyped." in page, page
    assert 'href="/orders' not in page and "no such order" not in page
