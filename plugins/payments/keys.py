"""Typed keys for the services this plugin provides to the others."""
from aiohttp import web

from .service import PaymentsService

PAYMENTS = web.AppKey("payments", PaymentsService)
