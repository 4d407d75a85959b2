"""HTTP <-> OrdersService: the JSON API for the cart and orders (bearer token or session cookie).
The live status stream is in stream.py."""
from __future__ import annotations

from aiohttp import web

from ecom.errors import ValidationFailed
from ecom.gateway import identity, login_required
from ecom.inputs import json_object, query_int

from . import checks
from .views import cart_json, current_cart, keep_cart, order_json, orders

routes = web.RouteTableDef()
ORDER = r"{id:ord_[a-z0-9]{20,40}}"
NO_STORE = {"Cache-Control": "no-store"}
MAX_LIMIT = 200


async def _cart_response(request: web.Request, items) -> web.Response:
    cart = await orders(request).carts.view(items)
    return web.json_response(cart_json(cart), headers=NO_STORE)


# ------------------------------------------------------------------ cart (guests too: their cart is in the session)

@routes.get("/api/v1/cart")
async def api_cart(request: web.Request) -> web.Response:
    """-> ``{lines, totals, currency, total_cents, item_count, can_checkout, problem}``"""
    _, items = await current_cart(request)
    return await _cart_response(request, items)


@routes.post("/api/v1/cart/items")
async def api_cart_add(request: web.Request) -> web.Response:
    """``{product_id, quantity, mode?: "add" | "set"}``: add to (default) or set the quantity (1..99) -> the cart."""
    body = await json_object(request)
    mode = body.get("mode", "add")
    if mode not in ("add", "set"):
        raise ValidationFailed('mode must be "add" or "set".', errors={"mode": 'Use "add" or "set".'})
    customer_id, items = await current_cart(request)
    items = await orders(request).carts.change(customer_id, items, body.get("product_id"), body.get("quantity"),
                                              add=mode == "add")
    await keep_cart(request, customer_id, items)
    return await _cart_response(request, items)


@routes.delete(r"/api/v1/cart/items/{product_id:\d{1,19}}")
async def api_cart_remove(request: web.Request) -> web.Response:
    customer_id, items = await current_cart(request)
    items = await orders(request).carts.remove(customer_id, items, int(request.match_info["product_id"]))
    await keep_cart(request, customer_id, items)
    return await _cart_response(request, items)


# ------------------------------------------------------------------ orders

@routes.post("/api/v1/orders")
@login_required
async def api_checkout(request: web.Request) -> web.Response:
    """``{items: [{product_id, quantity}] | from_cart: true, region, payment: {method: "card", card_number,
    exp_month, exp_year, cvc}}``, optional ``Idempotency-Key`` header -> 201 order (a retry with the same
    key and body: the same order, 201, ``Idempotent-Replayed: true``)."""
    svc, who = orders(request), identity(request)
    body = await json_object(request)
    key = checks.idempotency_key(request.headers.get("Idempotency-Key"))
    checkout = svc.parse_checkout(body)
    if checkout.items is None:
        await current_cart(request)  # a guest cart still in the session joins the customer's first
    order, created = await svc.checkout(who.user_id, checkout, key=key,
                                        request_hash=svc.request_hash(body) if key else "")
    headers = {**NO_STORE, "Location": f"/api/v1/orders/{order.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return web.json_response(order_json(order), status=201, headers=headers)


@routes.get("/api/v1/orders")
@login_required
async def api_list(request: web.Request) -> web.Response:
    """``?as=customer|seller|admin&status=&limit=&offset=`` -> ``[order (without history), ...]`` newest first.
    Default view: an admin's is ``admin`` (every order), anyone else's ``customer`` (their own)."""
    who = identity(request)
    view = request.query.get("as") or ("admin" if who.is_admin else "customer")
    found = await orders(request).list_orders(
        who, view=view, status=request.query.get("status") or None,
        limit=query_int(request, "limit", 50, minimum=1, maximum=MAX_LIMIT),
        offset=query_int(request, "offset", 0, minimum=0, maximum=10**6))
    return web.json_response([order_json(o, with_history=False) for o in found], headers=NO_STORE)


@routes.get(f"/api/v1/orders/{ORDER}")
@login_required
async def api_get(request: web.Request) -> web.Response:
    order = await orders(request).get(identity(request), request.match_info["id"])
    return web.json_response(order_json(order), headers=NO_STORE)


@routes.post(f"/api/v1/orders/{ORDER}/cancel")
@login_required
async def api_cancel(request: web.Request) -> web.Response:
    """The customer (or an admin) cancels: 200 order; 409 when its status does not allow it."""
    order = await orders(request).cancel(identity(request), request.match_info["id"])
    return web.json_response(order_json(order), headers=NO_STORE)


@routes.post(f"/api/v1/orders/{ORDER}/status")
@login_required
async def api_status(request: web.Request) -> web.Response:
    """``{status: fulfilled|shipped|delivered}`` (a seller with lines in the order, or an admin) -> 200 order."""
    body = await json_object(request)
    order = await orders(request).advance(identity(request), request.match_info["id"], body.get("status"))
    return web.json_response(order_json(order), headers=NO_STORE)
