"""HTTP <-> ReviewsService: the JSON API (public reads, verified buyers' writes, moderation)."""
from __future__ import annotations

from aiohttp import web

from ecom.errors import ValidationFailed
from ecom.gateway import identity, login_required, roles_required
from ecom.i18n import _
from ecom.inputs import json_object
from ecom.openapi import api_schema

from .keys import REVIEWS
from .model import Review
from .service import ReviewsService

routes = web.RouteTableDef()
PRODUCT_REVIEWS = r"/api/v1/products/{id:[0-9]{1,18}}/reviews"
REVIEW = r"/api/v1/reviews/{id:[0-9]{1,18}}"
PUBLIC = {"type": "object", "required": ["id", "product_id", "author", "rating", "text", "created_at", "updated_at"],
          "properties": {"id": {"type": "integer"}, "product_id": {"type": "integer"},
                         "author": {"type": "string", "description": "The reviewer's name as they signed it."},
                         "rating": {"type": "integer", "minimum": 1, "maximum": 5},
                         "text": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
                         "updated_at": {"type": "string", "format": "date-time"}}}
MODERATED = {**PUBLIC, "required": [*PUBLIC["required"], "hidden", "verified"],
             "properties": {**PUBLIC["properties"], "hidden": {"type": "boolean", "description": "Hidden by a moderator."},
                            "verified": {"type": "boolean", "description": (
                                "Its author still has a delivery of the product that was not refunded; "
                                "false: kept, but not shown nor counted in the average.")}}}
SUMMARY = {"type": "object", "required": ["count", "average"], "properties": {
    "count": {"type": "integer", "description": "Visible reviews."},
    "average": {"type": ["number", "null"], "description": "Average stars, one decimal; null with no reviews."}}}
LISTING = {"type": "object", "required": ["summary", "items"],
           "properties": {"summary": SUMMARY, "items": {"type": "array", "items": PUBLIC}}}
WRITE = {"type": "object", "required": ["rating"], "properties": {
    "rating": {"type": "integer", "minimum": 1, "maximum": 5},
    "text": {"type": "string", "description": "Optional; at most [plugins.reviews] max_text characters."}}}
VISIBILITY = {"type": "object", "required": ["hidden"], "properties": {"hidden": {"type": "boolean"}}}
PAGING = {"limit": {"type": "integer", "minimum": 1, "maximum": 100}, "offset": {"type": "integer", "minimum": 0}}


def reviews(request: web.Request) -> ReviewsService:
    return request.app[REVIEWS]


def _int_query(request: web.Request, name: str, default: int) -> int:
    value = request.query.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else default


def moderated_json(review: Review) -> dict:
    return {**review.public(), "hidden": review.hidden, "verified": review.verified}


@routes.get(PRODUCT_REVIEWS)
@api_schema(response=LISTING, query=PAGING)
async def api_list(request: web.Request) -> web.Response:
    """A product's visible reviews, newest first, and their count and average (public)."""
    service, product_id = reviews(request), int(request.match_info["id"])
    items, summary = await service.listing(product_id, _int_query(request, "limit", 20),
                                           _int_query(request, "offset", 0))
    return web.json_response({"summary": summary.as_dict(), "items": [r.public() for r in items]})


@routes.post(PRODUCT_REVIEWS)
@api_schema(request=WRITE, response=PUBLIC, status=201)
@login_required
async def api_write(request: web.Request) -> web.Response:
    """Write (201) or edit (200) the caller's review of a product they received.

    403 for anyone who did not receive the product; 422 naming a bad ``rating`` or ``text``."""
    body = await json_object(request)
    review, created = await reviews(request).submit(identity(request), int(request.match_info["id"]),
                                                    body.get("rating"), body.get("text", ""))
    return web.json_response(review.public(), status=201 if created else 200)


@routes.get("/api/v1/reviews")
@api_schema(response={"type": "object", "required": ["items"],
                      "properties": {"items": {"type": "array", "items": MODERATED}}},
            query={**PAGING, "hidden": {"type": "boolean", "description": "Only hidden (true) or shown (false)."}})
@roles_required("seller")
async def api_moderation(request: web.Request) -> web.Response:
    """Reviews to moderate, newest first: a seller's products' reviews, or every review for an admin."""
    hidden = {"true": True, "false": False}.get(request.query.get("hidden", ""))
    items = await reviews(request).for_moderation(identity(request), hidden, _int_query(request, "limit", 50),
                                                  _int_query(request, "offset", 0))
    return web.json_response({"items": [moderated_json(r) for r in items]}, headers={"Cache-Control": "no-store"})


@routes.patch(REVIEW)
@api_schema(request=VISIBILITY, response=MODERATED)
@roles_required("seller")
async def api_moderate(request: web.Request) -> web.Response:
    """Hide or show a review (the product's seller or an admin; 404 for another seller's)."""
    body = await json_object(request)
    hidden = body.get("hidden")
    if not isinstance(hidden, bool):
        raise ValidationFailed(_("hidden must be true or false."), errors={"hidden": _("true or false.")})
    review = await reviews(request).set_hidden(identity(request), int(request.match_info["id"]), hidden)
    return web.json_response(moderated_json(review))
