"""The webhooks pages: /admin/webhooks (every endpoint, any event type, inbound stock secrets) and
/seller/webhooks (a seller's own endpoints, events about their own data). Each endpoint's page is its
delivery log (attempts with status code, latency, error) with a "Send again" button per delivery.

The same handlers serve both areas; ``base`` says which one (and which role it needs). A new secret is
shown once, on the page that answers the form (never stored in clear, never in a redirect's session).
"""
from __future__ import annotations

from aiohttp import web
from aiohttp_jinja2 import render_template

from ecom.errors import DomainError, ValidationFailed
from ecom.gateway import identity, roles_required
from ecom.gateway.flash import flash
from ecom.i18n import _
from ecom.inputs import form_data, form_field

from .api import path_id
from .keys import WEBHOOKS
from .relay import KNOWN_ERRORS

routes = web.RouteTableDef()
AREAS = {"/admin/webhooks": "admin", "/seller/webhooks": "seller"}


def _base(request: web.Request) -> str:
    return "/admin/webhooks" if request.path.startswith("/admin/") else "/seller/webhooks"


def shown(error: str | None) -> str:
    """An attempt's error for the reader: our own sentences translated, anything else (an HTTP status, the
    network library's text) as it was recorded. Plain text, so the template escapes it."""
    return _(error) if error in KNOWN_ERRORS else (error or "")


def _page(name: str, request: web.Request, context: dict, status: int = 200) -> web.Response:
    response = render_template(f"webhooks/{name}", request, {"base": _base(request), "shown": shown, **context},
                               status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _list(request: web.Request, status: int = 200, **extra) -> web.Response:
    svc, who = request.app[WEBHOOKS], identity(request)
    context = {"endpoints": await svc.endpoints(who), "types": svc.allowed_types(who), "form": {}, "errors": {}}
    if _base(request).startswith("/admin"):
        context["inbound"] = await svc.inbound_secrets()
    return _page("list.html", request, {**context, **extra}, status)


async def list_page(request: web.Request) -> web.Response:
    return await _list(request)


async def register(request: web.Request) -> web.Response:
    form = await form_data(request)
    fields = {"url": form_field(form, "url"), "description": form_field(form, "description"),
              "event_types": [t for t in form.getall("event_types", []) if isinstance(t, str)]}
    try:
        row, secret = await request.app[WEBHOOKS].register(identity(request), fields["url"], fields["event_types"],
                                                           fields["description"])
    except ValidationFailed as err:
        return await _list(request, 422, form=fields, errors=err.errors or {})
    return await _list(request, 201, created=row, secret=secret)


async def endpoint_page(request: web.Request) -> web.Response:
    svc, who, endpoint_id = request.app[WEBHOOKS], identity(request), path_id(request)
    return _page("endpoint.html", request, {"endpoint": await svc.endpoint(who, endpoint_id),
                                            "deliveries": await svc.deliveries(who, endpoint_id)})


async def enable(request: web.Request) -> web.Response:
    endpoint_id = path_id(request)
    await request.app[WEBHOOKS].enable(identity(request), endpoint_id)
    await flash(request, _("The webhook is enabled again; its waiting deliveries go out now."), "success")
    raise web.HTTPSeeOther(f"{_base(request)}/{endpoint_id}")


async def remove(request: web.Request) -> web.Response:
    await request.app[WEBHOOKS].remove(identity(request), path_id(request))
    await flash(request, _("The webhook was removed."), "success")
    raise web.HTTPSeeOther(_base(request))


async def redeliver(request: web.Request) -> web.Response:
    row = await request.app[WEBHOOKS].redeliver(identity(request), path_id(request))
    await flash(request, _("Delivery {id} will be sent again now.").format(id=row["id"]), "success")
    raise web.HTTPSeeOther(f"{_base(request)}/{row['endpoint_id']}")


@routes.post("/admin/webhooks/inbound")
@roles_required("admin")
async def add_inbound(request: web.Request) -> web.Response:
    form = await form_data(request)
    raw = form_field(form, "seller_id").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 2**63 - 1:
        return await _list(request, 422, inbound_error=_("Give the seller's user id (a number)."))
    try:
        secret_id, secret = await request.app[WEBHOOKS].add_inbound(identity(request), int(raw),
                                                                   form_field(form, "description"))
    except DomainError as err:
        return await _list(request, err.status, inbound_error=err.detail)
    return await _list(request, 201, inbound_secret=secret, inbound_id=secret_id)


@routes.post(r"/admin/webhooks/inbound/{id:\d{1,19}}/revoke")
@roles_required("admin")
async def revoke_inbound(request: web.Request) -> web.Response:
    await request.app[WEBHOOKS].revoke_inbound(path_id(request))
    await flash(request, _("The inbound secret was revoked: pushes signed with it are refused."), "success")
    raise web.HTTPSeeOther("/admin/webhooks")


for _prefix, _role in AREAS.items():
    _need = roles_required(_role)
    routes.get(_prefix)(_need(list_page))
    routes.post(_prefix)(_need(register))
    routes.get(_prefix + r"/{id:\d{1,19}}")(_need(endpoint_page))
    routes.post(_prefix + r"/{id:\d{1,19}}/enable")(_need(enable))
    routes.post(_prefix + r"/{id:\d{1,19}}/delete")(_need(remove))
    routes.post(_prefix + r"/deliveries/{id:\d{1,19}}/redeliver")(_need(redeliver))
