"""Typed keys for the services this plugin provides to the others (and the values they return)."""
from aiohttp import web

from .service import CannotShip, Quote, ShippingService  # noqa: F401 - for callers of the service

SHIPPING = web.AppKey("shipping", ShippingService)

__all__ = ["SHIPPING", "ShippingService", "Quote", "CannotShip"]
