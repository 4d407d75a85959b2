"""Typed keys for what this plugin keeps on the app."""
from aiohttp import web

from .relay import Relay
from .service import NotificationsService

NOTIFICATIONS = web.AppKey("notifications", NotificationsService)
RELAY = web.AppKey("notifications.relay", Relay)
