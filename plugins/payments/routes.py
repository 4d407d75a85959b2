"""HTTP <-> PaymentsService: the JSON API under /api/v1/payments."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ecom.gateway import identity, login_required, roles_required
from ecom.inputs import query_int
from ecom.openapi import api_schema

from .keys import PAYMENTS
from .refunds import Refund
from .service import STATUSES, DaySummary, Payment, PaymentsService

routes = web.RouteTableDef()
MAX_LIMIT = 200
REFUND = {"type": "object", "properties": {
    "id": {"type": "string"}, "refund_ref": {"type": "string", "description": "What was refunded: \"\" the "
                                                                              "whole order, else e.g. a shipment."},
    "amount_cents": {"type": "integer"}, "currency": {"type": "string"}, "reason": {"type": "string"},
    "created_at": {"type": "string", "format": "date-time"}}}
PAYMENT = {"type": "object", "properties": {
    "id": {"type": "string"}, "order_id": {"type": "string"}, "status": {"enum": list(STATUSES)},
    "amount_cents": {"type": "integer"}, "currency": {"type": "string"}, "brand": {"type": ["string", "null"]},
    "last4": {"type": ["string", "null"]}, "transaction_id": {"type": ["string", "null"]},
    "failure_reason": {"type": ["string", "null"]}, "created_at": {"type": ["string", "null"], "format": "date-time"},
    "processed_at": {"type": ["string", "null"], "format": "date-time"},
    "refunded_at": {"type": ["string", "null"], "format": "date-time",
                    "description": "When the latest refund was granted."},
    "refunded_cents": {"type": "integer", "description": "The sum of the granted refunds (never above "
                                                         "amount_cents); status is partially_refunded until "
                                                         "it equals amount_cents, then refunded."},
    "refunds": {"type": "array", "description": "The granted refunds, oldest first.", "items": REFUND}}}
DAY = {"type": "object", "properties": {
    "day": {"type": "string", "format": "date"}, "approved": {"type": "integer"}, "declined": {"type": "integer"},
    "refunded": {"type": "integer"}}}


def payments(request: web.Request) -> PaymentsService:
    return request.app[PAYMENTS]


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def refund_json(r: Refund) -> dict[str, Any]:
    return {"id": str(r.id), "refund_ref": r.refund_ref, "amount_cents": r.amount_cents, "currency": r.currency,
            "reason": r.reason, "created_at": _iso(r.created_at)}


def payment_json(p: Payment, refunds: list[Refund] = ()) -> dict[str, Any]:
    """The public view of a payment and its granted refunds: never the card token."""
    return {"id": str(p.id), "order_id": p.order_id, "status": p.status, "amount_cents": p.amount_cents,
            "currency": p.currency, "brand": p.brand, "last4": p.last4, "transaction_id": p.transaction_id,
            "failure_reason": p.failure_reason, "created_at": _iso(p.created_at),
            "processed_at": _iso(p.processed_at), "refunded_at": _iso(p.refunded_at),
            "refunded_cents": p.refunded_cents, "refunds": [refund_json(r) for r in refunds]}


def summary_json(d: DaySummary) -> dict[str, Any]:
    return {"day": d.day.isoformat(), "approved": d.approved, "declined": d.declined, "refunded": d.refunded}


def text_query(request: web.Request, name: str) -> str | None:
    value = request.query.get(name, "").strip()
    return value or None


async def visible_payments(request: web.Request, limit: int, offset: int) -> list[Payment]:
    """A customer's own payments, or anyone's for an admin; ``order_id`` and ``status`` filter."""
    who = identity(request)
    return await payments(request).list_payments(
        customer_id=None if who.is_admin else who.user_id, order_id=text_query(request, "order_id"),
        status=text_query(request, "status"), limit=limit, offset=offset)


@routes.get("/api/v1/payments")
@api_schema(response={"type": "array", "items": PAYMENT}, query={
    "order_id": {"type": "string", "minLength": 1, "maxLength": 100, "description": "Only this order's payments."},
    "status": {"enum": list(STATUSES)},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
    "offset": {"type": "integer", "minimum": 0, "maximum": 10**6, "default": 0}})
@login_required
async def api_list(request: web.Request) -> web.Response:
    """Payments newest first: a customer's own, or everyone's for an admin (401 for guests).

    ``?order_id=&status=pending|approved|declined|partially_refunded|refunded&limit=1..200&offset=``
    -> ``[payment with its refunds, ...]`` (never the card token). 422 for a bad filter."""
    limit = query_int(request, "limit", 50, minimum=1, maximum=MAX_LIMIT)
    offset = query_int(request, "offset", 0, minimum=0, maximum=10**6)
    found = await visible_payments(request, limit, offset)
    refunds = await payments(request).refunds_of([p.id for p in found])
    return web.json_response([payment_json(p, refunds[p.id]) for p in found], headers={"Cache-Control": "no-store"})


@routes.get("/api/v1/payments/summary")
@api_schema(response={"type": "array", "items": DAY}, query={
    "days": {"type": "integer", "minimum": 1, "maximum": 366, "default": 30, "description": "How many days back."}})
@roles_required("admin")
async def api_summary(request: web.Request) -> web.Response:
    """Payments counted by outcome per UTC day, newest day first (admins).

    ``?days=1..366`` (default 30) -> ``[{day, approved, declined, refunded}, ...]``."""
    days = query_int(request, "days", 30, minimum=1, maximum=366)
    summary = await payments(request).daily_summary(days)
    return web.json_response([summary_json(d) for d in summary], headers={"Cache-Control": "no-store"})
