"""Typed keys for the services this plugin provides to the others."""
from aiohttp import web

from .service import InvoicesService

INVOICES = web.AppKey("invoices", InvoicesService)
