"""HTTP <-> ShippingService: the seller's own rates page and the admin's read-only view of the shop's."""
from __future__ import annotations

from decimal import Decimal

from aiohttp import web
from aiohttp_jinja2 import render_template

from ecom.errors import ValidationFailed
from ecom.gateway import identity, roles_required
from ecom.gateway.flash import flash
from ecom.i18n import N_, _, number
from ecom.inputs import form_data, form_field

from .routes import shipping
from .table import METHODS

routes = web.RouteTableDef()
MESSAGES = {"saved": N_("Rate saved."), "deleted": N_("Rate deleted."), "gone": N_("That rate was already gone."),
            "money": N_("must be an amount like {example}")}
EXAMPLE = Decimal("4.90")  # shown in the reader's notation (4.90 / 4,90); both are accepted


def render(name: str, request: web.Request, context: dict, status: int = 200) -> web.Response:
    response = render_template(name, request, context, status=status)
    response.headers["Cache-Control"] = "no-store"  # personal and changing
    return response


def cents(text: str, field: str, errors: dict, required: bool = True) -> int | None:
    """'4.90' / '4,90' / '4' -> 490 (no floats); '' -> None when not required."""
    text = text.strip().replace(",", ".")
    if not text and not required:
        return None
    whole, _dot, frac = text.partition(".")
    if not whole.isdecimal() or len(whole) > 9 or (frac and (not frac.isdecimal() or len(frac) > 2)):
        errors[field] = _(MESSAGES["money"]).format(example=number(EXAMPLE, 2))
        return None
    return int(whole) * 100 + int(frac.ljust(2, "0") or 0)


async def _page(request: web.Request, errors: dict | None = None, values: dict | None = None,
                status: int = 200) -> web.Response:
    svc = shipping(request)
    return render("shipping/seller_shipping.html", request, {
        "rates": await svc.seller_rates(identity(request).user_id), "shop_rates": svc.shop_rates(),
        "zones": svc.zones(), "methods": METHODS, "errors": errors or {}, "values": values or {}}, status)


@routes.get("/seller/shipping")
@roles_required("seller")
async def seller_shipping(request: web.Request) -> web.Response:
    return await _page(request)


@routes.post("/seller/shipping")
@roles_required("seller")
async def seller_add_rate(request: web.Request) -> web.Response:
    form = await form_data(request)
    values = {k: form_field(form, k) for k in ("zone", "method", "currency", "base", "per_kg", "free_above")}
    errors: dict[str, str] = {}
    raw = {"zone": values["zone"], "method": values["method"], "currency": values["currency"].strip().upper(),
           "base_cents": cents(values["base"], "base", errors),
           "per_kg_cents": cents(values["per_kg"], "per_kg", errors, required=False) or 0,
           "free_above_cents": cents(values["free_above"], "free_above", errors, required=False)}
    if not errors:
        try:
            await shipping(request).set_seller_rate(identity(request).user_id, raw)
        except ValidationFailed as err:
            names = {"base_cents": "base", "per_kg_cents": "per_kg", "free_above_cents": "free_above"}
            errors = {names.get(k, k): v for k, v in err.errors.items()}
    if errors:
        return await _page(request, errors, values, status=422)
    await flash(request, _(MESSAGES["saved"]), "success")
    raise web.HTTPSeeOther("/seller/shipping")


@routes.post("/seller/shipping/delete")
@roles_required("seller")
async def seller_delete_rate(request: web.Request) -> web.Response:
    form = await form_data(request)
    deleted = await shipping(request).delete_seller_rate(
        identity(request).user_id, form_field(form, "zone"), form_field(form, "method"), form_field(form, "currency"))
    await flash(request, _(MESSAGES["deleted" if deleted else "gone"]), "success" if deleted else "info")
    raise web.HTTPSeeOther("/seller/shipping")


@routes.get("/admin/shipping")
@roles_required("admin")
async def admin_shipping(request: web.Request) -> web.Response:
    svc = shipping(request)
    return render("shipping/admin_shipping.html", request, {
        "shop_rates": svc.shop_rates(), "zones": svc.zones(), "fulfilment": svc.table.fulfilment})
