"""HTTP <-> OrdersService: the cart and checkout pages (orders, seller and admin pages: order_pages.py)."""
from __future__ import annotations

import secrets

from aiohttp import web
from aiohttp_jinja2 import render_template

from ecom.errors import Conflict, ValidationFailed
from ecom.gateway import identity, login_required
from ecom.gateway.flash import flash
from ecom.inputs import form_data, form_field

from . import checks
from .views import current_cart, keep_cart, orders

routes = web.RouteTableDef()
CARD_FIELDS = ("card_number", "exp_month", "exp_year", "cvc")


def no_store(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Cache-Control"] = "no-store"
    return response


def _whole(text: str):
    """A form's number as an int when it is one (the service names it when it is not)."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 20 else text


@routes.post("/cart/items")
async def add_to_cart(request: web.Request) -> web.Response:
    """From the product page: product_id, quantity. Guests too (their cart lives in the session)."""
    form = await form_data(request)
    product_id, quantity = _whole(form_field(form, "product_id")), _whole(form_field(form, "quantity", "1"))
    customer_id, items = await current_cart(request)
    try:
        items = await orders(request).carts.change(customer_id, items, product_id, quantity, add=True)
    except (ValidationFailed, Conflict) as err:
        await flash(request, err.detail, "danger")
        back = f"/products/{product_id}" if isinstance(product_id, int) else "/cart"
        raise web.HTTPSeeOther(back) from None
    await keep_cart(request, customer_id, items)
    await flash(request, "Added to your cart.", "success")
    raise web.HTTPSeeOther("/cart")


@routes.get("/cart")
async def cart_page(request: web.Request) -> web.Response:
    _, items = await current_cart(request)
    cart = await orders(request).carts.view(items)
    return no_store(render_template("orders/cart.html", request, {"cart": cart}))


@routes.post(r"/cart/items/{product_id:\d{1,19}}")
async def change_quantity(request: web.Request) -> web.Response:
    form = await form_data(request)
    customer_id, items = await current_cart(request)
    try:
        items = await orders(request).carts.change(customer_id, items, int(request.match_info["product_id"]),
                                                   _whole(form_field(form, "quantity")), add=False)
    except (ValidationFailed, Conflict) as err:
        await flash(request, err.detail, "danger")
    else:
        await keep_cart(request, customer_id, items)
        await flash(request, "Quantity updated.", "success")
    raise web.HTTPSeeOther("/cart")


@routes.post(r"/cart/items/{product_id:\d{1,19}}/remove")
async def remove_from_cart(request: web.Request) -> web.Response:
    customer_id, items = await current_cart(request)
    items = await orders(request).carts.remove(customer_id, items, int(request.match_info["product_id"]))
    await keep_cart(request, customer_id, items)
    await flash(request, "Removed from your cart.", "info")
    raise web.HTTPSeeOther("/cart")


async def _checkout_page(request: web.Request, values: dict, errors: dict | None = None, message: str = "",
                         status: int = 200) -> web.Response:
    _, items = await current_cart(request)
    svc = orders(request)
    cart = await svc.carts.view(items)
    shortages = await svc.carts.shortages(items)
    names = {line.product_id: line.name for line in cart.lines}
    if not values.get("region"):  # the first region that has the whole cart
        values["region"] = next((r for r, short in shortages.items() if not short), svc.regions[0])
    return no_store(render_template("orders/checkout.html", request, {
        "cart": cart, "regions": svc.regions, "values": values, "errors": errors or {},
        "short": {r: [names.get(p, f"product {p}") for p in ids] for r, ids in shortages.items()},
        "message": message, "idempotency_key": values.get("idempotency_key") or secrets.token_urlsafe(18)},
        status=status))


@routes.get("/checkout")
@login_required
async def checkout_form(request: web.Request) -> web.Response:
    return await _checkout_page(request, {})


@routes.post("/checkout")
@login_required
async def checkout(request: web.Request) -> web.Response:
    """The cart becomes an order; the form's hidden idempotency key makes a double submit one order."""
    svc, form = orders(request), await form_data(request)
    values = {"region": form_field(form, "region"), "idempotency_key": form_field(form, "idempotency_key"),
              "exp_month": form_field(form, "exp_month"), "exp_year": form_field(form, "exp_year")}
    body = {"from_cart": True, "region": values["region"],
            "payment": {"method": "card", **{f: form_field(form, f) for f in CARD_FIELDS}}}
    await current_cart(request)  # a guest cart still in the session joins the customer's first
    try:
        key = checks.idempotency_key(values["idempotency_key"])
        order, _ = await svc.checkout(identity(request).user_id, svc.parse_checkout(body), key=key,
                                      request_hash=svc.request_hash(body) if key else "")
    except (ValidationFailed, Conflict) as err:
        values["idempotency_key"] = ""  # a corrected form is a new request
        return await _checkout_page(request, values, err.errors, err.detail, err.status)
    await flash(request, f"Thank you! Order {order.id} is placed; we are taking the payment now.", "success")
    raise web.HTTPSeeOther(f"/orders/{order.id}")
