"""The account lifecycle over the JSON API: password reset, change, profile, verification, delete, export.

Every route that makes a mail go out, or checks a password, is rate-limited like logging in."""
from __future__ import annotations

import json

from aiohttp import web
from aiohttp_session import get_session

from ecom.gateway import identity, login_required, rate_limit
from ecom.gateway.auth import bearer_token
from ecom.i18n import N_, _
from ecom.inputs import json_object
from ecom.openapi import api_schema
from ecom.privacy import export_personal_data

from .auth import SID
from .keys import ACCOUNT, USERS
from .routes import ACCEPTED, USER, user_json
from .tokens import digest

RESET_ASKED = N_("If an account uses this address, a link to choose a new password is on its way. "
                 "It works once, for one hour.")
VERIFICATION_SENT = N_("If your address is not verified yet, a new link is on its way.")
PASSWORD = {"type": "string", "minLength": 1, "maxLength": 256}
RESET_REQUEST = {"type": "object", "required": ["email"], "properties": {"email": {"type": "string", "minLength": 1}}}
RESET_CONFIRM = {"type": "object", "required": ["token", "password"], "properties": {
    "token": {"type": "string", "description": "From the link's ?token="}, "password": PASSWORD}}
VERIFY = {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}
CHANGE_PASSWORD = {"type": "object", "required": ["current_password", "new_password"], "properties": {
    "current_password": PASSWORD, "new_password": PASSWORD}}
PROFILE_CHANGES = {"type": "object", "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 100}, "email": {"type": "string", "format": "email"},
    "locale": {"type": ["string", "null"], "description": "One of [i18n] locales; null: the browser's"},
    "time_zone": {"type": ["string", "null"], "description": "An IANA zone; null: the shop's"}}}
PROFILE = {**USER, "properties": {**USER["properties"], "pending_email": {"type": ["string", "null"]}}}
CONFIRM_PASSWORD = {"type": "object", "required": ["password"], "properties": {"password": PASSWORD}}
EXPORT = {"type": "object", "required": ["users"], "properties": {"users": USER},
          "additionalProperties": {"description": "What each other plugin keeps about you, under its name"}}
routes = web.RouteTableDef()


def accepted(message: str) -> web.Response:
    return web.json_response({"status": "accepted", "detail": _(message)}, status=202)


async def own_secret(request: web.Request) -> bytes | None:
    """The hash of the session or token this request is signed in with (kept when the password changes)."""
    who = identity(request)
    secret = bearer_token(request) if who.via == "token" else (await get_session(request)).get(SID)
    return digest(secret) if isinstance(secret, str) and secret.isascii() else None


@routes.post("/api/v1/users/password-reset")
@api_schema(request=RESET_REQUEST, response=ACCEPTED, status=202)
@rate_limit("auth")
async def api_reset_request(request: web.Request) -> web.Response:
    """Ask for a password reset link (anyone).

    ``{email}`` -> 202 with the same body whether or not an account has this email; the link
    (single-use, 1 h) goes to that address only. 422 without an email string."""
    body = await json_object(request)
    await request.app[ACCOUNT].request_password_reset(body.get("email"))
    return accepted(RESET_ASKED)


@routes.post("/api/v1/users/password-reset/confirm")
@api_schema(request=RESET_CONFIRM, status=204)
@rate_limit("auth")
async def api_reset_confirm(request: web.Request) -> web.Response:
    """Set a new password with the token of a reset link.

    ``{token, password}`` -> 204. Every session and token of the account ends; log in again. 422 for a
    used, expired or unknown token, or a password that is refused."""
    body = await json_object(request)
    await request.app[ACCOUNT].reset_password(body.get("token"), body.get("password"))
    return web.Response(status=204)


@routes.post("/api/v1/users/verify-email")
@api_schema(request=VERIFY, response=USER)
@rate_limit("auth")
async def api_verify_email(request: web.Request) -> web.Response:
    """Confirm an email address with the token of a verification link.

    ``{token}`` -> the account. 422 for a used, expired or unknown token; 409 when another account took
    the address meanwhile."""
    body = await json_object(request)
    return web.json_response(user_json(await request.app[ACCOUNT].verify_email(body.get("token"))))


@routes.post("/api/v1/users/me/password")
@api_schema(request=CHANGE_PASSWORD, status=204)
@rate_limit("auth")
@login_required
async def api_change_password(request: web.Request) -> web.Response:
    """Change the caller's password, given the current one.

    -> 204; 422 naming ``current_password`` when it is wrong. Every other session and token of the
    account ends; the one sending this stays."""
    body = await json_object(request)
    await request.app[ACCOUNT].change_password(identity(request).user_id, body.get("current_password"),
                                               body.get("new_password"), await own_secret(request))
    return web.Response(status=204)


@routes.patch("/api/v1/users/me")
@api_schema(request=PROFILE_CHANGES, response=PROFILE)
@rate_limit("auth")
@login_required
async def api_update_me(request: web.Request) -> web.Response:
    """Change the caller's name, email, language or time zone.

    Absent keys stay -> the account. A new email is applied once the link mailed to it is followed;
    until then it is ``pending_email``."""
    body = await json_object(request)
    user, pending = await request.app[ACCOUNT].update_profile(identity(request).user_id, body)
    return web.json_response({**user_json(user), "pending_email": pending})


@routes.delete("/api/v1/users/me")
@api_schema(request=CONFIRM_PASSWORD, status=204)
@rate_limit("auth")
@login_required
async def api_delete_me(request: web.Request) -> web.Response:
    """Delete the caller's account, confirmed with its password.

    -> 204. Sessions and tokens die with it; orders and invoices are kept, anonymised. 422 naming
    ``password`` when it is wrong."""
    body = await json_object(request)
    await request.app[ACCOUNT].delete(identity(request).user_id, body.get("password"))
    return web.Response(status=204)


@routes.get("/api/v1/users/me/export")
@api_schema(response=EXPORT)
@login_required
async def api_export(request: web.Request) -> web.Response:
    """Everything the shop keeps about the caller, as one JSON document (a download)."""
    user_id = identity(request).user_id
    data = {"users": user_json(await request.app[USERS].get(user_id)),
            **await export_personal_data(request.app, user_id)}
    return web.json_response(data, dumps=_dumps, headers={
        "Content-Disposition": 'attachment; filename="my-data.json"', "Cache-Control": "no-store"})


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)
