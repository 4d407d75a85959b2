"""HTTP <-> DashboardsService: ``/seller`` (sellers; admins see the marketplace) and ``/admin`` (admins)."""
from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp_jinja2 import render_template

from ecom.gateway import identity, roles_required
from ecom.health import HEALTH
from ecom.i18n import N_
from ecom.slots import fill

from .circuits import read_metrics, shop_circuits
from .keys import DASHBOARDS
from .service import DashboardsService, health_summary

routes = web.RouteTableDef()
# English msgids; the templates translate them where shown ({{ _(labels[status]) }})
ORDER_LABELS = {"pending_payment": N_("Awaiting payment"), "paid": N_("Paid"), "payment_failed": N_("Payment failed"),
                "expired": N_("Expired"), "cancelled": N_("Cancelled"), "fulfilled": N_("Fulfilled"),
                "partially_shipped": N_("Partially shipped"), "shipped": N_("Shipped"),
                "partially_delivered": N_("Partially delivered"), "delivered": N_("Delivered"),
                "partially_refunded": N_("Partially refunded"), "refunded": N_("Refunded")}
PAYMENT_LABELS = {"pending": N_("Pending"), "approved": N_("Approved"), "declined": N_("Declined"),
                  "partially_refunded": N_("Partially refunded"), "refunded": N_("Refunded")}


def _dashboards(request: web.Request) -> DashboardsService:
    return request.app[DASHBOARDS]


def _render(name: str, request: web.Request, context: dict) -> web.Response:
    """Personal and changing every minute: never cached."""
    response = render_template(name, request, context)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/seller")
@roles_required("seller")
async def seller_dashboard(request: web.Request) -> web.Response:
    board = await _dashboards(request).seller(identity(request))
    await fill(request, "seller.dashboard", marketplace=board.marketplace,
               area="/admin" if board.marketplace else "/seller")  # the other plugins' panels
    return _render("dashboards/seller.html", request, {"board": board, "order_labels": ORDER_LABELS})


@routes.get("/admin")
@roles_required("admin")
async def admin_dashboard(request: web.Request) -> web.Response:
    board = await _dashboards(request).admin()
    health = request.app.get(HEALTH)
    snapshot = None
    if health is not None:
        raw = await health.snapshot()
        circuits = shop_circuits(raw.get("circuits", {}), await asyncio.to_thread(read_metrics))  # files
        snapshot = health_summary(raw, circuits)
    await fill(request, "admin.selling")  # the other plugins' links and cards
    await fill(request, "admin.dashboard")
    return _render("dashboards/admin.html", request, {"board": board, "health": snapshot,
                                                      "order_labels": ORDER_LABELS,
                                                      "payment_labels": PAYMENT_LABELS})
