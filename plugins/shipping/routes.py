"""HTTP <-> ShippingService: the JSON API under /api/v1/shipping."""
from __future__ import annotations

from aiohttp import web

from ecom.errors import ValidationFailed
from ecom.gateway import identity, roles_required
from ecom.i18n import _
from ecom.inputs import json_object
from ecom.openapi import api_schema

from .keys import SHIPPING
from .service import ShippingService, rates_json
from .table import METHODS

routes = web.RouteTableDef()
RATE = {"type": "object", "required": ["zone", "method", "currency", "base_cents"], "additionalProperties": False,
        "properties": {"zone": {"type": "string"}, "method": {"enum": list(METHODS)},
                       "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                       "base_cents": {"type": "integer", "minimum": 0},
                       "per_kg_cents": {"type": "integer", "minimum": 0, "default": 0},
                       "free_above_cents": {"type": ["integer", "null"], "minimum": 0}}}
RATES = {"type": "object", "required": ["rates"], "properties": {
    "rates": {"type": "array", "items": RATE, "maxItems": 100}}}
RATES_VIEW = {"type": "object", "properties": {
    "rates": {"type": "array", "items": RATE, "description": "The seller's own rates."},
    "shop_rates": {"type": "array", "items": RATE, "description": "The shop's rates (used where the seller has none)."},
    "zones": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}}}
METHODS_VIEW = {"type": "object", "properties": {
    "country": {"type": "string"}, "currency": {"type": "string"}, "zone": {"type": ["string", "null"]},
    "methods": {"type": "array", "items": {"enum": list(METHODS)}}}}


def shipping(request: web.Request) -> ShippingService:
    return request.app[SHIPPING]


def required_query(request: web.Request, name: str, message: str) -> str:
    """``message`` is already translated (the caller's ``_()``)."""
    value = request.query.get(name, "").strip()
    if not value or len(value) > 8:
        raise ValidationFailed(_("{name} is required.").format(name=name), errors={name: message})
    return value


@routes.get("/api/v1/shipping/methods")
@api_schema(response=METHODS_VIEW, required_query=("country", "currency"), query={
    "country": {"type": "string", "pattern": "^[A-Za-z]{2}$", "description": "Destination (ISO 3166-1 alpha-2)."},
    "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "Currency of the cart."}})
async def api_methods(request: web.Request) -> web.Response:
    """The shipping methods the shop offers to a destination in a currency ([] = it cannot ship there)."""
    country = required_query(request, "country", _("must be a two-letter country code")).upper()
    currency = required_query(request, "currency", _("must be a three-letter currency code")).upper()
    methods = await shipping(request).methods(country, currency)
    return web.json_response({"country": country, "currency": currency,
                              "zone": shipping(request).zone_of(country), "methods": methods})


async def rates_view(request: web.Request) -> dict:
    svc = shipping(request)
    return {"rates": rates_json(await svc.seller_rates(identity(request).user_id)),
            "shop_rates": rates_json(svc.shop_rates()), "zones": {k: list(v) for k, v in svc.zones().items()}}


@routes.get("/api/v1/shipping/rates")
@api_schema(response=RATES_VIEW)
@roles_required("seller")
async def api_rates(request: web.Request) -> web.Response:
    """The calling seller's own shipping rates, with the shop's rates and zones for reference."""
    return web.json_response(await rates_view(request), headers={"Cache-Control": "no-store"})


@routes.put("/api/v1/shipping/rates")
@api_schema(request=RATES, response=RATES_VIEW)
@roles_required("seller")
async def api_put_rates(request: web.Request) -> web.Response:
    """Replace the calling seller's whole set of shipping rates.

    An empty list means the shop's rates everywhere. Each rate replaces the shop's rate of the same zone, method and currency for this seller's
    shipments. 422 naming ``rates[i].field`` for a bad rate."""
    body = await json_object(request)
    await shipping(request).replace_seller_rates(identity(request).user_id, body.get("rates"))
    return web.json_response(await rates_view(request), headers={"Cache-Control": "no-store"})
