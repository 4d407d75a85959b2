"""HTTP <-> PaymentsService: the JSON API under /api/v1/payments."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ecom.gateway import identity, login_required, roles_required
from ecom.inputs import query_int

from .keys import PAYMENTS
from .service import DaySummary, Payment, PaymentsService

routes = web.RouteTableDef()
MAX_LIMIT = 200


def payments(request: web.Request) -> PaymentsService:
    return request.app[PAYMENTS]


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def payment_json(p: Payment) -> dict[str, Any]:
    """The public view of a payment: never the card token."""
    return {"id": str(p.id), "order_id": p.order_id, "status": p.status, "amount_cents": p.amount_cents,
            "currency": p.currency, "brand": p.brand, "last4": p.last4, "transaction_id": p.transaction_id,
            "failure_reason": p.failure_reason, "created_at": _iso(p.created_at),
            "processed_at": _iso(p.processed_at), "refunded_at": _iso(p.refunded_at)}


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
@login_required
async def api_list(request: web.Request) -> web.Response:
    """``?order_id=&status=&limit=&offset=`` -> ``[payment, ...]`` newest first."""
    limit = query_int(request, "limit", 50, minimum=1, maximum=MAX_LIMIT)
    offset = query_int(request, "offset", 0, minimum=0, maximum=10**6)
    found = await visible_payments(request, limit, offset)
    return web.json_response([payment_json(p) for p in found], headers={"Cache-Control": "no-store"})


@routes.get("/api/v1/payments/summary")
@roles_required("admin")
async def api_summary(request: web.Request) -> web.Response:
    """``?days=30`` -> ``[{day, approved, declined, refunded}, ...]`` newest day first (admin)."""
    days = query_int(request, "days", 30, minimum=1, maximum=366)
    summary = await payments(request).daily_summary(days)
    return web.json_response([summary_json(d) for d in summary], headers={"Cache-Control": "no-store"})
