"""HTTP <-> OrdersService: a customer's orders, one order (with its live status), and the sellers' and
admins' order pages with their status buttons."""
from __future__ import annotations

from aiohttp import web
from aiohttp_jinja2 import render_template

from ecom.errors import Conflict, NotFound, ValidationFailed
from ecom.gateway import identity, login_required, roles_required
from ecom.gateway.flash import flash
from ecom.i18n import _
from ecom.inputs import form_data, form_field, local_path, query_int
from ecom.slots import fill

from . import guest_pages
from .models import LABELS, STATUSES
from .pages import no_store
from .routes import ORDER
from .texts import live_texts
from .views import current_cart, keep_cart, orders

routes = web.RouteTableDef()
PAGE_SIZE = 50


def _status_filter(request: web.Request) -> str | None:
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise ValidationFailed(_("Unknown status."),
                               errors={"status": _("One of {values}.").format(values=", ".join(STATUSES))})
    return status


async def _list_page(request: web.Request, template: str, view: str) -> web.Response:
    page = query_int(request, "page", 1, minimum=1, maximum=10**5)
    status = _status_filter(request)
    found = await orders(request).list_orders(identity(request), view=view, status=status, limit=PAGE_SIZE + 1,
                                              offset=(page - 1) * PAGE_SIZE)
    return no_store(render_template(template, request, {
        "orders": found[:PAGE_SIZE], "page": page, "has_next": len(found) > PAGE_SIZE, "status": status or "",
        "statuses": STATUSES, "labels": LABELS}))


@routes.get("/orders", name="orders.orders")  # a public page name: ecom/links.py
@login_required
async def my_orders(request: web.Request) -> web.Response:
    return await _list_page(request, "orders/orders.html", "customer")


@routes.get("/seller/orders")
@roles_required("seller")
async def seller_orders(request: web.Request) -> web.Response:
    return await _list_page(request, "orders/seller_orders.html", "seller")


@routes.get("/admin/orders")
@roles_required("admin")
async def admin_orders(request: web.Request) -> web.Response:
    return await _list_page(request, "orders/admin_orders.html", "admin")


@routes.get(f"/orders/{ORDER}", name="orders.order")  # a public page name: ecom/links.py
async def order_page(request: web.Request) -> web.Response:
    if "key" in request.query:  # a guest's signed link (guest_pages.py)
        return await guest_pages.order_page(request)
    return await _order_page(request)


@login_required
async def _order_page(request: web.Request) -> web.Response:
    who = identity(request)
    order = await orders(request).get(who, request.match_info["id"])
    owner = order.customer_id == who.user_id
    await fill(request, "order.sidebar", order={  # the other plugins' panels (invoices...): ecom/slots.py
        "id": order.id, "customer_id": order.customer_id, "status": order.status, "currency": order.currency,
        "total_cents": order.total_cents, "seller_view": order.seller_view, "final": order.final})
    return no_store(render_template("orders/order.html", request, {
        "order": order, "labels": LABELS, "can_cancel": (owner or who.is_admin) and order.cancellable,
        "can_advance": bool(order.next_step) and (who.is_admin or order.seller_view or
                                                  any(ln.seller_id == who.user_id for ln in order.lines)),
        "live": (owner or who.is_admin) and not order.final, "live_texts": live_texts()}))


@routes.post(f"/orders/{ORDER}/cancel")
@login_required
async def cancel(request: web.Request) -> web.Response:
    order_id = request.match_info["id"]
    try:
        order = await orders(request).cancel(identity(request), order_id)
    except Conflict as err:
        await flash(request, err.detail, "danger")
    else:
        message = (_("Order {id} is cancelled. Your payment will be refunded.")
                   if any(h.status == "paid" for h in order.history) else _("Order {id} is cancelled."))
        await flash(request, message.format(id=order.id), "success")
    raise web.HTTPSeeOther(f"/orders/{order_id}")


@routes.post(f"/orders/{ORDER}/again")
@login_required
async def again(request: web.Request) -> web.Response:
    """The customer's order's products back into their cart (after a declined card, or to buy again), then
    on to the checkout; what cannot be added (sold out, withdrawn) is said in a message and the cart shown."""
    who, svc = identity(request), orders(request)
    order = await svc.get(who, request.match_info["id"])
    if order.customer_id != who.user_id:
        raise NotFound(_("No such order."))
    customer_id, items = await current_cart(request)
    problems = []
    for line in order.lines:
        if dict(items).get(line.product_id, 0) >= line.quantity:
            continue
        try:
            items = await svc.carts.change(customer_id, items, line.product_id, line.quantity, add=False)
        except (ValidationFailed, Conflict) as err:
            problems.append(err.detail)
    await keep_cart(request, customer_id, items)
    if problems:
        await flash(request, _("Some items could not go back in your cart: {problems}").format(
            problems=" ".join(problems)), "warning")
        raise web.HTTPSeeOther("/cart")
    await flash(request, _("The items are in your cart again: check out when you are ready."), "success")
    raise web.HTTPSeeOther("/checkout")


@routes.post(f"/orders/{ORDER}/status")
@login_required
async def advance(request: web.Request) -> web.Response:
    """Seller and admin buttons: status (fulfilled, shipped, delivered), next (the page to go back to)."""
    form = await form_data(request)
    order_id = request.match_info["id"]
    back = local_path(form_field(form, "next"), f"/orders/{order_id}")
    try:
        order = await orders(request).advance(identity(request), order_id, form_field(form, "status"))
    except (Conflict, ValidationFailed) as err:
        await flash(request, err.detail, "danger")
    else:
        await flash(request, _("Order {id} is now {status}.").format(id=order.id, status=_(LABELS[order.status]).lower()),
                    "success")
    raise web.HTTPSeeOther(back)
