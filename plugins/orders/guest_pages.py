"""HTTP <-> guests' orders: the page a guest's signed link opens (``/orders/{id}?key=...``, live status
included) and its "create an account" form, which adopts the order (guest.py). A wrong key is a 404,
exactly like an order that does not exist."""
from __future__ import annotations

from aiohttp import web
from aiohttp_jinja2 import render_template

from ecom.errors import ValidationFailed
from ecom.gateway.flash import flash
from ecom.i18n import N_, _
from ecom.inputs import form_data, form_field

from .models import LABELS
from .pages import no_store
from .routes import ORDER
from .texts import live_texts
from .views import orders

routes = web.RouteTableDef()
ADOPTED = N_("Your account is ready and this order is in it: log in to see it with your other orders.")
# the same answer when the email already has an account (no account enumeration): its owner logs in
NOT_ADOPTED = N_("If this email has no account yet, it has one now: log in with it to see your orders.")


async def order_page(request: web.Request, errors: dict | None = None, status: int = 200) -> web.Response:
    """The order as its guest sees it (no cancel or seller buttons), with the adopt form."""
    key = request.query.get("key")
    order = await orders(request).for_guest(request.match_info["id"], key)
    return no_store(render_template("orders/guest_order.html", request, {
        "order": order, "labels": LABELS, "can_cancel": False, "can_advance": False, "live": not order.final,
        "guest_key": key, "adoptable": order.customer_id is None, "errors": errors or {},
        "live_texts": live_texts()}, status=status))


@routes.post(f"/orders/{ORDER}/adopt")
async def adopt(request: web.Request) -> web.Response:
    """"Create an account" on a guest's order page: name + password, the order's email."""
    form = await form_data(request)
    key = form_field(form, "key")
    svc = orders(request)
    order_id = request.match_info["id"]
    svc.guests.check(order_id, key)
    try:
        adopted = await svc.guests.adopt(order_id, key, form_field(form, "name"), form_field(form, "password"))
    except ValidationFailed as err:
        request = request.clone(rel_url=f"/orders/{order_id}?key={key}")
        return await order_page(request, err.errors, 422)
    await flash(request, _(ADOPTED if adopted else NOT_ADOPTED), "success")
    raise web.HTTPSeeOther("/login?next=/orders")
