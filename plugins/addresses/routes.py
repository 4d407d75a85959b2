"""HTTP <-> AddressesService: the JSON API under /api/v1/addresses (the caller's own book)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ecom.gateway import identity, login_required
from ecom.inputs import json_object
from ecom.openapi import api_schema

from .countries import COUNTRIES
from .keys import ADDRESSES
from .model import FIELDS, MAX_LENGTH
from .service import AddressesService, SavedAddress

routes = web.RouteTableDef()
ADDRESS_ID = r"/api/v1/addresses/{id:\d{1,18}}"
FIELD_DOCS = {
    "country": "ISO 3166-1 alpha-2 code of a supported country: " + ", ".join(sorted(COUNTRIES)) + ".",
    "postal_code": "Checked against the country's pattern and returned in its canonical form ('SW1A 1AA').",
    "region": "State or province code, required for US, CA and MX (e.g. CA, ON, CMX); free text elsewhere.",
    "phone": "Spaces, dashes and parentheses allowed; a national number is read in the address's country. "
             "Stored and returned in E.164 ('+34911234567').",
}
ADDRESS_FIELDS = {name: {"type": "string", "maxLength": MAX_LENGTH[name],
                         **({"description": FIELD_DOCS[name]} if name in FIELD_DOCS else {})} for name in FIELDS}
FLAGS = {"default_shipping": {"type": "boolean"}, "default_billing": {"type": "boolean"}}
CREATE = {"type": "object", "required": ["name", "line1", "city", "country"],
          "description": "postal_code is required too, except for IE (Eircode optional).",
          "properties": {**ADDRESS_FIELDS, **FLAGS}}
PATCH = {"type": "object", "description": "Only the fields sent change; the result is validated as a whole.",
         "properties": {**ADDRESS_FIELDS, **FLAGS}}
SAVED = {"type": "object", "required": ["id", *FIELDS, "lines", "is_default_shipping", "is_default_billing"],
         "properties": {"id": {"type": "integer"}, **{name: {"type": "string"} for name in FIELDS},
                        "country_name": {"type": "string"},
                        "lines": {"type": "array", "items": {"type": "string"},
                                  "description": "The address as printed on a shipping label."},
                        "is_default_shipping": {"type": "boolean"}, "is_default_billing": {"type": "boolean"}}}
LISTING = {"type": "object", "required": ["items", "max_items"], "properties": {
    "items": {"type": "array", "items": SAVED}, "max_items": {"type": "integer"}}}
NO_STORE = {"Cache-Control": "no-store"}


def addresses(request: web.Request) -> AddressesService:
    return request.app[ADDRESSES]


def saved_json(saved: SavedAddress) -> dict[str, Any]:
    address = saved.address
    return {"id": saved.id, **address.as_dict(), "country_name": address.country_name, "lines": address.lines(),
            "is_default_shipping": saved.is_default_shipping, "is_default_billing": saved.is_default_billing}


def _address_id(request: web.Request) -> int:
    return int(request.match_info["id"])


@routes.get("/api/v1/addresses")
@api_schema(response=LISTING)
@login_required
async def api_list(request: web.Request) -> web.Response:
    """The caller's address book, oldest first (401 for guests)."""
    service = addresses(request)
    found = await service.list(identity(request).user_id)
    return web.json_response({"items": [saved_json(s) for s in found], "max_items": service.max_per_user},
                             headers=NO_STORE)


@routes.post("/api/v1/addresses")
@api_schema(request=CREATE, response=SAVED, status=201)
@login_required
async def api_add(request: web.Request) -> web.Response:
    """Save an address in the caller's book.

    The first address becomes the default shipping and billing address; ``default_shipping`` /
    ``default_billing`` make a later one so. 422 naming each bad field (``postal_code``, ``region``,
    ``phone``, ...); 409 when the book already holds ``max_items`` addresses."""
    body = await json_object(request)
    saved = await addresses(request).add(identity(request).user_id, body,
                                         default_shipping=body.get("default_shipping", False),
                                         default_billing=body.get("default_billing", False))
    return web.json_response(saved_json(saved), status=201, headers={"Location": f"/api/v1/addresses/{saved.id}"})


@routes.get(ADDRESS_ID)
@api_schema(response=SAVED)
@login_required
async def api_get(request: web.Request) -> web.Response:
    """One address of the caller's book (404 for anyone else's)."""
    saved = await addresses(request).get(identity(request).user_id, _address_id(request))
    return web.json_response(saved_json(saved), headers=NO_STORE)


@routes.patch(ADDRESS_ID)
@api_schema(request=PATCH, response=SAVED)
@login_required
async def api_update(request: web.Request) -> web.Response:
    """Change an address of the caller's book, or make it (or stop it being) a default.

    Orders placed earlier keep their own copy. 422 naming each bad field; 404 for anyone else's."""
    body = await json_object(request)
    saved = await addresses(request).update(identity(request).user_id, _address_id(request), body,
                                            default_shipping=body.get("default_shipping"),
                                            default_billing=body.get("default_billing"))
    return web.json_response(saved_json(saved))


@routes.delete(ADDRESS_ID)
@api_schema(status=204)
@login_required
async def api_delete(request: web.Request) -> web.Response:
    """Delete an address of the caller's book (204; 404 for anyone else's)."""
    await addresses(request).delete(identity(request).user_id, _address_id(request))
    return web.Response(status=204)
