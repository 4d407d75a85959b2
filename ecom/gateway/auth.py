"""Who is calling: an Identity resolved once per request by the authenticator a plugin provides.

The core knows no users table. The users plugin provides an ``Authenticator`` under
:data:`AUTHENTICATOR`; this middleware asks it for the identity behind the session cookie or the
``Authorization: Bearer`` token and stores it under the IDENTITY request key (None for a guest); read it with ``identity(request)``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

from aiohttp import web

from ..errors import Forbidden, Unauthorized
from ..i18n import _
from ..i18n.web import apply_user_preferences
from .keys import IDENTITY


@dataclass(frozen=True)
class Identity:
    user_id: int
    email: str
    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    via: str = "session"  # "session" or "token"
    locale: str | None = None     # the user's saved language ("es"); None = the browser's
    time_zone: str | None = None  # the user's saved IANA time zone ("Europe/Madrid"); None = the shop's

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class Authenticator(Protocol):
    async def authenticate(self, request: web.Request) -> Identity | None: ...


AUTHENTICATOR = web.AppKey("ecom.authenticator", object)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


@web.middleware
async def auth_middleware(request: web.Request, handler):
    authenticator = request.app.get(AUTHENTICATOR)
    if authenticator is None or request.path.startswith(("/static/", "/media/")):  # files need no database
        request[IDENTITY] = None
        return await handler(request)
    request[IDENTITY] = await authenticator.authenticate(request)
    if request[IDENTITY] is None and bearer_token(request) is not None:
        raise Unauthorized(_("The bearer token is invalid, expired or revoked."))
    apply_user_preferences(request, request[IDENTITY])
    return await handler(request)


def identity(request: web.Request) -> Identity | None:
    return request.get(IDENTITY)


def _login_needed(request: web.Request) -> Exception:
    if request.path.startswith("/api/"):
        return Unauthorized(_("Log in first: send 'Authorization: Bearer <token>'."))
    return web.HTTPSeeOther(f"/login?next={quote(request.path_qs)}")


def login_required(handler):
    """Guests get a 401 on the API and a redirect to /login on pages."""
    @functools.wraps(handler)
    async def wrapper(request: web.Request):
        if identity(request) is None:
            raise _login_needed(request)
        return await handler(request)
    wrapper.ecom_auth = ()  # any identity; ecom/openapi.py documents it
    return wrapper


def roles_required(*roles: str):
    """Only identities with one of ``roles`` (admins always pass)."""
    def decorate(handler):
        @functools.wraps(handler)
        async def wrapper(request: web.Request):
            who = identity(request)
            if who is None:
                raise _login_needed(request)
            if not who.has_role(*roles):
                raise Forbidden(_("This needs the {roles} role.").format(roles=_(" or ").join(roles)))
            return await handler(request)
        wrapper.ecom_auth = roles  # ecom/openapi.py documents it
        return wrapper
    return decorate
