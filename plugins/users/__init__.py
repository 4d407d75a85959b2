"""Users: accounts, argon2id passwords, revocable sessions and API tokens, roles, and the log-in pages.

Provides ``USERS`` (keys.py) and the gateway's ``AUTHENTICATOR``.
"""
from __future__ import annotations

from datetime import timedelta

from ecom.gateway.auth import AUTHENTICATOR
from ecom.plugin import Plugin, PluginContext

from . import routes
from .auth import UsersAuthenticator
from .keys import USERS
from .seed import seed
from .service import Passwords, UsersConfig, UsersService


async def lifespan(ctx: PluginContext):
    security, config = ctx.settings.security, ctx.config
    service = UsersService(ctx.pool, Passwords(security.argon2_time_cost, security.argon2_memory_kib),
                           token_ttl=timedelta(hours=config.token_ttl_hours),
                           session_ttl=timedelta(seconds=security.session_max_age),
                           min_password_length=config.min_password_length)
    ctx.provide(USERS, service)
    ctx.provide(AUTHENTICATOR, UsersAuthenticator(service))
    yield


PLUGIN = Plugin(name="users", lifespan=lifespan, routes=routes.routes, config=UsersConfig, static=None,
                seed=seed)
