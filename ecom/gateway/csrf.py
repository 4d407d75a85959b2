"""CSRF protection for every state-changing request that a browser could forge.

A random token lives in the (encrypted) session; forms carry it in a hidden ``csrf_token`` field
(``{{ csrf_input() }}`` in templates), scripts in an ``X-CSRF-Token`` header. Exempt: requests with a
bearer token and JSON bodies (a cross-site form cannot send either without a CORS preflight).
"""
from __future__ import annotations

import hmac
import secrets

from aiohttp import web
from aiohttp_session import SESSION_KEY, get_session
from markupsafe import Markup, escape

from ..i18n import _
from ..inputs import form_data, form_field
from .auth import bearer_token

SAFE = {"GET", "HEAD", "OPTIONS", "TRACE"}
FIELD = "csrf_token"


def _token_of(session) -> str:
    token = session.get(FIELD)
    if not token:
        token = session[FIELD] = secrets.token_urlsafe(32)
    return token


async def csrf_token(request: web.Request) -> str:
    return _token_of(await get_session(request))


async def _sent_token(request: web.Request) -> str:
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await form_data(request)  # cached: the handler reads the same form again
        return form_field(form, FIELD)
    return ""


@web.middleware
async def csrf_middleware(request: web.Request, handler):
    if request.method in SAFE or bearer_token(request) or request.content_type == "application/json":
        return await handler(request)
    if request.match_info.http_exception is not None:  # no such route or method: its 404/405 comes first
        return await handler(request)
    session = await get_session(request)
    expected = session.get(FIELD, "")
    sent = await _sent_token(request)
    if not sent and request.path.startswith("/api/"):
        raise web.HTTPUnsupportedMediaType(text=_("Send JSON with 'Content-Type: application/json', or "
                                                  "authenticate with 'Authorization: Bearer <token>'."))
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise web.HTTPForbidden(text=_("The form expired or did not come from this site (missing or wrong CSRF "
                                       "token). Reload the page and try again."))
    return await handler(request)


class _LazyToken:
    """Made (and stored in the session) only when a page prints it, from the session current at that time."""

    def __init__(self, request: web.Request):
        self.request = request

    def __str__(self) -> str:
        return _token_of(self.request[SESSION_KEY])

    def __html__(self) -> str:
        return str(escape(str(self)))


async def csrf_context(request: web.Request) -> dict:
    """Template context: ``csrf_token`` and ``csrf_input()``."""
    await get_session(request)
    token = _LazyToken(request)
    return {"csrf_token": token,
            "csrf_input": lambda: Markup(f'<input type="hidden" name="{FIELD}" value="{escape(str(token))}">')}
