"""/api/v1/webhooks (register, list, remove, re-enable endpoints; their delivery log; redelivery; inbound
secrets) and the inbound stock webhook ``POST /api/v1/inventory/stock-webhook`` (see inbound.py)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ecom.errors import Unauthorized, ValidationFailed
from ecom.gateway import identity, roles_required
from ecom.i18n import _
from ecom.inputs import json_object
from ecom.openapi import api_schema

from . import inbound
from .keys import WEBHOOKS

routes = web.RouteTableDef()
MAX_ID = 2**63 - 1
ENDPOINT = {"type": "object", "properties": {
    "id": {"type": "integer"}, "url": {"type": "string"}, "description": {"type": "string"},
    "event_types": {"type": "array", "items": {"type": "string"}}, "scope": {"enum": ["admin", "seller"]},
    "enabled": {"type": "boolean"}, "disabled_reason": {"type": ["string", "null"]},
    "consecutive_failures": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"},
    "secret": {"type": "string", "description": "whsec_...: only in the answer to POST (shown once)."}}}
REGISTER = {"type": "object", "required": ["url", "event_types"], "properties": {
    "url": {"type": "string", "maxLength": 2000, "description": "https:// (see docs/operations.md, Webhooks)."},
    "event_types": {"type": "array", "minItems": 1, "items": {"type": "string"}},
    "description": {"type": "string", "maxLength": 200}}}
ATTEMPT = {"type": "object", "properties": {
    "at": {"type": "string", "format": "date-time"}, "status_code": {"type": ["integer", "null"]},
    "latency_ms": {"type": "integer"}, "error": {"type": ["string", "null"]}, "manual": {"type": "boolean"}}}
DELIVERY = {"type": "object", "properties": {
    "id": {"type": "integer"}, "event_id": {"type": "string"}, "event_type": {"type": "string"},
    "status": {"enum": ["pending", "delivered", "failed"]}, "attempts": {"type": "integer"},
    "next_attempt_at": {"type": "string", "format": "date-time"}, "last_status": {"type": ["integer", "null"]},
    "last_error": {"type": ["string", "null"]}, "log": {"type": "array", "items": ATTEMPT}}}
EMPTY = {"type": "object", "description": "No body needed."}
INBOUND = {"type": "object", "required": ["seller_id"], "properties": {
    "seller_id": {"type": "integer", "minimum": 1}, "description": {"type": "string", "maxLength": 200}}}
STOCK_PUSH = {"type": "object", "required": ["items"], "properties": {"items": {
    "type": "array", "minItems": 1, "maxItems": inbound.MAX_ITEMS, "items": {
        "type": "object", "required": ["sku", "region", "quantity"], "properties": {
            "sku": {"type": "string"}, "region": {"type": "string"}, "quantity": {"type": "integer", "minimum": 0}}}}}}


def _json(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return str(value) if value.__class__.__name__ == "UUID" else value


def endpoint_json(row) -> dict[str, Any]:
    return _json({k: row[k] for k in ("id", "url", "description", "event_types", "scope", "enabled",
                                      "disabled_reason", "consecutive_failures", "created_at")})


def path_id(request: web.Request, name: str = "id") -> int:
    value = int(request.match_info[name])
    if value > MAX_ID:
        raise web.HTTPNotFound()
    return value


@routes.get("/api/v1/webhooks/event-types")
@api_schema(response={"type": "array", "items": {"type": "string"}})
@roles_required("seller")
async def api_event_types(request: web.Request) -> web.Response:
    """The event types the caller may subscribe to (admins: every one; sellers: those about their data)."""
    return web.json_response(request.app[WEBHOOKS].allowed_types(identity(request)))


@routes.get("/api/v1/webhooks")
@api_schema(response={"type": "array", "items": ENDPOINT})
@roles_required("seller")
async def api_list(request: web.Request) -> web.Response:
    """The caller's webhook endpoints (admins: every endpoint), newest first."""
    rows = await request.app[WEBHOOKS].endpoints(identity(request))
    return web.json_response([endpoint_json(r) for r in rows], headers={"Cache-Control": "no-store"})


@routes.post("/api/v1/webhooks")
@api_schema(request=REGISTER, response=ENDPOINT, status=201)
@roles_required("seller")
async def api_register(request: web.Request) -> web.Response:
    """Register a webhook endpoint for chosen event types; the answer holds its signing secret, shown once.

    ``{url, event_types: [...], description?}`` -> 201 endpoint with ``secret``. 422 for a URL the shop
    may not call (not https, a private address) or an event type the caller may not choose."""
    body = await json_object(request)
    types = body.get("event_types")
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types) or not isinstance(body.get("url"), str):
        raise ValidationFailed(_("Send url (text) and event_types (a list of names)."),
                               errors={"event_types": _("Give a list of event type names.")})
    description = body.get("description", "")
    row, secret = await request.app[WEBHOOKS].register(identity(request), body["url"], types,
                                                       description if isinstance(description, str) else "")
    return web.json_response({**endpoint_json(row), "secret": secret}, status=201,
                             headers={"Location": f"/api/v1/webhooks/{row['id']}", "Cache-Control": "no-store"})


@routes.delete(r"/api/v1/webhooks/{id:\d{1,19}}")
@api_schema(status=204)
@roles_required("seller")
async def api_remove(request: web.Request) -> web.Response:
    """Remove a webhook endpoint and its delivery log (its owner or an admin, else 404)."""
    await request.app[WEBHOOKS].remove(identity(request), path_id(request))
    return web.Response(status=204)


@routes.post(r"/api/v1/webhooks/{id:\d{1,19}}/enable")
@api_schema(request=EMPTY, body_required=False, status=204)
@roles_required("seller")
async def api_enable(request: web.Request) -> web.Response:
    """Re-enable a disabled webhook endpoint: its pending deliveries resume (its owner or an admin)."""
    await request.app[WEBHOOKS].enable(identity(request), path_id(request))
    return web.Response(status=204)


@routes.get(r"/api/v1/webhooks/{id:\d{1,19}}/deliveries")
@api_schema(response={"type": "array", "items": DELIVERY})
@roles_required("seller")
async def api_deliveries(request: web.Request) -> web.Response:
    """The newest deliveries of an endpoint with every attempt (status code, latency, error)."""
    rows = await request.app[WEBHOOKS].deliveries(identity(request), path_id(request))
    return web.json_response(_json(rows), headers={"Cache-Control": "no-store"})


@routes.post(r"/api/v1/webhooks/deliveries/{id:\d{1,19}}/redeliver")
@api_schema(request=EMPTY, body_required=False, status=202)
@roles_required("seller")
async def api_redeliver(request: web.Request) -> web.Response:
    """Send a delivery again now (whatever its status), with a fresh day of retries."""
    await request.app[WEBHOOKS].redeliver(identity(request), path_id(request))
    return web.json_response({"status": "pending"}, status=202)


@routes.post("/api/v1/webhooks/inbound-secrets")
@api_schema(request=INBOUND, response={"type": "object", "properties": {
    "id": {"type": "integer"}, "seller_id": {"type": "integer"}, "secret": {"type": "string"}}}, status=201)
@roles_required("admin")
async def api_add_inbound(request: web.Request) -> web.Response:
    """Create a secret an ERP signs stock pushes with, for one seller's catalog (admins; shown once)."""
    body = await json_object(request)
    seller_id = body.get("seller_id")
    if not isinstance(seller_id, int) or not 1 <= seller_id <= MAX_ID:
        raise ValidationFailed(_("seller_id must be a user id."), errors={"seller_id": _("a user id")})
    description = body.get("description", "")
    secret_id, secret = await request.app[WEBHOOKS].add_inbound(
        identity(request), seller_id, description if isinstance(description, str) else "")
    return web.json_response({"id": secret_id, "seller_id": seller_id, "secret": secret}, status=201,
                             headers={"Cache-Control": "no-store"})


@routes.post("/api/v1/inventory/stock-webhook")
@api_schema(request=STOCK_PUSH, status=202, errors=(401, 503), response={"type": "object", "properties": {
    "import_id": {"type": "integer"}, "total": {"type": "integer"}, "rejected": {"type": "integer"}}})
async def api_stock_webhook(request: web.Request) -> web.Response:
    """Stock levels pushed by an ERP, signed per Standard Webhooks with an inbound secret.

    Headers ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``; body ``{items: [{sku, region,
    quantity}]}`` -> 202 with the queued import (the same path as a CSV upload). 401 for a missing or
    wrong signature or a stale timestamp."""
    from plugins.inventory.keys import IMPORTS  # inventory is optional for webhooks: looked up when used
    body = await request.read()
    found = await request.app[WEBHOOKS].inbound_seller(request.headers.get("webhook-id", ""),
                                                      request.headers.get("webhook-timestamp", ""),
                                                      request.headers.get("webhook-signature", ""), body)
    if found is None:
        raise Unauthorized(_("Missing or wrong webhook signature."))
    if IMPORTS not in request.app:
        raise web.HTTPServiceUnavailable(text=_("Stock is not kept by this shop."))
    secret_id, seller_id = found
    data = inbound.items_to_csv(await json_object(request))
    job = await request.app[IMPORTS].queue(inbound.seller_identity(seller_id, secret_id), data,
                                           f"webhook {request.headers['webhook-id']}"[:200], seller_id)
    return web.json_response({"import_id": job.id, "total": job.total, "rejected": job.rejected}, status=202)
