"""HTTP <-> AddressesService: the customer's address book pages under /account/addresses."""
from __future__ import annotations

from aiohttp import web
from aiohttp_jinja2 import render_template

from ecom.errors import Conflict, ValidationFailed
from ecom.gateway import identity, login_required
from ecom.gateway.flash import flash
from ecom.i18n import N_, _
from ecom.inputs import form_data, form_field

from .countries import choices
from .model import FIELDS, MAX_LENGTH
from .routes import addresses

routes = web.RouteTableDef()
BOOK = "/account/addresses"
ONE = BOOK + r"/{id:\d{1,18}}"
# What the pages say, in one place: English msgids, translated (``_()``) where they are shown.
TEXT = {
    "added": N_("Address saved."),
    "updated": N_("Address updated."),
    "deleted": N_("Address deleted."),
    "default_shipping": N_("This is now your default shipping address."),
    "default_billing": N_("This is now your default billing address."),
    "bad_kind": N_("Choose shipping or billing."),
}
KINDS = ("shipping", "billing")


def _user(request: web.Request) -> int:
    return identity(request).user_id


def _form_page(request: web.Request, values: dict, errors: dict | None = None, address_id: int | None = None,
               status: int = 200) -> web.Response:
    return render_template("addresses/form.html", request, {
        "values": values, "errors": errors or {}, "address_id": address_id, "countries": choices(),
        "max_length": MAX_LENGTH}, status=status)


def _posted(form) -> tuple[dict[str, str], bool, bool]:
    values = {name: form_field(form, name) for name in FIELDS}
    return values, "default_shipping" in form, "default_billing" in form


@routes.get(BOOK)
@login_required
async def book(request: web.Request) -> web.Response:
    service = addresses(request)
    saved = await service.list(_user(request))
    return render_template("addresses/book.html", request, {
        "saved": saved, "max_per_user": service.max_per_user})


@routes.get(BOOK + "/new")
@login_required
async def new_form(request: web.Request) -> web.Response:
    return _form_page(request, {})


@routes.post(BOOK)
@login_required
async def add(request: web.Request) -> web.Response:
    values, shipping, billing = _posted(await form_data(request))
    try:
        await addresses(request).add(_user(request), values, default_shipping=shipping, default_billing=billing)
    except ValidationFailed as err:
        values.update(default_shipping=shipping, default_billing=billing)
        return _form_page(request, values, err.errors, status=err.status)
    except Conflict as err:
        await flash(request, err.detail, "danger")
        raise web.HTTPSeeOther(BOOK) from None
    await flash(request, _(TEXT["added"]), "success")
    raise web.HTTPSeeOther(BOOK)


@routes.get(ONE + "/edit")
@login_required
async def edit_form(request: web.Request) -> web.Response:
    saved = await addresses(request).get(_user(request), int(request.match_info["id"]))
    values = {**saved.address.as_dict(), "default_shipping": saved.is_default_shipping,
              "default_billing": saved.is_default_billing}
    return _form_page(request, values, address_id=saved.id)


@routes.post(ONE)
@login_required
async def update(request: web.Request) -> web.Response:
    address_id = int(request.match_info["id"])
    values, shipping, billing = _posted(await form_data(request))
    try:  # an unticked box leaves a default as it is: it moves only by making another address the default
        await addresses(request).update(_user(request), address_id, values,
                                        default_shipping=True if shipping else None,
                                        default_billing=True if billing else None)
    except ValidationFailed as err:
        values.update(default_shipping=shipping, default_billing=billing)
        return _form_page(request, values, err.errors, address_id=address_id, status=err.status)
    await flash(request, _(TEXT["updated"]), "success")
    raise web.HTTPSeeOther(BOOK)


@routes.post(ONE + "/delete")
@login_required
async def delete(request: web.Request) -> web.Response:
    await addresses(request).delete(_user(request), int(request.match_info["id"]))
    await flash(request, _(TEXT["deleted"]), "success")
    raise web.HTTPSeeOther(BOOK)


@routes.post(ONE + "/default")
@login_required
async def make_default(request: web.Request) -> web.Response:
    kind = form_field(await form_data(request), "kind")
    if kind not in KINDS:
        raise ValidationFailed(_(TEXT["bad_kind"]), errors={"kind": _(TEXT["bad_kind"])})
    await addresses(request).update(_user(request), int(request.match_info["id"]), {}, **{f"default_{kind}": True})
    await flash(request, _(TEXT[f"default_{kind}"]), "success")
    raise web.HTTPSeeOther(BOOK)
