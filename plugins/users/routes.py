"""HTTP <-> UsersService: the JSON API under /api/v1 and the pages (register, log in/out, account).

The home page belongs to the products plugin (the core serves a plain one when products is off)."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_jinja2 import render_template
from yarl import URL

from ecom.errors import Unauthorized, ValidationFailed
from ecom.gateway import identity, login_required, rate_limit, roles_required
from ecom.gateway.auth import bearer_token
from ecom.gateway.flash import flash
from ecom.i18n import N_, _, current_locale
from ecom.i18n.web import COOKIE
from ecom.inputs import form_data, form_field, json_object, local_path
from ecom.openapi import api_schema

from .auth import log_in, log_out
from .keys import USERS
from .service import MAX_EMAIL, MAX_NAME, MAX_PASSWORD, User, UsersService

routes = web.RouteTableDef()
ADMIN_PAGE_SIZE = 50
# What service.check_new_user checks: blank strings count as missing, email and name are trimmed first,
# the password's least length is plugins.users.min_password_length (8 by default).
REGISTER = {"type": "object", "required": ["email", "name", "password"], "properties": {
    "email": {"type": "string", "format": "email", "maxLength": MAX_EMAIL},
    "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "description": "One line of printable text."},
    "password": {"type": "string", "minLength": 1, "maxLength": MAX_PASSWORD,
                 "description": "At least plugins.users.min_password_length characters (8 by default)."},
    "is_seller": {"type": "boolean", "default": False}}}
CREDENTIALS = {"type": "object", "required": ["email", "password"], "properties": {
    "email": {"type": "string", "minLength": 1}, "password": {"type": "string", "minLength": 1}}}
USER = {"type": "object", "required": ["id", "email", "name", "roles", "created_at"], "properties": {
    "id": {"type": "integer"}, "email": {"type": "string"}, "name": {"type": "string"},
    "roles": {"type": "array", "items": {"enum": ["admin", "customer", "seller"]}},
    "created_at": {"type": "string", "format": "date-time"}, "email_verified": {"type": "boolean"},
    "locale": {"type": ["string", "null"]}, "time_zone": {"type": ["string", "null"]}}}
SIGNED_UP = N_("If this email was not registered yet, the account is ready: log in with it. "
               "If it was, nothing has changed.")  # the same words for a new and a known email
ACCEPTED = {"type": "object", "required": ["status", "detail"], "properties": {
    "status": {"const": "accepted"}, "detail": {"type": "string"}}}
TOKEN = {"type": "object", "required": ["token", "token_type", "expires_at"], "properties": {
    "token": {"type": "string"}, "token_type": {"const": "bearer"},
    "expires_at": {"type": "string", "format": "date-time"}}}


def _users(request: web.Request) -> UsersService:
    return request.app[USERS]


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name, "roles": sorted(user.roles),
            "created_at": user.created_at.isoformat(), "email_verified": user.email_verified,
            "locale": user.locale, "time_zone": user.time_zone}


def asked_locale(request: web.Request) -> str | None:
    """The request's language when the caller expressed one (link, switcher, browser), to remember at
    sign-up; None when it is only the shop's default (the account then follows the browser)."""
    expressed = request.query.get("lang") or request.cookies.get(COOKIE) or request.headers.get("Accept-Language")
    return current_locale() if expressed else None


# --- API ---

@routes.post("/api/v1/users")
@api_schema(request=REGISTER, response=ACCEPTED, status=202, query={"lang": {
    "type": "string", "description": "The language the account is written to in (else Accept-Language's)"}})
@rate_limit("auth")
async def api_register(request: web.Request) -> web.Response:
    """Register an account (anyone; rate-limited like logging in).

    ``{email, name, password, is_seller?}`` -> 202 ``{status: "accepted", detail}`` whether the email was new
    (a customer, and a seller with ``is_seller``, is created) or already registered (nothing changes): the
    answer must not tell who has an account. Log in (POST /api/v1/auth/token) to get the new account's token
    and GET /api/v1/users/me for its id. 422 naming every bad field (a too common password included)."""
    body = await json_object(request)
    await _users(request).register(body.get("email"), body.get("name"), body.get("password"),
                                   body.get("is_seller", False), asked_locale(request))
    return web.json_response({"status": "accepted", "detail": _(SIGNED_UP)}, status=202)


@routes.post("/api/v1/auth/token")
@api_schema(request=CREDENTIALS, response=TOKEN, status=200)
@rate_limit("auth")
async def api_issue_token(request: web.Request) -> web.Response:
    """Log in: trade an email and password for a bearer token.

    ``{email, password}`` -> ``{token, token_type: "bearer", expires_at}``; send it as
    ``Authorization: Bearer <token>``. 422 when a field is missing, 401 for a wrong email or password."""
    body = await json_object(request)
    user = await _users(request).check_password(body.get("email"), body.get("password"))
    token, expires_at = await _users(request).issue_token(user.id)
    return web.json_response({"token": token, "token_type": "bearer", "expires_at": expires_at.isoformat()},
                             headers={"Cache-Control": "no-store"})


@routes.delete("/api/v1/auth/token")
async def api_revoke_token(request: web.Request) -> web.Response:
    """Log out: revoke the bearer token this request is sent with.

    -> 204; 401 without a bearer token (or with a dead one)."""
    token = bearer_token(request)  # the gateway has already answered 401 for a dead one
    if token is None:
        raise Unauthorized(_("Send the token to revoke as 'Authorization: Bearer <token>'."))
    await _users(request).revoke("token", token)
    return web.Response(status=204)


@routes.get("/api/v1/users/me")
@api_schema(response=USER)
@login_required
async def api_me(request: web.Request) -> web.Response:
    """The caller's own account (any logged-in user; 401 for guests)."""
    return web.json_response(user_json(await _users(request).get(identity(request).user_id)))


# --- pages ---

def _register_page(request: web.Request, values: dict, errors: dict | None = None, status: int = 200):
    context = {"values": values, "errors": errors or {}, "min_password_length": _users(request).min_password_length}
    return render_template("users/register.html", request, context, status=status)


@routes.get("/register")
async def register_form(request: web.Request) -> web.Response:
    return _register_page(request, {"next": local_path(request.query.get("next"), "/account")})


@routes.post("/register")
@rate_limit("auth")
async def register(request: web.Request) -> web.Response:
    form = await form_data(request)
    values = {"email": form_field(form, "email"), "name": form_field(form, "name"), "is_seller": "is_seller" in form,
              "next": local_path(form_field(form, "next"), "/account")}
    try:
        await _users(request).register(values["email"], values["name"], form_field(form, "password"),
                                       values["is_seller"], asked_locale(request))
    except ValidationFailed as err:
        return _register_page(request, values, err.errors, err.status)
    # a new and a known email get the same answer (no session either way): the owner logs in next
    await flash(request, _(SIGNED_UP), "success")
    raise web.HTTPSeeOther(str(URL("/login").with_query(next=values["next"])))


def _login_page(request: web.Request, values: dict, error: str = "", errors: dict | None = None, status: int = 200):
    context = {"values": values, "error": error, "errors": errors or {}}
    return render_template("users/login.html", request, context, status=status)


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    return _login_page(request, {"email": "", "next": local_path(request.query.get("next"), "/account")})


@routes.post("/login")
@rate_limit("auth")
async def login(request: web.Request) -> web.Response:
    form = await form_data(request)
    values = {"email": form_field(form, "email"), "next": local_path(form_field(form, "next"), "/account")}
    try:
        user = await _users(request).check_password(values["email"], form_field(form, "password"))
    except (ValidationFailed, Unauthorized) as err:
        return _login_page(request, values, err.detail, err.errors, status=422)
    await log_in(request, _users(request), user.id)
    await flash(request, _("Welcome back, {name}.").format(name=user.name), "success")
    raise web.HTTPSeeOther(values["next"])


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    await log_out(request, _users(request))
    await flash(request, _("You are logged out."), "info")
    raise web.HTTPSeeOther("/")


@routes.get("/account")
@login_required
async def account(request: web.Request) -> web.Response:
    user = await _users(request).get(identity(request).user_id)
    return render_template("users/account.html", request, {"user": user})


@routes.get("/admin/users")
@roles_required("admin")
async def admin_users(request: web.Request) -> web.Response:
    raw = request.query.get("page", "1")
    page = int(raw) if raw.isdecimal() and 0 < len(raw) < 7 and int(raw) > 0 else 1
    users = await _users(request).list_users(ADMIN_PAGE_SIZE + 1, (page - 1) * ADMIN_PAGE_SIZE)
    return render_template("users/admin_users.html", request, {
        "users": users[:ADMIN_PAGE_SIZE], "page": page, "has_next": len(users) > ADMIN_PAGE_SIZE})


@routes.post(r"/admin/users/{id:\d{1,18}}/seller")
@roles_required("admin")
async def admin_set_seller(request: web.Request) -> web.Response:
    """Grant (seller=1) or revoke (seller=0) the seller role; back to the users page."""
    form = await form_data(request)
    user = await _users(request).set_seller(int(request.match_info["id"]), form_field(form, "seller") == "1")
    change = (_("{name} ({email}) is now a seller.") if "seller" in user.roles
              else _("{name} ({email}) is no longer a seller."))
    await flash(request, change.format(name=user.name, email=user.email), "success")
    raise web.HTTPSeeOther(local_path(form_field(form, "next"), "/admin/users"))
