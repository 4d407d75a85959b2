"""HTTP <-> PaymentsService: the customer's and the admin's payment pages."""
from __future__ import annotations

from aiohttp import web
from aiohttp_jinja2 import render_template

from ecom import i18n
from ecom.gateway import login_required, roles_required
from ecom.inputs import query_int

from .routes import payments, summary_json, text_query, visible_payments
from .service import STATUSES

routes = web.RouteTableDef()
PAGE_SIZE = 50
SUMMARY_DAYS = 30


def _page(request: web.Request) -> int:
    return query_int(request, "page", 1, minimum=1, maximum=10**5)


@routes.get("/account/payments")
@login_required
async def account_payments(request: web.Request) -> web.Response:
    page = _page(request)
    found = await visible_payments(request, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
    return render_template("payments/account_payments.html", request, {
        "payments": found[:PAGE_SIZE], "refunds": await payments(request).refunds_of([p.id for p in found]), "page": page, "has_next": len(found) > PAGE_SIZE,
        "status": text_query(request, "status") or "", "statuses": STATUSES})


@routes.get("/admin/payments")
@roles_required("admin")
async def admin_payments(request: web.Request) -> web.Response:
    page = _page(request)
    found = await visible_payments(request, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
    summary = await payments(request).daily_summary(SUMMARY_DAYS, time_zone=i18n.current().time_zone)
    return render_template("payments/admin_payments.html", request, {
        "payments": found[:PAGE_SIZE], "refunds": await payments(request).refunds_of([p.id for p in found]), "page": page, "has_next": len(found) > PAGE_SIZE,
        "status": text_query(request, "status") or "", "statuses": STATUSES, "summary": summary,
        "summary_json": [summary_json(d) for d in summary], "summary_days": SUMMARY_DAYS})
