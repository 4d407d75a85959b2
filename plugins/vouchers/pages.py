"""HTTP <-> VouchersService: /admin/vouchers (shop-wide codes, and every seller's) and /seller/vouchers
(a seller's own): a list with uses / limit, a create form, and each code's redemptions."""
from __future__ import annotations

from aiohttp import web
from aiohttp_jinja2 import render_template

from ecom.errors import Conflict, ValidationFailed
from ecom.gateway import identity, roles_required
from ecom.gateway.flash import flash
from ecom.i18n import N_, _
from ecom.inputs import form_data, form_field, query_int

from .forms import FIELDS, form_errors, form_values, from_form
from .model import KINDS
from .routes import VOUCHER_ID, seller_scope, voucher_id, vouchers

routes = web.RouteTableDef()
AREAS = {"admin": N_("Vouchers · Admin"), "seller": N_("Your vouchers · Seller")}  # page titles, _() when shown


def render(name: str, request: web.Request, context: dict, status: int = 200) -> web.Response:
    """Admin and seller pages are personal and changing: never cached."""
    response = render_template(name, request, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _list(request: web.Request, area: str, values: dict | None = None, errors: dict | None = None,
                status: int = 200) -> web.Response:
    svc = vouchers(request)
    page = query_int(request, "page", 1, minimum=1, maximum=10**5)
    size = svc.config.page_size
    found = await svc.list(seller_id=seller_scope(identity(request)), limit=size + 1, offset=(page - 1) * size)
    return render("vouchers/list.html", request, {
        "area": area, "title": _(AREAS[area]), "vouchers": found[:size], "page": page, "has_next": len(found) > size,
        "kinds": KINDS, "values": values or {"kind": "percent"}, "errors": errors or {}}, status)


async def _create(request: web.Request, area: str) -> web.Response:
    form = await form_data(request)
    fields = {name: form_field(form, name) for name in FIELDS}
    body, errors = from_form(fields)
    who = identity(request)
    try:
        if errors:
            raise ValidationFailed(_("Some fields need attention."), errors=errors)
        created = await vouchers(request).create(body, seller_id=None if area == "admin" else who.user_id,
                                                 created_by=who.user_id)
    except (ValidationFailed, Conflict) as err:
        return await _list(request, area, form_values(fields), form_errors(err.errors) or {"code": err.detail},
                           err.status)
    await flash(request, _("Voucher {code} created.").format(code=created.code), "success")
    raise web.HTTPSeeOther(f"/{area}/vouchers/{created.id}")


async def _detail(request: web.Request, area: str) -> web.Response:
    svc = vouchers(request)
    found = await svc.get(voucher_id(request), seller_id=seller_scope(identity(request)))
    usage = await svc.usage(found.id, recent=svc.config.recent_redemptions)
    return render("vouchers/detail.html", request, {"area": area, "title": _(AREAS[area]), "usage": usage,
                                                    "v": usage.voucher})


async def _set_active(request: web.Request, area: str) -> web.Response:
    form = await form_data(request)
    active = form_field(form, "active") == "1"
    changed = await vouchers(request).update(voucher_id(request), {"active": active},
                                             seller_id=seller_scope(identity(request)))
    text = _("Voucher {code} activated.") if active else _("Voucher {code} deactivated.")
    await flash(request, text.format(code=changed.code), "success")
    raise web.HTTPSeeOther(f"/{area}/vouchers/{changed.id}")


def _seller_area(request: web.Request) -> None:
    """An admin manages codes on the admin pages (sellers create their own; admins shop-wide ones)."""
    if identity(request).is_admin:
        raise web.HTTPSeeOther(request.path.replace("/seller/", "/admin/", 1))


@routes.get("/admin/vouchers")
@roles_required("admin")
async def admin_list(request: web.Request) -> web.Response:
    return await _list(request, "admin")


@routes.post("/admin/vouchers")
@roles_required("admin")
async def admin_create(request: web.Request) -> web.Response:
    return await _create(request, "admin")


@routes.get(f"/admin/vouchers/{VOUCHER_ID}")
@roles_required("admin")
async def admin_detail(request: web.Request) -> web.Response:
    return await _detail(request, "admin")


@routes.post(f"/admin/vouchers/{VOUCHER_ID}/active")
@roles_required("admin")
async def admin_set_active(request: web.Request) -> web.Response:
    return await _set_active(request, "admin")


@routes.get("/seller/vouchers")
@roles_required("seller")
async def seller_list(request: web.Request) -> web.Response:
    _seller_area(request)
    return await _list(request, "seller")


@routes.post("/seller/vouchers")
@roles_required("seller")
async def seller_create(request: web.Request) -> web.Response:
    _seller_area(request)
    return await _create(request, "seller")


@routes.get(f"/seller/vouchers/{VOUCHER_ID}")
@roles_required("seller")
async def seller_detail(request: web.Request) -> web.Response:
    _seller_area(request)
    return await _detail(request, "seller")


@routes.post(f"/seller/vouchers/{VOUCHER_ID}/active")
@roles_required("seller")
async def seller_set_active(request: web.Request) -> web.Response:
    _seller_area(request)
    return await _set_active(request, "seller")
