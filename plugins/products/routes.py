"""HTTP <-> ProductsService: the JSON API under /api/v1/products and the image files under /media/products.

Path ids are digits only (anything else is the router's 404); an id beyond bigint is a 404 too.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ecom.errors import NotFound
from ecom.gateway import identity, roles_required
from ecom.i18n import _
from ecom.inputs import form_data, json_object, query_int
from ecom.jsonx import json_response
from ecom.openapi import api_schema

from . import images
from .caching import conditional
from .keys import PRODUCTS
from .service import MAX_ID, Product, ProductsService
from .validation import (DEFAULT_WEIGHT, MAX_DESCRIPTION, MAX_NAME, MAX_PRICE, MAX_SKU, MAX_TYPE, MAX_WEIGHT,
                         REQUIRED, TAX_CLASSES)

routes = web.RouteTableDef()
IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}
MEDIA_CACHE = "public, max-age=31536000, immutable"  # names change with the content
# What validation.check_fields checks: text is trimmed first (blank = missing), unknown fields are a 422.
PRODUCT_FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "description": "One line of printable text."},
    "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION, "default": ""},
    "price_cents": {"type": "integer", "minimum": 0, "maximum": MAX_PRICE,
                    "description": "Minor units of the currency (JPY has none: yen)."},
    "currency": {"type": "string", "description": "An ISO-4217 code the shop takes, like USD or EUR (any case)."},
    "type": {"type": "string", "minLength": 1, "maxLength": MAX_TYPE, "description": "The category."},
    "sku": {"type": "string", "maxLength": MAX_SKU, "pattern": "^[A-Za-z0-9._-]{1,64}$",
            "description": "Unique among the seller's products."},
    "active": {"type": "boolean", "default": True, "description": "Shown in the catalog."},
    "weight_grams": {"type": "integer", "minimum": 0, "maximum": MAX_WEIGHT, "default": DEFAULT_WEIGHT,
                     "description": "Shipping weight of one item, in grams."},
    "tax_class": {"enum": list(TAX_CLASSES), "default": TAX_CLASSES[0],
                  "description": "Which of a country's VAT/sales-tax rates applies (any case)."}}
NEW_PRODUCT = {"type": "object", "required": list(REQUIRED), "properties": PRODUCT_FIELDS,
               "additionalProperties": False}
PRODUCT_CHANGES = {"type": "object", "properties": PRODUCT_FIELDS, "additionalProperties": False}
PRODUCT = {"type": "object", "properties": {
    "id": {"type": "integer"}, "seller_id": {"type": "integer"}, "name": {"type": "string"},
    "description": {"type": "string"}, "price_cents": {"type": "integer"}, "currency": {"type": "string"},
    "type": {"type": "string"}, "sku": {"type": "string"}, "active": {"type": "boolean"},
    "image_url": {"type": ["string", "null"]}, "created_at": {"type": "string", "format": "date-time"},
    "updated_at": {"type": "string", "format": "date-time"}, "weight_grams": {"type": "integer"},
    "tax_class": {"enum": list(TAX_CLASSES)}}}
PRODUCT_PAGE = {"type": "object", "required": ["items", "next_cursor"], "properties": {
    "items": {"type": "array", "items": PRODUCT}, "next_cursor": {"type": ["string", "null"]}}}
TYPES = {"type": "array", "items": {"type": "object", "properties": {
    "type": {"type": "string"}, "count": {"type": "integer"}}}}


def products(request: web.Request) -> ProductsService:
    return request.app[PRODUCTS]


def product_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    value = int(raw) if raw.isascii() and raw.isdecimal() and len(raw) < 20 else 0
    if not 0 < value <= MAX_ID:
        raise NotFound(_("No product {id}.").format(id=raw[:30]))
    return value


def product_json(p: Product) -> dict[str, Any]:
    return {"id": p.id, "seller_id": p.seller_id, "name": p.name, "description": p.description,
            "price_cents": p.price_cents, "currency": p.currency, "type": p.type, "sku": p.sku,
            "active": p.active, "image_url": p.image_url, "created_at": p.created_at.isoformat(),
            "updated_at": p.updated_at.isoformat(), "weight_grams": p.weight_grams, "tax_class": p.tax_class}


def _max_age(request: web.Request) -> int:
    return products(request).config.catalog_cache_seconds


@routes.get("/api/v1/products")
@api_schema(response=PRODUCT_PAGE, query={
    "q": {"type": "string", "maxLength": 200, "description": "Words, a misspelled name or a SKU prefix."},
    "type": {"type": "string", "maxLength": MAX_TYPE, "description": "Only this product type."},
    "min_price": {"type": "integer", "minimum": 0, "maximum": MAX_PRICE, "description": "Cents, inclusive."},
    "max_price": {"type": "integer", "minimum": 0, "maximum": MAX_PRICE, "description": "Cents, inclusive."},
    "currency": {"type": "string", "minLength": 3, "maxLength": 3,
                 "description": "Only products priced in this ISO-4217 currency. min_price, max_price and the "
                                "price sorts always compare within one currency: this one, else the shop's "
                                "display currency ([plugins.products] display_currency)."},
    "sort": {"enum": ["relevance", "newest", "price_asc", "price_desc", "name"],
             "description": "relevance needs q; the default is relevance with q, newest without."},
    "cursor": {"type": "string", "description": "The next_cursor of the previous page, for the same sort."},
    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "Page size."}})
async def api_search(request: web.Request) -> web.Response:
    """Search the catalog (active products; anyone).

    ``?q=&type=&currency=&min_price=&max_price=&sort=relevance|newest|price_asc|price_desc|name&cursor=&limit=``
    -> ``{items: [product, ...], next_cursor}``; pass ``next_cursor`` back as ``cursor`` for the next page.
    ``sort`` is ``relevance`` with ``q`` and ``newest`` without. Prices compare within one currency
    (``currency``, default the display currency). 422 for a bad parameter or cursor."""
    svc = products(request)
    query = request.query
    items, next_cursor = await svc.search(
        q=query.get("q"), type=query.get("type"),
        min_price=query_int(request, "min_price", None, maximum=MAX_PRICE),
        max_price=query_int(request, "max_price", None, maximum=MAX_PRICE),
        sort=query.get("sort") or None, cursor=query.get("cursor") or None, currency=query.get("currency"),
        limit=query_int(request, "limit", svc.config.page_size, minimum=1, maximum=100))
    body = {"items": [product_json(p) for p in items], "next_cursor": next_cursor}
    return await conditional(request, json_response(body), _max_age(request))


@routes.get("/api/v1/products/types")
@api_schema(response=TYPES)
async def api_types(request: web.Request) -> web.Response:
    """The catalog's product types with how many products each has, by name (anyone)."""
    body = [{"type": name, "count": count} for name, count in await products(request).types()]
    return await conditional(request, json_response(body), _max_age(request))


@routes.post("/api/v1/products")
@api_schema(request=NEW_PRODUCT, response=PRODUCT, status=201)
@roles_required("seller")
async def api_create(request: web.Request) -> web.Response:
    """Add a product to the caller's catalog (sellers and admins).

    ``{name, price_cents, currency, type, sku, description?, active?, weight_grams?, tax_class?}``
    -> 201 product with a ``Location``.
    422 naming every bad, missing or unknown field; 409 when the seller already uses the SKU."""
    product = await products(request).create(identity(request), await json_object(request))
    return json_response(product_json(product), status=201,
                             headers={"Location": f"/api/v1/products/{product.id}"})


@routes.get(r"/api/v1/products/{id:[0-9]+}")
@api_schema(response=PRODUCT)
async def api_get(request: web.Request) -> web.Response:
    """One product (anyone; an inactive one only for its seller and admins, else 404)."""
    product = await products(request).visible(product_id(request), identity(request))
    return await conditional(request, json_response(product_json(product)), _max_age(request))


@routes.patch(r"/api/v1/products/{id:[0-9]+}")
@api_schema(request=PRODUCT_CHANGES, response=PRODUCT)
@roles_required("seller")
async def api_update(request: web.Request) -> web.Response:
    """Change some fields of a product (its seller or an admin).

    Any of the create fields, checked the same way -> the product. 404 for another seller's product,
    422 for a bad or unknown field, 409 for a SKU the seller already uses."""
    pid = product_id(request)
    product = await products(request).update(identity(request), pid, await json_object(request))
    return json_response(product_json(product))


@routes.delete(r"/api/v1/products/{id:[0-9]+}")
@roles_required("seller")
async def api_delete(request: web.Request) -> web.Response:
    """Take a product out of the catalog (its seller or an admin); past orders keep it.

    -> 204; 404 for another seller's product or one already deleted."""
    await products(request).delete(identity(request), product_id(request))
    return web.Response(status=204)


@routes.put(r"/api/v1/products/{id:[0-9]+}/image")
@api_schema(response=PRODUCT)
@roles_required("seller")
async def api_put_image(request: web.Request) -> web.Response:
    """Set a product's image (its seller or an admin).

    The body is the image itself (Content-Type image/png|jpeg|webp|gif) or a multipart form field 'image'
    -> the product. 413 past plugins.products.max_image_bytes, 415 for another content type, 422 when the
    bytes are not such an image or no file was chosen."""
    svc, pid = products(request), product_id(request)
    await svc.editable(identity(request), pid)  # 404 before reading a stranger's upload
    if request.content_type == "multipart/form-data":
        data = await upload_bytes((await form_data(request)).get("image"), svc.config.max_image_bytes)
        if data is None:
            raise images.ImageMissing()
    elif request.content_type in IMAGE_TYPES:
        data = await read_limited(request, svc.config.max_image_bytes)
    else:
        raise web.HTTPUnsupportedMediaType(text=_("Send the image as the body with Content-Type image/png, "
                                                  "image/jpeg, image/webp or image/gif, or as multipart field "
                                                  "'image'."))
    product = await svc.set_image(identity(request), pid, data)
    return json_response(product_json(product))


async def read_limited(request: web.Request, max_bytes: int) -> bytes:
    """The raw body, refusing (413) as soon as it is longer than ``max_bytes``."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise images.too_large(max_bytes)
    data = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > max_bytes:
            raise images.too_large(max_bytes)
    return bytes(data)


async def upload_bytes(field: Any, max_bytes: int) -> bytes | None:
    """The content of an uploaded form file (None when no file was chosen); 413 when too large."""
    if not isinstance(field, web.FileField):
        return None
    field.file.seek(0, 2)
    size = field.file.tell()
    if size > max_bytes:
        raise images.too_large(max_bytes)
    field.file.seek(0)
    data = field.file.read()
    return None if not data and not field.filename else data


@routes.get("/media/products/{name}")
async def media(request: web.Request) -> web.StreamResponse:
    """Image files (nginx serves this folder directly in front of the app; same URL layout)."""
    name = request.match_info["name"]
    path = products(request).image_path(name)
    if path is None:
        raise NotFound(_("No such image."))
    content_type = images.CONTENT_TYPES[name.rsplit(".", 1)[1]]
    return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": MEDIA_CACHE})
