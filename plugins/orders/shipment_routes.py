"""HTTP <-> the shipments of an order (shipments.py): the API and the seller's and admin's page buttons.

A shipment is addressed as ``/orders/{order id}/shipments/{n}`` (n: 1, 2, ... in the order). Moving one
is for its seller or an admin (a customer: 403; another seller: 404); refunding one is theirs too, and
the order's customer's while it is still pending.
"""
from __future__ import annotations

from aiohttp import web

from ecom.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ecom.gateway import identity, login_required
from ecom.gateway.flash import flash
from ecom.inputs import form_data, form_field, json_object, local_path
from ecom.openapi import api_schema

from .routes import NO_STORE, ORDER
from .schemas import ORDER as ORDER_SCHEMA
from .views import order_json, orders

routes = web.RouteTableDef()
SHIPMENT = ORDER + r"/shipments/{n:\d{1,3}}"
STEP = {"type": "object", "required": ["status"], "properties": {
    "status": {"enum": ["fulfilled", "shipped", "delivered"]},
    "carrier": {"type": "string", "maxLength": 100, "description": "Required to mark it shipped."},
    "tracking_number": {"type": "string", "maxLength": 100, "description": "Required to mark it shipped."}}}
REFUND = {"type": "object", "properties": {
    "note": {"type": "string", "maxLength": 200, "description": "Why (optional): kept in the shipment's history."}}}
MESSAGES = {"moved": "Shipment {n} of order {id} is now {status}.",
            "refunded": "Shipment {n} of order {id} is refunded; its items are back in stock."}


@routes.post(f"/api/v1/orders/{SHIPMENT}/status")
@api_schema(request=STEP, status=200, errors=(403,), response=ORDER_SCHEMA)
@login_required
async def api_move(request: web.Request) -> web.Response:
    """Move one shipment of an order one step on.

    ``{status: fulfilled | shipped | delivered, carrier, tracking_number}`` (shipped needs both). Its seller or an admin -> 200 order (a seller's view: their lines and shipments); a customer 403,
    another seller 404; 409 for a step out of order; 422 naming a missing carrier or tracking number."""
    body = await json_object(request)
    order = await orders(request).move_shipment(identity(request), request.match_info["id"], request.match_info["n"],
                                                body.get("status"), carrier=body.get("carrier"),
                                                tracking_number=body.get("tracking_number"))
    return web.json_response(order_json(order), headers=NO_STORE)


@routes.post(f"/api/v1/orders/{SHIPMENT}/refund")
@api_schema(request=REFUND, status=200, body_required=False, errors=(403,), response=ORDER_SCHEMA)
@login_required
async def api_refund(request: web.Request) -> web.Response:
    """Cancel and refund one shipment of a paid order.

    Its lines, shipping and tax go back to the card (RefundRequested with refund_ref ``shipment-<n>``), its
    stock is put back. Its seller or an admin at any step, the order's customer while it is pending -> 200 order; 409 when
    the order is not paid or the shipment is refunded already."""
    body = await json_object(request) if request.can_read_body else {}
    order = await orders(request).refund_shipment(identity(request), request.match_info["id"], request.match_info["n"],
                                                  note=body.get("note"))
    return web.json_response(order_json(order), headers=NO_STORE)


@routes.post(f"/orders/{SHIPMENT}/status")
@login_required
async def page_move(request: web.Request) -> web.Response:
    """The seller's and admin's step button (status, carrier, tracking_number, next: the page to go back to)."""
    form = await form_data(request)
    order_id, n = request.match_info["id"], request.match_info["n"]
    back = local_path(form_field(form, "next"), f"/orders/{order_id}")
    try:
        await orders(request).move_shipment(identity(request), order_id, n, form_field(form, "status"),
                                            carrier=form_field(form, "carrier"),
                                            tracking_number=form_field(form, "tracking_number"))
    except (Conflict, ValidationFailed, Forbidden, NotFound) as err:
        await flash(request, err.detail, "danger")
    else:
        await flash(request, MESSAGES["moved"].format(n=n, id=order_id, status=form_field(form, "status")), "success")
    raise web.HTTPSeeOther(back)


@routes.post(f"/orders/{SHIPMENT}/refund")
@login_required
async def page_refund(request: web.Request) -> web.Response:
    form = await form_data(request)
    order_id, n = request.match_info["id"], request.match_info["n"]
    back = local_path(form_field(form, "next"), f"/orders/{order_id}")
    try:
        await orders(request).refund_shipment(identity(request), order_id, n)
    except (Conflict, Forbidden, NotFound) as err:
        await flash(request, err.detail, "danger")
    else:
        await flash(request, MESSAGES["refunded"].format(n=n, id=order_id), "success")
    raise web.HTTPSeeOther(back)
