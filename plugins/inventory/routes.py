"""HTTP <-> the inventory services: the JSON API under /api/v1/inventory (bearer token or session)."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from ecom.errors import NotFound, ValidationFailed
from ecom.gateway import identity, roles_required
from ecom.i18n import _
from ecom.inputs import form_data, json_object, query_int
from ecom.openapi import api_schema

from .imports import ImportService
from .keys import IMPORTS, INVENTORY
from .checks import MAX_TTL
from .models import MAX_ID, MAX_ORDER_REF, MAX_QUANTITY, MAX_REASON, MAX_RESERVE, ImportJob, Movement, \
    Reservation, Stock
from .service import InventoryService, actor_name

routes = web.RouteTableDef()
PRODUCT = r"{product_id:\d{1,19}}"
CSV_TYPES = ("text/csv", "application/csv", "text/plain")
# What checks.py checks. A region is one of plugins.inventory.regions; a reason has its runs of spaces
# collapsed before its length is counted.
REGION = {"type": "string", "description": "One of the configured regions (plugins.inventory.regions)."}
REASON = {"type": ["string", "null"], "maxLength": MAX_REASON, "description": "Kept in the movement ledger."}
SET_STOCK = {"type": "object", "required": ["quantity"], "properties": {
    "quantity": {"type": "integer", "minimum": 0, "maximum": MAX_QUANTITY}, "reason": REASON}}
ADJUSTMENT = {"type": "object", "required": ["delta"], "properties": {
    "delta": {"type": "integer", "minimum": -MAX_QUANTITY, "maximum": MAX_QUANTITY}, "reason": REASON}}
RESERVE = {"type": "object", "required": ["order_ref", "items", "region"], "properties": {
    "order_ref": {"type": "string", "minLength": 1, "maxLength": MAX_ORDER_REF,
                  "description": "Printable, no leading or trailing spaces."},
    "items": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {
        "type": "object", "required": ["product_id", "quantity"], "properties": {
            "product_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_RESERVE}}}},
    "region": REGION,
    "ttl_seconds": {"type": "integer", "minimum": 1, "maximum": MAX_TTL,
                    "description": "Default: plugins.inventory.reservation_ttl_seconds."}}}
RELEASE = {"type": "object", "properties": {"reason": REASON}}
STOCK = {"type": "object", "properties": {
    "product_id": {"type": "integer"}, "region": {"type": "string"}, "quantity": {"type": "integer"},
    "reserved": {"type": "integer"}, "available": {"type": "integer"},
    "updated_at": {"type": ["string", "null"], "format": "date-time"}}}
RESERVATION = {"type": "object", "properties": {
    "order_ref": {"type": "string"}, "region": {"type": "string"},
    "status": {"enum": ["held", "committed", "released"]},
    "expires_at": {"type": "string", "format": "date-time"}, "created_at": {"type": "string", "format": "date-time"},
    "items": {"type": "array", "items": {"type": "object", "properties": {
        "product_id": {"type": "integer"}, "quantity": {"type": "integer"}, "status": {"type": "string"},
        "restocked": {"type": "boolean"}}}}}}
IMPORT_JOB = {"type": "object", "properties": {
    "id": {"type": "integer"}, "seller_id": {"type": "integer"}, "status": {"enum": ["queued", "running", "done"]},
    "total": {"type": "integer"}, "applied": {"type": "integer"}, "rejected": {"type": "integer"},
    "filename": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
    "finished_at": {"type": ["string", "null"], "format": "date-time"},
    "rejected_lines": {"type": "array", "items": {"type": "object", "properties": {
        "line": {"type": "integer"}, "error": {"type": "string"}, "sku": {"type": ["string", "null"]},
        "region": {"type": ["string", "null"]}}}},
    "url": {"type": "string"}}}
MOVEMENT = {"type": "object", "properties": {
    "id": {"type": "integer"}, "product_id": {"type": "integer"}, "region": {"type": "string"},
    "quantity_delta": {"type": "integer"}, "reserved_delta": {"type": "integer"},
    "kind": {"enum": ["adjustment", "reservation", "release", "sale", "import"]}, "actor": {"type": "string"},
    "reason": {"type": ["string", "null"]}, "order_ref": {"type": ["string", "null"]},
    "import_id": {"type": ["integer", "null"]}, "created_at": {"type": "string", "format": "date-time"}}}


def inventory(request: web.Request) -> InventoryService:
    return request.app[INVENTORY]


def imports(request: web.Request) -> ImportService:
    return request.app[IMPORTS]


def path_id(request: web.Request, name: str = "product_id") -> int:
    """A positive bigint from the path (the route's pattern allows digits only); 404 otherwise."""
    value = int(request.match_info[name])
    if not 0 < value <= MAX_ID:
        raise NotFound((_("No import {id}.") if name == "import_id" else _("No product {id}.")).format(id=value))
    return value


def stock_json(stock: Stock, *, with_product: bool = True) -> dict[str, Any]:
    out = {"region": stock.region, "quantity": stock.quantity, "reserved": stock.reserved,
           "available": stock.available}
    if with_product:
        out = {"product_id": stock.product_id, **out,
               "updated_at": stock.updated_at.isoformat() if stock.updated_at else None}
    return out


def movement_json(m: Movement) -> dict[str, Any]:
    return {"id": m.id, "product_id": m.product_id, "region": m.region, "quantity_delta": m.quantity_delta,
            "reserved_delta": m.reserved_delta, "kind": m.kind, "actor": m.actor, "reason": m.reason,
            "order_ref": m.order_ref, "import_id": m.import_id, "created_at": m.created_at.isoformat()}


def job_json(job: ImportJob) -> dict[str, Any]:
    return {"id": job.id, "seller_id": job.seller_id, "status": job.status, "total": job.total,
            "applied": job.applied, "rejected": job.rejected, "filename": job.filename,
            "created_at": job.created_at.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
            "rejected_lines": [{"line": r.line_no, "error": r.error, "sku": r.sku, "region": r.region}
                               for r in job.rejected_lines],
            "url": f"/seller/inventory/imports/{job.id}"}


def reservation_json(rows: list[Reservation]) -> dict[str, Any]:
    first = rows[0]
    return {"order_ref": first.order_ref, "region": first.region, "status": first.status,
            "expires_at": first.expires_at.isoformat(), "created_at": first.created_at.isoformat(),
            "items": [{"product_id": r.product_id, "quantity": r.quantity, "status": r.status,
                       "restocked": r.restocked} for r in rows]}


# --- imports (before the /{product_id} routes; their pattern takes digits only anyway) ---

async def upload(request: web.Request) -> tuple[bytes, str]:
    """A CSV sent as the whole body (text/csv) or as the ``file`` field of a multipart form."""
    if request.content_type in CSV_TYPES:
        return await request.read(), ""
    if request.content_type == "multipart/form-data":
        return upload_field(await form_data(request))
    raise web.HTTPUnsupportedMediaType(text=_("Send the CSV as the body with 'Content-Type: text/csv', or as the "
                                              "'file' field of a multipart/form-data upload."))


def upload_field(form: MultiDictProxy) -> tuple[bytes, str]:
    field = form.get("file")
    if not isinstance(field, web.FileField):
        message = _("Choose a CSV file to upload.")
        raise ValidationFailed(message, errors={"file": message})
    return field.file.read(), field.filename or ""


@routes.post("/api/v1/inventory/imports")
@api_schema(response=IMPORT_JOB, status=202, query={
    "seller_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": "Admins: whose stock."}})
@roles_required("seller")
async def api_queue_import(request: web.Request) -> web.Response:
    """Queue a CSV stock import for the caller's products (sellers; admins may name another seller).

    ``?seller_id=`` (admins only). The body is the CSV (``sku,region,quantity`` header; Content-Type text/csv) or the ``file`` field of a
    multipart form -> 202 import job with a ``Location``; its good lines are applied in the background.
    415 for another content type, 422 for a file that cannot be read at all (bad lines are only rejected)."""
    data, filename = await upload(request)
    seller_id = query_int(request, "seller_id", 0, minimum=1, maximum=MAX_ID) or None  # admins only
    job = await imports(request).queue(identity(request), data, filename, seller_id)
    return web.json_response(job_json(job), status=202,
                             headers={"Location": f"/api/v1/inventory/imports/{job.id}"})


@routes.get(r"/api/v1/inventory/imports/{import_id:\d{1,19}}")
@api_schema(response=IMPORT_JOB)
@roles_required("seller")
async def api_import(request: web.Request) -> web.Response:
    """One stock import's progress and rejected lines (its seller or an admin, else 404)."""
    job = await imports(request).job(identity(request), path_id(request, "import_id"))
    return web.json_response(job_json(job), headers={"Cache-Control": "no-store"})


# --- back-office reservations (admins; the orders plugin calls the service directly) ---

def _items(value: Any) -> list[tuple[Any, Any]]:
    if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
        raise ValidationFailed(_("items must be a list of {product_id, quantity} objects."),
                               errors={"items": _("Give a list of {product_id, quantity} objects.")})
    return [(i.get("product_id"), i.get("quantity")) for i in value]


async def _optional_reason(request: web.Request) -> Any:
    return (await json_object(request)).get("reason", "") if request.body_exists else ""


@routes.post("/api/v1/inventory/reservations")
@api_schema(request=RESERVE, response=RESERVATION, status=201)
@roles_required("admin")
async def api_reserve(request: web.Request) -> web.Response:
    """Hold stock for an order, all or nothing (admins).

    ``{order_ref, items: [{product_id, quantity}], region, ttl_seconds?}`` -> 201 reservation; the same
    ``order_ref`` again returns the existing one. Repeated product ids are summed (at most 10 000 units
    each). 409 when a product is short (nothing is held then), 422 for a bad field."""
    body = await json_object(request)
    svc = inventory(request)
    rows = await svc.reserve(body.get("order_ref"), _items(body.get("items")), body.get("region"),
                             body.get("ttl_seconds", svc.config.reservation_ttl_seconds),
                             actor=actor_name(identity(request)))
    return web.json_response(reservation_json(rows), status=201)


@routes.get("/api/v1/inventory/reservations/{order_ref}")
@api_schema(response=RESERVATION, errors=(422,))  # an order_ref that is not printable text
@roles_required("admin")
async def api_reservation(request: web.Request) -> web.Response:
    """The reservation of an order (admins); 404 when there is none."""
    rows = await inventory(request).reservation(request.match_info["order_ref"])
    if not rows:
        raise NotFound(_("No reservation for this order."))
    return web.json_response(reservation_json(rows))


@routes.post("/api/v1/inventory/reservations/{order_ref}/commit")
@api_schema(response=RESERVATION, status=200)
@roles_required("admin")
async def api_commit(request: web.Request) -> web.Response:
    """Commit a held reservation: the units are sold (admins; no body).

    -> 200 reservation (again: the same). 404 for an unknown order_ref, 409 when it was released or expired."""
    rows = await inventory(request).commit(request.match_info["order_ref"], actor=actor_name(identity(request)))
    return web.json_response(reservation_json(rows))


@routes.post("/api/v1/inventory/reservations/{order_ref}/release")
@api_schema(request=RELEASE, response=RESERVATION, status=200, body_required=False)
@roles_required("admin")
async def api_release(request: web.Request) -> web.Response:
    """Release a held reservation: its units are available again (admins).

    Optional body ``{reason}`` -> 200 reservation (again: the same). 404 for an unknown order_ref, 409 when
    it was committed (restock it instead)."""
    rows = await inventory(request).release(request.match_info["order_ref"], await _optional_reason(request),
                                            actor=actor_name(identity(request)))
    return web.json_response(reservation_json(rows))


@routes.post("/api/v1/inventory/reservations/{order_ref}/restock")
@api_schema(request=RELEASE, response=RESERVATION, status=200, body_required=False)
@roles_required("admin")
async def api_restock(request: web.Request) -> web.Response:
    """Put a committed reservation's units back in stock, as for a refund (admins).

    Optional body ``{reason}`` -> 200 reservation (again: the same, nothing added twice)."""
    rows = await inventory(request).restock(request.match_info["order_ref"], await _optional_reason(request),
                                            actor=actor_name(identity(request)))
    return web.json_response(reservation_json(rows))


# --- stock ---

@routes.get(f"/api/v1/inventory/{PRODUCT}")
@api_schema(response={"type": "array", "items": STOCK})
async def api_availability(request: web.Request) -> web.Response:
    """A product's stock in every region (anyone who may see the product, else 404).

    -> ``[{region, quantity, reserved, available}, ...]`` in the configured region order."""
    stock = await inventory(request).public_availability(identity(request), path_id(request))
    return web.json_response([stock_json(s, with_product=False) for s in stock])


@routes.put(f"/api/v1/inventory/{PRODUCT}/{{region}}")
@api_schema(request=SET_STOCK, response=STOCK)
@roles_required("seller")
async def api_set_stock(request: web.Request) -> web.Response:
    """Set a product's stock in a region (its seller or an admin).

    ``{quantity, reason?}`` -> the stock. 404 for another seller's product, 422 for a bad field or an
    unknown region, 409 when the quantity would be below the units reserved by open orders."""
    body = await json_object(request)
    stock = await inventory(request).set_stock(identity(request), path_id(request), request.match_info["region"],
                                               body.get("quantity"), body.get("reason"))
    return web.json_response(stock_json(stock))


@routes.post(f"/api/v1/inventory/{PRODUCT}/{{region}}/adjustments")
@api_schema(request=ADJUSTMENT, response=STOCK, status=200)
@roles_required("seller")
async def api_adjust(request: web.Request) -> web.Response:
    """Add units to a product's stock in a region, or take some away with a negative delta.

    Its seller or an admin. ``{delta, reason?}`` -> 200 stock. 404 for another seller's product, 422 for a bad
    field or an unknown region, 409 when the stock would go below 0, above the maximum or below the reserved
    units."""
    body = await json_object(request)
    stock = await inventory(request).adjust(identity(request), path_id(request), request.match_info["region"],
                                            body.get("delta"), body.get("reason"))
    return web.json_response(stock_json(stock))


@routes.get(f"/api/v1/inventory/{PRODUCT}/movements")
@api_schema(response={"type": "object", "properties": {"items": {"type": "array", "items": MOVEMENT},
                                                       "next_cursor": {"type": ["string", "null"]}}}, query={
    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    "cursor": {"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": "next_cursor of the last page."}})
@roles_required("seller")
async def api_movements(request: web.Request) -> web.Response:
    """A product's stock ledger, newest first (its seller or an admin; another seller's: 404).

    ``?limit=1..1000&cursor=`` -> ``{items: [movement, ...], next_cursor}``."""
    limit = query_int(request, "limit", 100, minimum=1, maximum=1000)
    cursor = query_int(request, "cursor", 0, minimum=1, maximum=MAX_ID) or None
    items = await inventory(request).movements(identity(request), path_id(request), limit + 1, cursor)
    next_cursor = str(items[limit - 1].id) if len(items) > limit else None
    return web.json_response({"items": [movement_json(m) for m in items[:limit]], "next_cursor": next_cursor},
                             headers={"Cache-Control": "no-store"})
