"""Typed keys for the services this plugin provides to the others (and the values they use)."""
from aiohttp import web

from .service import LineTax, RateTotal, TaxableLine, TaxesService, TaxResult  # noqa: F401 - for callers

TAXES = web.AppKey("taxes", TaxesService)

__all__ = ["TAXES", "TaxesService", "TaxableLine", "TaxResult", "LineTax", "RateTotal"]
