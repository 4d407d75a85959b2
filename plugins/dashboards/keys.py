"""Typed keys for the services this plugin provides."""
from aiohttp import web

from .service import DashboardsService

DASHBOARDS = web.AppKey("dashboards", DashboardsService)
