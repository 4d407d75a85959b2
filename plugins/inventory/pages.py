"""HTTP <-> the inventory services: the seller's stock pages and CSV imports (admins see every seller's)."""
from __future__ import annotations

from aiohttp import web
from aiohttp_jinja2 import render_template

from ecom.errors import Conflict, ValidationFailed
from ecom.gateway import identity, roles_required
from ecom.gateway.flash import flash
from ecom.i18n import N_, _, number
from ecom.inputs import form_data, form_field, local_path

from .models import MAX_ID, MAX_QUANTITY
from .routes import PRODUCT, imports, inventory, path_id, upload_field

routes = web.RouteTableDef()
# Words stored in English (ledger kinds, import statuses, the system's ledger reasons) and shown with
# ``_(word)`` by the templates: marked here so that the catalog holds them.
SHOWN_WORDS = (N_("adjustment"), N_("reservation"), N_("release"), N_("sale"), N_("import"),
               N_("queued"), N_("running"), N_("done"))
SYSTEM_REASONS = frozenset({N_("expired"), N_("restock")})  # written by the sweeper and refunds
PAGE_SIZE = 50
HISTORY_SIZE = 100


def render(name: str, request: web.Request, context: dict, status: int = 200) -> web.Response:
    """A seller page: personal and changing, so never cached."""
    response = render_template(name, request, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _before(request: web.Request, name: str = "before") -> int | None:
    raw = request.query.get(name, "")
    return int(raw) if raw.isdecimal() and len(raw) < 19 and int(raw) > 0 else None


@routes.get("/seller/inventory")
@roles_required("seller")
async def overview(request: web.Request) -> web.Response:
    rows = await inventory(request).seller_overview(identity(request), _before(request), PAGE_SIZE + 1)
    return render("inventory/overview.html", request, {
        "rows": rows[:PAGE_SIZE], "regions": inventory(request).regions, "max_quantity": MAX_QUANTITY,
        "older": rows[PAGE_SIZE - 1][0].id if len(rows) > PAGE_SIZE else None})


async def _product_page(request: web.Request, product_id: int, errors: dict | None = None,
                        values: dict | None = None, status: int = 200) -> web.Response:
    svc = inventory(request)
    product = await svc.owned(identity(request), product_id)
    before = _before(request)
    history = await svc.movements(identity(request), product_id, HISTORY_SIZE + 1, before)
    return render("inventory/product.html", request, {
        "product": product, "stock": await svc.availability(product_id), "history": history[:HISTORY_SIZE],
        "older": history[HISTORY_SIZE - 1].id if len(history) > HISTORY_SIZE else None,
        "errors": errors or {}, "values": values or {}, "max_quantity": MAX_QUANTITY, "system_reasons": SYSTEM_REASONS,
        "page_error": next((e.get("region") for r, e in (errors or {}).items() if r not in svc.regions), None)},
        status=status)


@routes.get(f"/seller/inventory/{PRODUCT}")
@roles_required("seller")
async def product_stock(request: web.Request) -> web.Response:
    return await _product_page(request, path_id(request))


@routes.post(f"/seller/inventory/{PRODUCT}/{{region}}")
@roles_required("seller")
async def set_stock(request: web.Request) -> web.Response:
    """The per-region form of both pages: set the quantity (with a reason)."""
    product_id, region = path_id(request), request.match_info["region"]
    form = await form_data(request)
    raw, reason = form_field(form, "quantity").strip(), form_field(form, "reason")
    values = {region: {"quantity": raw, "reason": reason}}
    try:
        if not raw.isdecimal() or len(raw) > 10:
            raise ValidationFailed(_("Enter a whole number of units."), errors={
                "quantity": _("Enter a whole number from 0 to {max}.").format(max=number(MAX_QUANTITY))})
        stock = await inventory(request).set_stock(identity(request), product_id, region, int(raw), reason)
    except (ValidationFailed, Conflict) as err:
        errors = {region: err.errors or {"quantity": err.detail}}
        return await _product_page(request, product_id, errors, values, err.status)
    await flash(request, _("Stock in {region} set to {quantity} ({available} available).").format(
        region=stock.region, quantity=number(stock.quantity), available=number(stock.available)), "success")
    raise web.HTTPSeeOther(local_path(form_field(form, "next"), f"/seller/inventory/{product_id}"))


# --- CSV imports ---

async def _import_form(request: web.Request, error: str = "", seller_id: str = "", status: int = 200):
    return render("inventory/import_new.html", request, {
        "error": error, "seller_id": seller_id, "jobs": await imports(request).jobs(identity(request)),
        "regions": inventory(request).regions, "max_lines": inventory(request).config.max_import_lines},
        status=status)


@routes.get("/seller/inventory/imports")
@roles_required("seller")
async def imports_home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/seller/inventory/imports/new")


@routes.get("/seller/inventory/imports/new")
@roles_required("seller")
async def import_form(request: web.Request) -> web.Response:
    return await _import_form(request)


@routes.post("/seller/inventory/imports")
@roles_required("seller")
async def queue_import(request: web.Request) -> web.Response:
    form = await form_data(request)
    raw_seller = form_field(form, "seller_id").strip()
    try:
        seller_id = None
        if raw_seller and identity(request).is_admin:
            if not raw_seller.isdecimal() or not 0 < int(raw_seller) <= MAX_ID:
                raise ValidationFailed(_("Enter the seller's user id."), errors={"seller_id": _("A user id, like 12.")})
            seller_id = int(raw_seller)
        data, filename = upload_field(form)
        job = await imports(request).queue(identity(request), data, filename, seller_id)
    except ValidationFailed as err:
        message = next(iter(err.errors.values()), err.detail)
        return await _import_form(request, message, raw_seller, 422)
    kind = "warning" if job.rejected else "success"
    await flash(request, _("Import {id} queued: {applied} lines to apply, {rejected} rejected.").format(
        id=job.id, applied=number(job.total - job.rejected), rejected=number(job.rejected)), kind)
    raise web.HTTPSeeOther(f"/seller/inventory/imports/{job.id}")


@routes.get(r"/seller/inventory/imports/{import_id:\d{1,19}}")
@roles_required("seller")
async def import_job(request: web.Request) -> web.Response:
    job = await imports(request).job(identity(request), path_id(request, "import_id"))
    return render("inventory/import_job.html", request, {"job": job})
