"""HTTP <-> ReviewsService: the pages. The review form lives on its own page (never cached: it is the
viewer's own), because the product page and catalog cards are cached for everyone and only carry what
every viewer sees alike (slots.py)."""
from __future__ import annotations

from aiohttp import web
from aiohttp_jinja2 import render_template

from ecom.errors import ValidationFailed
from ecom.gateway import identity, login_required, roles_required
from ecom.gateway.flash import flash
from ecom.i18n import N_, _
from ecom.inputs import form_data, form_field, local_path, query_int
from plugins.products.keys import PRODUCTS

from .routes import reviews

routes = web.RouteTableDef()
FORM = r"/products/{id:[0-9]{1,18}}/review"
NO_STORE = {"Cache-Control": "no-store"}
MODERATION_PAGES = ("/seller/reviews", "/admin/reviews")
FILTERS = {"shown": False, "hidden": True}  # ?status= on the moderation pages -> the ``hidden`` wanted
TEXT = {"created": N_("Thank you: your review is published."), "updated": N_("Your review is updated."),
        "hidden": N_("The review is hidden."), "shown": N_("The review is shown again.")}


async def _form(request: web.Request, values: dict | None = None, errors: dict | None = None,
                status: int = 200) -> web.Response:
    viewer, product_id = identity(request), int(request.match_info["id"])
    product = await request.app[PRODUCTS].visible(product_id, viewer)
    service = reviews(request)
    await service.verified_purchase(viewer.user_id, product_id)  # 403 page for anyone who did not receive it
    own = await service.own(viewer.user_id, product_id)
    if values is None:
        values = {"rating": own.rating, "text": own.text} if own else {"rating": None, "text": ""}
    response = render_template("reviews/form.html", request, {
        "product": product, "values": values, "errors": errors or {}, "editing": own is not None,
        "max_text": service.config.max_text}, status=status)
    response.headers.update(NO_STORE)
    return response


@routes.get(FORM)
@login_required
async def review_form(request: web.Request) -> web.Response:
    return await _form(request)


@routes.post(FORM)
@login_required
async def review_post(request: web.Request) -> web.Response:
    form = await form_data(request)
    values = {"rating": form_field(form, "rating"), "text": form_field(form, "text")}
    product_id = int(request.match_info["id"])
    try:
        _review, created = await reviews(request).submit(identity(request), product_id, values["rating"],
                                                         values["text"])
    except ValidationFailed as err:
        return await _form(request, values, err.errors, status=err.status)
    await flash(request, _(TEXT["created" if created else "updated"]), "success")
    raise web.HTTPSeeOther(f"/products/{product_id}")


async def _moderation(request: web.Request) -> web.Response:
    """One page of the reviews to moderate (``?status=shown|hidden``, ``?page=2``: the shop's list look,
    templates/lists.html)."""
    status = request.query.get("status", "")
    status = status if status in FILTERS else ""
    page = query_int(request, "page", 1, minimum=1, maximum=10**5)
    items, has_next = await reviews(request).moderation_page(identity(request), FILTERS.get(status), page)
    names = {p.id: p.name for p in (await request.app[PRODUCTS].get_many({r.product_id for r in items},
                                                                       include_deleted=True)).values()}
    response = render_template("reviews/moderation.html", request, {
        "items": items, "names": names, "status": status, "page": page, "has_next": has_next,
        "back": request.path_qs})  # a hide/show button comes back to this very page
    response.headers.update(NO_STORE)
    return response


@routes.get("/seller/reviews")
@roles_required("seller")
async def seller_moderation(request: web.Request) -> web.Response:
    return await _moderation(request)


@routes.get("/admin/reviews")
@roles_required("admin")
async def admin_moderation(request: web.Request) -> web.Response:
    return await _moderation(request)


@routes.post(r"/reviews/{id:[0-9]{1,18}}/visibility")
@roles_required("seller")
async def moderate(request: web.Request) -> web.Response:
    form = await form_data(request)
    hidden = form_field(form, "hidden") == "1"
    await reviews(request).set_hidden(identity(request), int(request.match_info["id"]), hidden)
    await flash(request, _(TEXT["hidden" if hidden else "shown"]), "success")
    back = local_path(form_field(form, "back"), MODERATION_PAGES[0])  # the page (and filter) it was on
    raise web.HTTPSeeOther(back if back.split("?", 1)[0] in MODERATION_PAGES else MODERATION_PAGES[0])
