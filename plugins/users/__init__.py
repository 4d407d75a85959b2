"""Users: accounts, argon2id passwords, revocable sessions and API tokens, roles, the log-in pages and
the account lifecycle (verification, password reset and change, profile, deletion, data export).

Provides ``USERS`` (keys.py), the gateway's ``AUTHENTICATOR`` and the language switcher's
``PREFERENCE_SAVER``; publishes the events of events.py through its outbox.
"""
from __future__ import annotations

from datetime import timedelta

from ecom.gateway.auth import AUTHENTICATOR
from ecom.i18n.web import PREFERENCE_SAVER
from ecom.plugin import Plugin, PluginContext

from . import account_api, account_pages, routes
from .account import AccountService
from .auth import UsersAuthenticator
from .keys import ACCOUNT, USERS
from .seed import seed
from .service import Passwords, UsersConfig, UsersService


async def lifespan(ctx: PluginContext):
    security, config = ctx.settings.security, ctx.config
    service = UsersService(ctx.pool, Passwords(security.argon2_time_cost, security.argon2_memory_kib),
                           token_ttl=timedelta(hours=config.token_ttl_hours),
                           session_ttl=timedelta(seconds=security.session_max_age),
                           min_password_length=config.min_password_length, events=ctx.events)
    account = AccountService(service)
    ctx.provide(USERS, service)
    ctx.provide(ACCOUNT, account)
    ctx.provide(AUTHENTICATOR, UsersAuthenticator(service))

    async def save_locale(request, who, locale: str) -> None:
        """The navbar switcher's choice, remembered on the account (it follows the user everywhere)."""
        await account.save_locale(who.user_id, locale)
    ctx.provide(PREFERENCE_SAVER, save_locale)
    yield


PLUGIN = Plugin(name="users", requires_core=">=0.2,<0.3",
                lifespan=lifespan, routes=[*routes.routes, *account_api.routes, *account_pages.routes],
                config=UsersConfig, static=None, seed=seed)
