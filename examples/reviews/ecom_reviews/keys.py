"""Typed key of the service this plugin provides (other plugins may ``ctx.require(REVIEWS)``)."""
from aiohttp import web

from .service import ReviewsService

REVIEWS = web.AppKey("reviews", ReviewsService)
