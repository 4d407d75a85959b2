"""Typed keys for what this plugin keeps on the app."""
from aiohttp import web

from .relay import Relay
from .service import WebhooksService

WEBHOOKS = web.AppKey("webhooks", WebhooksService)
RELAY = web.AppKey("webhooks.relay", Relay)
