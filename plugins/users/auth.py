"""Who is calling: the gateway's authenticator, and logging a browser in and out.

A browser holds a random session id (``sid``) in its encrypted session cookie; the database holds its
SHA-256 in ``user_sessions``. Logging out revokes that row, so a saved copy of the cookie is useless.
"""
from __future__ import annotations

from aiohttp import web
from aiohttp_session import get_session, new_session

from ecom.gateway.auth import Identity, bearer_token

from .service import User, UsersService

SID = "sid"


def as_identity(user: User | None, via: str) -> Identity | None:
    return user and Identity(user.id, user.email, user.name, roles=user.roles, via=via)


class UsersAuthenticator:
    """Provided under ecom.gateway.auth.AUTHENTICATOR: a bearer token wins over the session cookie."""

    def __init__(self, service: UsersService):
        self.service = service

    async def authenticate(self, request: web.Request) -> Identity | None:
        token = bearer_token(request)
        if token is not None:
            return as_identity(await self.service.user_for("token", token), "token")
        sid = (await get_session(request)).get(SID)
        return as_identity(await self.service.user_for("session", sid), "session") if isinstance(sid, str) else None


async def log_in(request: web.Request, service: UsersService, user_id: int) -> None:
    session = await new_session(request)  # a fresh cookie: nothing from before the log-in carries over
    session[SID] = await service.start_session(user_id)


async def log_out(request: web.Request, service: UsersService) -> None:
    session = await get_session(request)
    sid = session.get(SID)
    if isinstance(sid, str):
        await service.revoke("session", sid)
    session.invalidate()
