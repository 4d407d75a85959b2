"""Who is calling: the gateway's authenticator, and logging a browser in and out.

A browser holds a random session id (``sid``) in its encrypted session cookie; the database holds its
SHA-256 in ``user_sessions``. Logging out revokes that row, so a saved copy of the cookie is useless.
"""
from __future__ import annotations

from aiohttp import web
from aiohttp_session import get_session, new_session

from ecom.gateway.auth import Identity, bearer_token
from ecom.gateway.csrf import FIELD as CSRF_FIELD

from .service import Caller, UsersService

SID = "sid"
NOT_CARRIED = (SID, CSRF_FIELD)  # session keys a log-in starts afresh


def as_identity(caller: Caller | None, via: str) -> Identity | None:
    return caller and Identity(caller.id, caller.email, caller.name, roles=caller.roles, via=via,
                               locale=caller.locale, time_zone=caller.time_zone)


class UsersAuthenticator:
    """Provided under ecom.gateway.auth.AUTHENTICATOR: a bearer token wins over the session cookie."""

    def __init__(self, service: UsersService):
        self.service = service

    async def authenticate(self, request: web.Request) -> Identity | None:
        token = bearer_token(request)
        if token is not None:
            return as_identity(await self.service.caller_for("token", token), "token")
        sid = (await get_session(request)).get(SID)
        return as_identity(await self.service.caller_for("session", sid), "session") if isinstance(sid, str) else None


async def log_in(request: web.Request, service: UsersService, user_id: int) -> None:
    """A fresh session (new cookie, new CSRF token) for ``user_id``. What a guest kept in the session
    before (a guest cart, messages to show) carries over; the sign-in and the CSRF token never do."""
    before = {k: v for k, v in (await get_session(request)).items() if k not in NOT_CARRIED}
    session = await new_session(request)
    session.update(before)
    session[SID] = await service.start_session(user_id)


async def log_out(request: web.Request, service: UsersService) -> None:
    session = await get_session(request)
    sid = session.get(SID)
    if isinstance(sid, str):
        await service.revoke("session", sid)
    session.invalidate()
