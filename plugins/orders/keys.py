"""Typed keys for what this plugin keeps on the app (other plugins may ``ctx.require(ORDERS)``)."""
from aiohttp import web

from .live import LiveHub
from .service import OrdersService

ORDERS = web.AppKey("orders", OrdersService)
LIVE = web.AppKey("orders.live", LiveHub)
