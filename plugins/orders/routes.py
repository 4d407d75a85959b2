"""HTTP <-> OrdersService: the JSON API for the cart and orders (bearer token or session cookie).
The live status stream is in stream.py."""
from __future__ import annotations

from aiohttp import web

from ecom.errors import ValidationFailed
from ecom.gateway import identity, login_required
from ecom.i18n import _
from ecom.inputs import json_object, query_int
from ecom.openapi import api_schema

from . import checks
from .models import STATUSES
from .schemas import ORDER as ORDER_SCHEMA, ORDER_LIST
from .views import cart_json, current_cart, keep_cart, order_json, orders

routes = web.RouteTableDef()
ORDER = r"{id:ord_[a-z0-9]{20,40}}"
NO_STORE = {"Cache-Control": "no-store"}
MAX_LIMIT = 200
ID = {"type": "integer", "minimum": 1}
CART_ITEM = {"type": "object", "required": ["product_id", "quantity"], "properties": {
    "product_id": ID, "quantity": {"type": "integer", "minimum": 1, "maximum": 99},
    "mode": {"enum": ["add", "set"], "default": "add"}}}
ADDRESS = {"type": "object", "description": "An address (see /api/v1/addresses): name, company, line1, line2, city, "
           "region, postal_code, country (ISO 3166-1 alpha-2), phone.", "properties": {
    k: {"type": "string"} for k in ("name", "company", "line1", "line2", "city", "region", "postal_code", "country",
                                    "phone")}}
DESTINATION = {"ship_to": ADDRESS, "ship_to_address_id": ID, "bill_to": ADDRESS, "bill_to_address_id": ID,
               "shipping_method": {"type": "string", "default": "standard"},
               "voucher": {"type": "string", "maxLength": 32}}
CHECKOUT = {"type": "object", "required": ["payment"], "properties": {
    **DESTINATION, "email": {"type": "string", "format": "email", "description": "Required for guests."},
    "items": {"type": "array", "minItems": 1, "maxItems": 50, "items": {
        "type": "object", "required": ["product_id", "quantity"],
        "properties": {"product_id": ID, "quantity": {"type": "integer", "minimum": 1, "maximum": 99}}}},
    "from_cart": {"type": "boolean"}, "region": {"type": "string", "deprecated": True},
    "payment": {"type": "object", "required": ["card_number", "exp_month", "exp_year", "cvc"], "properties": {
        "method": {"const": "card"}, "card_number": {"type": "string"}, "exp_month": {"type": ["integer", "string"]},
        "exp_year": {"type": ["integer", "string"]}, "cvc": {"type": "string"}}}}}


async def _cart_response(request: web.Request, items) -> web.Response:
    cart = await orders(request).carts.view(items)
    return web.json_response(cart_json(cart), headers=NO_STORE)


# ------------------------------------------------------------------ cart (guests too: their cart is in the session)

@routes.get("/api/v1/cart")
async def api_cart(request: web.Request) -> web.Response:
    """The caller's cart (a guest's lives in the session).

    -> ``{lines, totals, currency, total_cents, item_count, can_checkout, problem}``"""
    _customer, items = await current_cart(request)
    return await _cart_response(request, items)


@routes.post("/api/v1/cart/items")
@api_schema(request=CART_ITEM, status=200)
async def api_cart_add(request: web.Request) -> web.Response:
    """Put a product in the cart.

    ``{product_id, quantity, mode?: "add" | "set"}``: add to (default) or set its quantity (1..99) -> the cart.
    409 when more is asked than any region has."""
    body = await json_object(request)
    mode = body.get("mode", "add")
    if mode not in ("add", "set"):
        raise ValidationFailed(_('mode must be "add" or "set".'), errors={"mode": _('Use "add" or "set".')})
    customer_id, items = await current_cart(request)
    items = await orders(request).carts.change(customer_id, items, body.get("product_id"), body.get("quantity"),
                                              add=mode == "add")
    await keep_cart(request, customer_id, items)
    return await _cart_response(request, items)


@routes.delete(r"/api/v1/cart/items/{product_id:\d{1,19}}")
@api_schema(status=200)
async def api_cart_remove(request: web.Request) -> web.Response:
    """Take a product out of the cart -> the cart."""
    customer_id, items = await current_cart(request)
    items = await orders(request).carts.remove(customer_id, items, int(request.match_info["product_id"]))
    await keep_cart(request, customer_id, items)
    return await _cart_response(request, items)


# ------------------------------------------------------------------ orders

@routes.post("/api/v1/orders")
@api_schema(request=CHECKOUT, status=201, response=ORDER_SCHEMA)
async def api_checkout(request: web.Request) -> web.Response:
    """Check out (customers, or guests with an email): reserve per shipment, place, request the payment.

    ``{items: [{product_id, quantity}] | from_cart: true, ship_to: {...} | ship_to_address_id, bill_to?,
    email (guests), voucher?, shipping_method?, payment: {method: "card", card_number, exp_month, exp_year,
    cvc}}`` (``region`` is accepted and ignored: the shop decides where stock ships from), optional
    ``Idempotency-Key`` header -> 201 order (a guest's also has ``follow_url``,
    the signed link to follow it). A retry with the same key and body: the same order, 201,
    ``Idempotent-Replayed: true``; another body: 422. 409 when stock is short or the voucher is used up,
    422 for a bad address, card, voucher, or a product that cannot ship there (nothing reserved then)."""
    svc, who = orders(request), identity(request)
    body = await json_object(request)
    key = checks.idempotency_key(request.headers.get("Idempotency-Key"))
    checkout = svc.parse_checkout(body)
    _customer, cart = await current_cart(request) if checkout.items is None else (None, [])
    order, created = await svc.checkout(who.user_id if who else None, checkout, key=key,
                                        request_hash=svc.request_hash(body) if key else "",
                                        email=who.email if who else None, guest_cart=tuple(cart))
    if who is None and checkout.items is None:
        await keep_cart(request, None, [])  # the guest's cart became the order
    headers = {**NO_STORE, "Location": f"/api/v1/orders/{order.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    out = order_json(order)
    if who is None:
        out["follow_url"] = svc.guests.url(order.id)
    return web.json_response(out, status=201, headers=headers)


@routes.post("/api/v1/cart/quote")
@api_schema(request={"type": "object", "properties": DESTINATION}, status=200)
async def api_cart_quote(request: web.Request) -> web.Response:
    """What the cart costs delivered somewhere (guests too), nothing reserved or redeemed.

    ``{ship_to | ship_to_address_id, shipping_method?, voucher?}`` -> ``{currency, subtotal_cents,
    discount_cents, shipping_cents, tax_cents, total_cents, prices_include_tax, voucher, taxes: [{name,
    rate_bp, base_cents, tax_cents}], shipments: [{shipment_no, seller_id, region, method,
    shipping_cents, lines: [...]}]}``; 422 naming the field (``ship_to.postal_code``, ``voucher``,
    ``items`` for a product that cannot ship there), 409 when stock is short."""
    svc, who = orders(request), identity(request)
    destination = checks.quote(await json_object(request))
    customer_id, items = await current_cart(request)
    buyer = f"customer:{customer_id}" if customer_id is not None else ""  # a guest: not known yet
    breakdown = await svc.quoter.quote(customer_id, buyer, tuple(items), destination)
    return web.json_response(breakdown.as_json(), headers=NO_STORE)


@routes.get("/api/v1/orders")
@api_schema(status=200, errors=(403,), response=ORDER_LIST, query={
    "as": {"enum": ["customer", "seller", "admin"], "description": "Whose orders (seller and admin need the role)."},
    "status": {"enum": list(STATUSES), "description": "The order's status (once paid, derived from its shipments: "
               "partially_shipped, partially_delivered, partially_refunded, refunded ...)."},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
    "offset": {"type": "integer", "minimum": 0, "maximum": 10**6, "default": 0}})
@login_required
async def api_list(request: web.Request) -> web.Response:
    """Orders newest first: a customer's own, a seller's (their lines only) or all (admins).

    ``?as=customer|seller|admin&status=&limit=&offset=`` -> ``[order (without history), ...]``. Default
    view: an admin's is ``admin`` (every order), anyone else's ``customer`` (their own)."""
    who = identity(request)
    view = request.query.get("as") or ("admin" if who.is_admin else "customer")
    found = await orders(request).list_orders(
        who, view=view, status=request.query.get("status") or None,
        limit=query_int(request, "limit", 50, minimum=1, maximum=MAX_LIMIT),
        offset=query_int(request, "offset", 0, minimum=0, maximum=10**6))
    return web.json_response([order_json(o, with_history=False) for o in found], headers=NO_STORE)


@routes.get(f"/api/v1/orders/{ORDER}")
@api_schema(response=ORDER_SCHEMA)
@login_required
async def api_get(request: web.Request) -> web.Response:
    """One order: its customer and admins see all of it, a seller with lines in it only those (else 404)."""
    order = await orders(request).get(identity(request), request.match_info["id"])
    return web.json_response(order_json(order), headers=NO_STORE)


@routes.post(f"/api/v1/orders/{ORDER}/cancel")
@api_schema(status=200, response=ORDER_SCHEMA)
@login_required
async def api_cancel(request: web.Request) -> web.Response:
    """Cancel an order (its customer or an admin); a paid one is refunded.

    -> 200 order; 409 when its status does not allow it."""
    order = await orders(request).cancel(identity(request), request.match_info["id"])
    return web.json_response(order_json(order), headers=NO_STORE)


@routes.post(f"/api/v1/orders/{ORDER}/status")
@api_schema(request={"type": "object", "required": ["status"], "properties": {
    "status": {"enum": ["fulfilled", "shipped", "delivered"]}}}, status=200, response=ORDER_SCHEMA)
@login_required
async def api_status(request: web.Request) -> web.Response:
    """Move a paid order on: fulfilled, shipped, delivered (its sellers and admins).

    ``{status}`` -> 200 order; 409 for a step out of order."""
    body = await json_object(request)
    order = await orders(request).advance(identity(request), request.match_info["id"], body.get("status"))
    return web.json_response(order_json(order), headers=NO_STORE)
