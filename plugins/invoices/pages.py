"""HTTP <-> InvoicesService: the lists /account/invoices (a buyer's), /seller/invoices (a seller's),
/admin/invoices (every one) and the seller's invoicing details form /seller/invoicing."""
from __future__ import annotations

from aiohttp import web
from aiohttp_jinja2 import render_template

from ecom.errors import ValidationFailed
from ecom.gateway import identity, login_required, roles_required
from ecom.gateway.flash import flash
from ecom.i18n import N_, _
from ecom.inputs import form_data, form_field, query_int

from .db import PROFILE_FIELDS
from .routes import invoices

routes = web.RouteTableDef()
TITLES = {"customer": N_("Your invoices"), "seller": N_("Invoices you issued"), "admin": N_("All invoices")}


def render(name: str, request: web.Request, context: dict, status: int = 200) -> web.Response:
    """Personal pages: never cached."""
    response = render_template(name, request, context, status=status)
    response.headers["Cache-Control"] = "private, no-store"
    return response


async def _list(request: web.Request, area: str) -> web.Response:
    svc = invoices(request)
    page = query_int(request, "page", 1, minimum=1, maximum=10**5)
    size = svc.config.page_size
    found = await svc.list(identity(request), area, limit=size + 1, offset=(page - 1) * size)
    return render("invoices/list.html", request, {"area": area, "title": TITLES[area], "documents": found[:size],
                                                  "page": page, "has_next": len(found) > size})


@routes.get("/account/invoices")
@login_required
async def account_invoices(request: web.Request) -> web.Response:
    return await _list(request, "customer")


@routes.get("/seller/invoices")
@roles_required("seller")
async def seller_invoices(request: web.Request) -> web.Response:
    return await _list(request, "seller")


@routes.get("/admin/invoices")
@roles_required("admin")
async def admin_invoices(request: web.Request) -> web.Response:
    return await _list(request, "admin")


@routes.get("/seller/invoicing")
@roles_required("seller")
async def invoicing_form(request: web.Request) -> web.Response:
    values = await invoices(request).profiles.details(identity(request).user_id)
    return render("invoices/invoicing.html", request, {"values": values, "errors": {}})


@routes.post("/seller/invoicing")
@roles_required("seller")
async def invoicing_save(request: web.Request) -> web.Response:
    form = await form_data(request)
    values = {name: form_field(form, name) for name in PROFILE_FIELDS}
    try:
        await invoices(request).profiles.save(identity(request).user_id, values)
    except ValidationFailed as err:
        return render("invoices/invoicing.html", request, {"values": values, "errors": err.errors,
                                                           "error": err.detail}, status=err.status)
    await flash(request, _("Your invoicing details are saved. Invoices issued from now on carry them."),
                "success")
    raise web.HTTPSeeOther("/seller/invoicing")
