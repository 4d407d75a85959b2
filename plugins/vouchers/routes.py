"""HTTP <-> VouchersService: the JSON API under /api/v1/vouchers (admins: every code; sellers: their own)."""
from __future__ import annotations

from typing import Any, Mapping

from aiohttp import web

from ecom.errors import Forbidden, NotFound, ValidationFailed
from ecom.gateway import Identity, identity, roles_required
from ecom.inputs import json_object, query_int
from ecom.openapi import api_schema

from .checks import MAX_AMOUNT, MAX_CATEGORY, MAX_USES
from .keys import VOUCHERS
from .model import KINDS, Usage, Voucher, message
from .service import VouchersService

routes = web.RouteTableDef()
VOUCHER_ID = r"{voucher_id:\d{1,19}}"
MAX_ID = 2**63 - 1
MAX_LIMIT = 200
WHEN = {"type": ["string", "null"], "format": "date-time"}
COUNT = {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_USES, "description": "null = unlimited"}
NEW_VOUCHER = {"type": "object", "required": ["code", "kind"], "additionalProperties": False, "properties": {
    "code": {"type": "string", "pattern": "^[A-Za-z0-9_-]{3,32}$", "description": "Case-insensitive, stored upper case."},
    "kind": {"enum": list(KINDS)},
    "percent": {"type": ["integer", "null"], "minimum": 1, "maximum": 100, "description": "percent vouchers"},
    "amount_cents": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_AMOUNT, "description": "fixed vouchers"},
    "currency": {"type": ["string", "null"], "pattern": "^[A-Za-z]{3}$",
                 "description": "Needed by fixed vouchers and a minimum spend; null = any currency."},
    "min_spend_cents": {"type": "integer", "minimum": 0, "maximum": MAX_AMOUNT, "default": 0,
                        "description": "Compared with the lines the voucher applies to."},
    "starts_at": WHEN, "ends_at": WHEN, "max_uses": COUNT, "max_uses_per_customer": COUNT,
    "seller_id": {"type": ["integer", "null"], "minimum": 1,
                  "description": "Sellers: omit it or give their own id; admins create shop-wide codes only."},
    "category": {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_CATEGORY,
                 "description": "A product type (case-insensitive); null = any."},
    "active": {"type": "boolean", "default": True}}}
PATCH_VOUCHER = {"type": "object", "minProperties": 1, "additionalProperties": False, "properties": {
    "active": {"type": "boolean"}, "ends_at": WHEN, "max_uses": COUNT}}
VOUCHER = {"type": "object", "properties": {
    "id": {"type": "integer"}, "code": {"type": "string"}, "kind": {"enum": list(KINDS)},
    "percent": {"type": ["integer", "null"]}, "amount_cents": {"type": ["integer", "null"]},
    "currency": {"type": ["string", "null"]}, "min_spend_cents": {"type": "integer"},
    "starts_at": WHEN, "ends_at": WHEN, "max_uses": {"type": ["integer", "null"]},
    "max_uses_per_customer": {"type": ["integer", "null"]}, "used": {"type": "integer"},
    "remaining": {"type": ["integer", "null"]}, "seller_id": {"type": ["integer", "null"]},
    "category": {"type": ["string", "null"]}, "active": {"type": "boolean"},
    "created_at": {"type": "string", "format": "date-time"},
    "released": {"type": "integer", "description": "Uses given back by failed or cancelled orders (detail only)."}}}


def vouchers(request: web.Request) -> VouchersService:
    return request.app[VOUCHERS]


def seller_scope(who: Identity) -> int | None:
    """Whose codes the caller sees: None (every code) for admins, else their own."""
    return None if who.is_admin else who.user_id


def owner_of_new(who: Identity, body: Mapping[str, Any]) -> int | None:
    """Admins create shop-wide codes; a seller creates codes of their own only (403 otherwise)."""
    if who.is_admin:
        if body.get("seller_id") is not None:
            raise ValidationFailed(message("admin_seller"), errors={"seller_id": message("admin_seller")})
        return None
    if "seller_id" in body and body["seller_id"] != who.user_id:
        raise Forbidden(message("shop_wide"), errors={"seller_id": message("shop_wide")})
    return who.user_id


def voucher_id(request: web.Request) -> int:
    value = int(request.match_info["voucher_id"])
    if not 0 < value <= MAX_ID:
        raise NotFound(message("not_found"))
    return value


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def voucher_json(v: Voucher, usage: Usage | None = None) -> dict[str, Any]:
    out = {"id": v.id, "code": v.code, "kind": v.kind, "percent": v.percent, "amount_cents": v.amount_cents,
           "currency": v.currency, "min_spend_cents": v.min_spend_cents, "starts_at": _iso(v.starts_at),
           "ends_at": _iso(v.ends_at), "max_uses": v.max_uses, "max_uses_per_customer": v.max_uses_per_customer,
           "used": v.used, "remaining": v.remaining, "seller_id": v.seller_id, "category": v.category,
           "active": v.active, "created_at": _iso(v.created_at)}
    if usage is not None:
        out["released"] = usage.released
    return out


NO_STORE = {"Cache-Control": "no-store"}


@routes.get("/api/v1/vouchers")
@api_schema(response={"type": "array", "items": VOUCHER}, query={
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
    "offset": {"type": "integer", "minimum": 0, "maximum": 10**6, "default": 0}})
@roles_required("seller")
async def api_list(request: web.Request) -> web.Response:
    """Voucher codes, newest first: every code for admins, a seller's own for sellers."""
    limit = query_int(request, "limit", 50, minimum=1, maximum=MAX_LIMIT)
    offset = query_int(request, "offset", 0, minimum=0, maximum=10**6)
    found = await vouchers(request).list(seller_id=seller_scope(identity(request)), limit=limit, offset=offset)
    return web.json_response([voucher_json(v) for v in found], headers=NO_STORE)


@routes.post("/api/v1/vouchers")
@api_schema(request=NEW_VOUCHER, response=VOUCHER, status=201)
@roles_required("seller")
async def api_create(request: web.Request) -> web.Response:
    """Create a code: shop-wide by an admin, or limited to the calling seller's lines by a seller.

    409 when the code exists (codes are case-insensitive)."""
    who, body = identity(request), await json_object(request)
    owner = owner_of_new(who, body)
    created = await vouchers(request).create(body, seller_id=owner, created_by=who.user_id)
    return web.json_response(voucher_json(created), status=201, headers=NO_STORE)


@routes.get(f"/api/v1/vouchers/{VOUCHER_ID}")
@api_schema(response=VOUCHER)
@roles_required("seller")
async def api_get(request: web.Request) -> web.Response:
    """One code with its use (404 for another seller's)."""
    svc = vouchers(request)
    found = await svc.get(voucher_id(request), seller_id=seller_scope(identity(request)))
    usage = await svc.usage(found.id, recent=1)
    return web.json_response(voucher_json(usage.voucher, usage), headers=NO_STORE)


@routes.patch(f"/api/v1/vouchers/{VOUCHER_ID}")
@api_schema(request=PATCH_VOUCHER, response=VOUCHER)
@roles_required("seller")
async def api_patch(request: web.Request) -> web.Response:
    """Deactivate (or reactivate) a code, move its end, or change its total limit (not below its uses)."""
    body = await json_object(request)
    changed = await vouchers(request).update(voucher_id(request), body, seller_id=seller_scope(identity(request)))
    return web.json_response(voucher_json(changed), headers=NO_STORE)
