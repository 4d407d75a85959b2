"""Typed keys for what the gateway keeps on the app and on each request."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..config import Config

if TYPE_CHECKING:
    from .auth import Identity
    from .ratelimit import RateLimiter

CONFIG = web.AppKey("ecom.config", Config)
TRUSTED_PROXIES = web.AppKey("ecom.trusted_proxies", frozenset)
RATE_LIMITER: web.AppKey["RateLimiter"] = web.AppKey("ecom.rate_limiter", Any)
REQUEST_ID = web.RequestKey("ecom.request_id", str)
IDENTITY: web.RequestKey["Identity | None"] = web.RequestKey("ecom.identity", Any)
