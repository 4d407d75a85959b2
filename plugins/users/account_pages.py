"""The account lifecycle's pages: verify the email, forgot / reset the password, change it, edit the
profile and preferences, delete the account. Routes that mail someone or check a password are
rate-limited like logging in; the API twins live in account_api.py."""
from __future__ import annotations

from zoneinfo import available_timezones

from aiohttp import web
from aiohttp_jinja2 import render_template
from aiohttp_session import get_session

from ecom.errors import Conflict, ValidationFailed
from ecom.gateway import identity, login_required, rate_limit
from ecom.gateway.flash import flash
from ecom.gateway.keys import CONFIG
from ecom.i18n import _
from ecom.i18n.web import COOKIE
from ecom.inputs import form_data, form_field

from .account import BAD_LINK
from .account_api import RESET_ASKED, VERIFICATION_SENT, own_secret
from .keys import ACCOUNT, USERS

routes = web.RouteTableDef()
ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


def _page(request: web.Request, name: str, context: dict, status: int = 200) -> web.Response:
    return render_template(f"users/{name}.html", request, {"errors": {}, "error": "", **context}, status=status)


def _bad_link_page(request: web.Request, err: Exception) -> web.Response:
    status = getattr(err, "status", 422)
    return _page(request, "link_invalid", {"error": getattr(err, "detail", str(err))}, status=status)


# --- email verification ---

@routes.get("/account/verify")
async def verify_email(request: web.Request) -> web.Response:
    """The link mailed to an address: using it once confirms the address (a new email takes effect now)."""
    try:
        user = await request.app[ACCOUNT].verify_email(request.query.get("token"))
    except (ValidationFailed, Conflict) as err:
        return _bad_link_page(request, err)
    await flash(request, _("Your email address {email} is verified.").format(email=user.email), "success")
    raise web.HTTPSeeOther("/account" if identity(request) else "/login?next=/account")


@routes.post("/account/verify/resend")
@rate_limit("auth")
@login_required
async def resend_verification(request: web.Request) -> web.Response:
    await request.app[ACCOUNT].resend_verification(identity(request).user_id)
    await flash(request, _(VERIFICATION_SENT), "info")
    raise web.HTTPSeeOther("/account")


# --- forgotten password ---

@routes.get("/password/forgot")
async def forgot_form(request: web.Request) -> web.Response:
    return _page(request, "forgot", {"sent": False, "email": ""})


@routes.post("/password/forgot")
@rate_limit("auth")
async def forgot(request: web.Request) -> web.Response:
    """The same page, byte for byte, whether an account has this email or not (it is not even echoed)."""
    form = await form_data(request)
    try:
        await request.app[ACCOUNT].request_password_reset(form_field(form, "email"))
    except ValidationFailed as err:
        return _page(request, "forgot", {"sent": False, "email": "", "errors": err.errors}, status=err.status)
    return _page(request, "forgot", {"sent": True, "message": _(RESET_ASKED)})


@routes.get("/password/reset")
async def reset_form(request: web.Request) -> web.Response:
    token = request.query.get("token", "")
    if not await request.app[ACCOUNT].reset_link_valid(token):
        return _bad_link_page(request, ValidationFailed(_(BAD_LINK)))
    return _page(request, "reset", {"token": token, "min_password_length": request.app[USERS].min_password_length})


@routes.post("/password/reset")
@rate_limit("auth")
async def reset(request: web.Request) -> web.Response:
    """A new password from a reset link: every session ends (this browser's too); log in with it."""
    form = await form_data(request)
    token = form_field(form, "token")
    try:
        await request.app[ACCOUNT].reset_password(token, form_field(form, "password"))
    except ValidationFailed as err:
        if "token" in err.errors:
            return _bad_link_page(request, err)
        return _page(request, "reset", {"token": token, "errors": err.errors,
                                        "min_password_length": request.app[USERS].min_password_length}, err.status)
    (await get_session(request)).invalidate()
    await flash(request, _("Your password is changed. Log in with it."), "success")
    raise web.HTTPSeeOther("/login?next=/account")


# --- signed in ---

@routes.get("/account/password")
@login_required
async def password_form(request: web.Request) -> web.Response:
    return _page(request, "password", {"min_password_length": request.app[USERS].min_password_length})


@routes.post("/account/password")
@rate_limit("auth")
@login_required
async def change_password(request: web.Request) -> web.Response:
    form = await form_data(request)
    try:
        await request.app[ACCOUNT].change_password(identity(request).user_id, form_field(form, "current_password"),
                                                   form_field(form, "new_password"), await own_secret(request))
    except ValidationFailed as err:
        return _page(request, "password", {"errors": err.errors,
                                           "min_password_length": request.app[USERS].min_password_length}, err.status)
    await flash(request, _("Your password is changed. Your other sessions have ended."), "success")
    raise web.HTTPSeeOther("/account")


def _profile_page(request: web.Request, values: dict, errors: dict | None = None, status: int = 200):
    return _page(request, "profile", {"values": values, "errors": errors or {}, "zones": ZONES}, status)


@routes.get("/account/profile")
@login_required
async def profile_form(request: web.Request) -> web.Response:
    user = await request.app[USERS].get(identity(request).user_id)
    return _profile_page(request, {"name": user.name, "email": user.email, "locale": user.locale or "",
                                   "time_zone": user.time_zone or ""})


@routes.post("/account/profile")
@rate_limit("auth")
@login_required
async def update_profile(request: web.Request) -> web.Response:
    """Name, email (verified before it applies), language and time zone."""
    form = await form_data(request)
    values = {key: form_field(form, key) for key in ("name", "email", "locale", "time_zone")}
    try:
        user, pending = await request.app[ACCOUNT].update_profile(identity(request).user_id, values)
    except ValidationFailed as err:
        return _profile_page(request, values, err.errors, err.status)
    await flash(request, _("Your profile is saved."), "success")
    if pending:
        await flash(request, _("We sent a link to {email}: your email changes when you follow it.").format(
            email=pending), "info")
    response = web.HTTPSeeOther("/account")
    if user.locale:  # the switcher's cookie would otherwise outrank the saved choice
        response.set_cookie(COOKIE, user.locale, max_age=365 * 24 * 3600, httponly=True, samesite="Lax", path="/",
                            secure=request.app[CONFIG].security.secure_cookies)
    else:
        response.del_cookie(COOKIE, path="/")
    raise response


@routes.get("/account/delete")
@login_required
async def delete_form(request: web.Request) -> web.Response:
    return _page(request, "delete", {})


@routes.post("/account/delete")
@rate_limit("auth")
@login_required
async def delete_account(request: web.Request) -> web.Response:
    form = await form_data(request)
    try:
        await request.app[ACCOUNT].delete(identity(request).user_id, form_field(form, "password"))
    except ValidationFailed as err:
        return _page(request, "delete", {"errors": err.errors}, err.status)
    (await get_session(request)).invalidate()
    await flash(request, _("Your account is deleted. Goodbye."), "info")
    raise web.HTTPSeeOther("/")
