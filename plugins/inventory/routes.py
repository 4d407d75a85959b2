"""HTTP <-> the inventory services: the JSON API under /api/v1/inventory (bearer token or session)."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from ecom.errors import NotFound, ValidationFailed
from ecom.gateway import identity, roles_required
from ecom.inputs import form_data, json_object, query_int

from .imports import ImportService
from .keys import IMPORTS, INVENTORY
from .models import MAX_ID, ImportJob, Movement, Reservation, Stock
from .service import InventoryService, actor_name

routes = web.RouteTableDef()
PRODUCT = r"{product_id:\d{1,19}}"
CSV_TYPES = ("text/csv", "application/csv", "text/plain")


def inventory(request: web.Request) -> InventoryService:
    return request.app[INVENTORY]


def imports(request: web.Request) -> ImportService:
    return request.app[IMPORTS]


def path_id(request: web.Request, name: str = "product_id") -> int:
    """A positive bigint from the path (the route's pattern allows digits only); 404 otherwise."""
    value = int(request.match_info[name])
    if not 0 < value <= MAX_ID:
        raise NotFound(f"No {name.replace('_', ' ')} {value}.")
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
    raise web.HTTPUnsupportedMediaType(text="Send the CSV as the body with 'Content-Type: text/csv', or as the "
                                            "'file' field of a multipart/form-data upload.")


def upload_field(form: MultiDictProxy) -> tuple[bytes, str]:
    field = form.get("file")
    if not isinstance(field, web.FileField):
        raise ValidationFailed("Choose a CSV file to upload.", errors={"file": "Choose a CSV file to upload."})
    return field.file.read(), field.filename or ""


@routes.post("/api/v1/inventory/imports")
@roles_required("seller")
async def api_queue_import(request: web.Request) -> web.Response:
    data, filename = await upload(request)
    seller_id = query_int(request, "seller_id", 0, minimum=1, maximum=MAX_ID) or None  # admins only
    job = await imports(request).queue(identity(request), data, filename, seller_id)
    return web.json_response(job_json(job), status=202,
                             headers={"Location": f"/api/v1/inventory/imports/{job.id}"})


@routes.get(r"/api/v1/inventory/imports/{import_id:\d{1,19}}")
@roles_required("seller")
async def api_import(request: web.Request) -> web.Response:
    job = await imports(request).job(identity(request), path_id(request, "import_id"))
    return web.json_response(job_json(job), headers={"Cache-Control": "no-store"})


# --- back-office reservations (admins; the orders plugin calls the service directly) ---

def _items(value: Any) -> list[tuple[Any, Any]]:
    if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
        raise ValidationFailed("items must be a list of {product_id, quantity} objects.",
                               errors={"items": "Give a list of {product_id, quantity} objects."})
    return [(i.get("product_id"), i.get("quantity")) for i in value]


async def _optional_reason(request: web.Request) -> Any:
    return (await json_object(request)).get("reason", "") if request.body_exists else ""


@routes.post("/api/v1/inventory/reservations")
@roles_required("admin")
async def api_reserve(request: web.Request) -> web.Response:
    body = await json_object(request)
    svc = inventory(request)
    rows = await svc.reserve(body.get("order_ref"), _items(body.get("items")), body.get("region"),
                             body.get("ttl_seconds", svc.config.reservation_ttl_seconds),
                             actor=actor_name(identity(request)))
    return web.json_response(reservation_json(rows), status=201)


@routes.get("/api/v1/inventory/reservations/{order_ref}")
@roles_required("admin")
async def api_reservation(request: web.Request) -> web.Response:
    rows = await inventory(request).reservation(request.match_info["order_ref"])
    if not rows:
        raise NotFound("No reservation for this order.")
    return web.json_response(reservation_json(rows))


@routes.post("/api/v1/inventory/reservations/{order_ref}/commit")
@roles_required("admin")
async def api_commit(request: web.Request) -> web.Response:
    rows = await inventory(request).commit(request.match_info["order_ref"], actor=actor_name(identity(request)))
    return web.json_response(reservation_json(rows))


@routes.post("/api/v1/inventory/reservations/{order_ref}/release")
@roles_required("admin")
async def api_release(request: web.Request) -> web.Response:
    rows = await inventory(request).release(request.match_info["order_ref"], await _optional_reason(request),
                                            actor=actor_name(identity(request)))
    return web.json_response(reservation_json(rows))


@routes.post("/api/v1/inventory/reservations/{order_ref}/restock")
@roles_required("admin")
async def api_restock(request: web.Request) -> web.Response:
    rows = await inventory(request).restock(request.match_info["order_ref"], await _optional_reason(request),
                                            actor=actor_name(identity(request)))
    return web.json_response(reservation_json(rows))


# --- stock ---

@routes.get(f"/api/v1/inventory/{PRODUCT}")
async def api_availability(request: web.Request) -> web.Response:
    stock = await inventory(request).public_availability(identity(request), path_id(request))
    return web.json_response([stock_json(s, with_product=False) for s in stock])


@routes.put(f"/api/v1/inventory/{PRODUCT}/{{region}}")
@roles_required("seller")
async def api_set_stock(request: web.Request) -> web.Response:
    body = await json_object(request)
    stock = await inventory(request).set_stock(identity(request), path_id(request), request.match_info["region"],
                                               body.get("quantity"), body.get("reason"))
    return web.json_response(stock_json(stock))


@routes.post(f"/api/v1/inventory/{PRODUCT}/{{region}}/adjustments")
@roles_required("seller")
async def api_adjust(request: web.Request) -> web.Response:
    body = await json_object(request)
    stock = await inventory(request).adjust(identity(request), path_id(request), request.match_info["region"],
                                            body.get("delta"), body.get("reason"))
    return web.json_response(stock_json(stock))


@routes.get(f"/api/v1/inventory/{PRODUCT}/movements")
@roles_required("seller")
async def api_movements(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 100, minimum=1, maximum=1000)
    cursor = query_int(request, "cursor", 0, minimum=1, maximum=MAX_ID) or None
    items = await inventory(request).movements(identity(request), path_id(request), limit + 1, cursor)
    next_cursor = str(items[limit - 1].id) if len(items) > limit else None
    return web.json_response({"items": [movement_json(m) for m in items[:limit]], "next_cursor": next_cursor},
                             headers={"Cache-Control": "no-store"})
