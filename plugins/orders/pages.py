"""HTTP <-> OrdersService: the cart and checkout pages (orders, seller and admin pages: order_pages.py)."""
from __future__ import annotations

import secrets

from aiohttp import web
from aiohttp_jinja2 import render_template

from ecom.errors import Conflict, ValidationFailed
from ecom.gateway import identity
from ecom.gateway.flash import flash
from ecom.i18n import _
from ecom.inputs import form_data, form_field

from . import checks, quote
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


@routes.post("/cart/items", name="orders.cart_items")  # public names: ecom/links.py
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
    await flash(request, _("Added to your cart."), "success")
    raise web.HTTPSeeOther("/cart")


@routes.get("/cart", name="orders.cart")
async def cart_page(request: web.Request) -> web.Response:
    """The cart, with an estimate of shipping and taxes to ``?country=`` when asked."""
    _customer, items = await current_cart(request)
    svc = orders(request)
    cart = await svc.carts.view(items)
    country, estimate, problem = request.query.get("country", "").strip().upper()[:2], None, ""
    if country and cart.problem is None:
        try:
            estimate = await quote.estimate(svc.quoter, tuple(items), country)
        except (ValidationFailed, Conflict) as err:
            problem = err.detail
    return no_store(render_template("orders/cart.html", request, {"cart": cart, "country": country,
                                                                  "estimate": estimate, "estimate_problem": problem}))


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
        await flash(request, _("Quantity updated."), "success")
    raise web.HTTPSeeOther("/cart")


@routes.post(r"/cart/items/{product_id:\d{1,19}}/remove")
async def remove_from_cart(request: web.Request) -> web.Response:
    customer_id, items = await current_cart(request)
    items = await orders(request).carts.remove(customer_id, items, int(request.match_info["product_id"]))
    await keep_cart(request, customer_id, items)
    await flash(request, _("Removed from your cart."), "info")
    raise web.HTTPSeeOther("/cart")


ADDRESS_FIELDS = ("name", "company", "line1", "line2", "city", "region", "postal_code", "country", "phone")


def _destination_body(form) -> dict:
    """The checkout form's address choice, method and voucher as the API's body fields."""
    body: dict = {"shipping_method": form_field(form, "shipping_method", "standard") or "standard",
                  "voucher": form_field(form, "voucher")}
    chosen = form_field(form, "ship_to_address_id")
    if chosen and chosen != "new":
        body["ship_to_address_id"] = _whole(chosen)
    else:
        body["ship_to"] = {f: form_field(form, f"ship_to.{f}") for f in ADDRESS_FIELDS}
    return body


async def _checkout_page(request: web.Request, values: dict, errors: dict | None = None, message: str = "",
                         status: int = 200, breakdown=None) -> web.Response:
    customer_id, items = await current_cart(request)
    svc = orders(request)
    cart = await svc.carts.view(items)
    book = await svc.quoter.addresses.list(customer_id) if customer_id is not None else []
    short = status == 409  # not enough stock (a Conflict), whatever language its message is in
    if customer_id is not None and not values.get("ship_to_address_id"):
        default = next((a for a in book if a.is_default_shipping), book[0] if book else None)
        values["ship_to_address_id"] = str(default.id) if default else "new"
    if breakdown is None and not errors and cart.problem is None and values.get("ship_to_address_id") not in (None, "", "new"):
        try:  # a book address is chosen: show what it costs delivered there
            breakdown = await svc.quoter.quote(customer_id, f"customer:{customer_id}", tuple(items), checks.quote(
                {"ship_to_address_id": _whole(values["ship_to_address_id"]),
                 "shipping_method": values.get("shipping_method") or "standard"}))
        except (ValidationFailed, Conflict) as err:
            errors, message, short = err.errors, err.detail, isinstance(err, Conflict)
    return no_store(render_template("orders/checkout.html", request, {
        "cart": cart, "book": book, "values": values, "errors": errors or {}, "breakdown": breakdown,
        "address_fields": ADDRESS_FIELDS, "guest": customer_id is None, "short": short,
        "message": message, "idempotency_key": values.get("idempotency_key") or secrets.token_urlsafe(18)},
        status=status))


@routes.get("/checkout")
async def checkout_form(request: web.Request) -> web.Response:
    """Customers and guests (a guest gives an email and gets a link to follow the order)."""
    return await _checkout_page(request, {})


@routes.post("/checkout")
async def checkout(request: web.Request) -> web.Response:
    """``action=apply``: price the cart for the address, method and voucher (nothing placed); otherwise
    the cart becomes an order, and the form's hidden idempotency key makes a double submit one order."""
    svc, form, who = orders(request), await form_data(request), identity(request)
    values = {k: form_field(form, k) for k in ("idempotency_key", "exp_month", "exp_year", "email", "voucher",
                                                 "shipping_method", "ship_to_address_id")}
    values.update({f"ship_to.{f}": form_field(form, f"ship_to.{f}") for f in ADDRESS_FIELDS})
    destination = _destination_body(form)
    customer_id, items = await current_cart(request)  # a guest cart still in the session joins the customer's first
    if form_field(form, "action") == "apply":
        try:
            breakdown = await svc.quoter.quote(customer_id, f"customer:{customer_id}" if customer_id else "",
                                               tuple(items), checks.quote(destination))
        except (ValidationFailed, Conflict) as err:
            return await _checkout_page(request, values, err.errors, err.detail, err.status)
        return await _checkout_page(request, values, breakdown=breakdown)
    body = {"from_cart": True, **destination, "payment": {"method": "card", **{f: form_field(form, f)
                                                                                for f in CARD_FIELDS}}}
    if who is None:
        body["email"] = values["email"]
    try:
        key = checks.idempotency_key(values["idempotency_key"])
        order, _created = await svc.checkout(customer_id, svc.parse_checkout(body), key=key,
                                      request_hash=svc.request_hash(body) if key else "",
                                      email=who.email if who else None, guest_cart=tuple(items))
    except (ValidationFailed, Conflict) as err:
        values["idempotency_key"] = ""  # a corrected form is a new request
        return await _checkout_page(request, values, err.errors, err.detail, err.status)
    await flash(request, _("Thank you! Order {id} is placed; we are taking the payment now.").format(id=order.id),
                "success")
    if who is None:
        await keep_cart(request, None, [])
        raise web.HTTPSeeOther(svc.guests.url(order.id))
    raise web.HTTPSeeOther(f"/orders/{order.id}")
