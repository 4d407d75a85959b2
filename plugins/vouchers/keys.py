"""Typed keys for the services this plugin provides to the others."""
from aiohttp import web

from .service import VouchersService

VOUCHERS = web.AppKey("vouchers", VouchersService)
