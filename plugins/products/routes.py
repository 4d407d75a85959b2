"""HTTP <-> ProductsService: the JSON API under /api/v1/products and the image files under /media/products.

Path ids are digits only (anything else is the router's 404); an id beyond bigint is a 404 too.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ecom.errors import NotFound
from ecom.gateway import identity, roles_required
from ecom.inputs import form_data, json_object, query_int

from . import images
from .caching import conditional
from .keys import PRODUCTS
from .service import MAX_ID, Product, ProductsService
from .validation import MAX_PRICE

routes = web.RouteTableDef()
IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}
MEDIA_CACHE = "public, max-age=31536000, immutable"  # names change with the content


def products(request: web.Request) -> ProductsService:
    return request.app[PRODUCTS]


def product_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    value = int(raw) if raw.isascii() and raw.isdecimal() and len(raw) < 20 else 0
    if not 0 < value <= MAX_ID:
        raise NotFound(f"No product {raw[:30]}.")
    return value


def product_json(p: Product) -> dict[str, Any]:
    return {"id": p.id, "seller_id": p.seller_id, "name": p.name, "description": p.description,
            "price_cents": p.price_cents, "currency": p.currency, "type": p.type, "sku": p.sku,
            "active": p.active, "image_url": p.image_url, "created_at": p.created_at.isoformat(),
            "updated_at": p.updated_at.isoformat()}


def _max_age(request: web.Request) -> int:
    return products(request).config.catalog_cache_seconds


@routes.get("/api/v1/products")
async def api_search(request: web.Request) -> web.Response:
    svc = products(request)
    query = request.query
    items, next_cursor = await svc.search(
        q=query.get("q"), type=query.get("type"),
        min_price=query_int(request, "min_price", None, maximum=MAX_PRICE),
        max_price=query_int(request, "max_price", None, maximum=MAX_PRICE),
        sort=query.get("sort") or None, cursor=query.get("cursor") or None,
        limit=query_int(request, "limit", svc.config.page_size, minimum=1, maximum=100))
    body = {"items": [product_json(p) for p in items], "next_cursor": next_cursor}
    return await conditional(request, web.json_response(body), _max_age(request))


@routes.get("/api/v1/products/types")
async def api_types(request: web.Request) -> web.Response:
    body = [{"type": name, "count": count} for name, count in await products(request).types()]
    return await conditional(request, web.json_response(body), _max_age(request))


@routes.post("/api/v1/products")
@roles_required("seller")
async def api_create(request: web.Request) -> web.Response:
    product = await products(request).create(identity(request), await json_object(request))
    return web.json_response(product_json(product), status=201,
                             headers={"Location": f"/api/v1/products/{product.id}"})


@routes.get(r"/api/v1/products/{id:[0-9]+}")
async def api_get(request: web.Request) -> web.Response:
    product = await products(request).visible(product_id(request), identity(request))
    return await conditional(request, web.json_response(product_json(product)), _max_age(request))


@routes.patch(r"/api/v1/products/{id:[0-9]+}")
@roles_required("seller")
async def api_update(request: web.Request) -> web.Response:
    pid = product_id(request)
    product = await products(request).update(identity(request), pid, await json_object(request))
    return web.json_response(product_json(product))


@routes.delete(r"/api/v1/products/{id:[0-9]+}")
@roles_required("seller")
async def api_delete(request: web.Request) -> web.Response:
    await products(request).delete(identity(request), product_id(request))
    return web.Response(status=204)


@routes.put(r"/api/v1/products/{id:[0-9]+}/image")
@roles_required("seller")
async def api_put_image(request: web.Request) -> web.Response:
    """The body is the image itself (Content-Type image/png|jpeg|webp|gif) or a multipart form field 'image'."""
    svc, pid = products(request), product_id(request)
    await svc.editable(identity(request), pid)  # 404 before reading a stranger's upload
    if request.content_type == "multipart/form-data":
        data = await upload_bytes((await form_data(request)).get("image"), svc.config.max_image_bytes)
        if data is None:
            raise images.ImageMissing()
    elif request.content_type in IMAGE_TYPES:
        data = await read_limited(request, svc.config.max_image_bytes)
    else:
        raise web.HTTPUnsupportedMediaType(text="Send the image as the body with Content-Type image/png, "
                                                "image/jpeg, image/webp or image/gif, or as multipart field 'image'.")
    product = await svc.set_image(identity(request), pid, data)
    return web.json_response(product_json(product))


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
        raise NotFound("No such image.")
    content_type = images.CONTENT_TYPES[name.rsplit(".", 1)[1]]
    return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": MEDIA_CACHE})
