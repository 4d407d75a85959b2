"""Typed keys for the services this plugin provides to the others (ACCOUNT: its own pages and API)."""
from aiohttp import web

from .account import AccountService
from .service import UsersService

USERS = web.AppKey("users", UsersService)
ACCOUNT = web.AppKey("users.account", AccountService)
