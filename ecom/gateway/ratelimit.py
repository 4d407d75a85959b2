"""In-process rate limits (a token bucket per client and bucket). Nginx limits across workers in front.

A handler opts into a stricter bucket with ``@rate_limit("auth")``; everything else is in "default".
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from ..i18n import _

from .keys import RATE_LIMITER
from .request_id import client_ip


def rate_limit(bucket: str):
    def mark(handler):
        handler.ecom_rate_limit = bucket
        return handler
    return mark


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    def __init__(self, per_minute: dict[str, int], max_clients: int = 100_000):
        self.per_minute = per_minute
        self.max_clients = max_clients
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def limits(self, bucket: str) -> bool:
        """Whether ``bucket`` has a limit at all (0 = off, as benches and tests configure)."""
        return self.per_minute.get(bucket, 0) > 0

    def allow(self, client: str, bucket: str) -> float:
        """0 when allowed, else the seconds to wait."""
        limit = self.per_minute.get(bucket, 0)
        if limit <= 0:
            return 0.0
        now = time.monotonic()
        rate = limit / 60.0
        burst = max(1.0, limit / 4) if bucket != "default" else float(limit)
        b = self._buckets.get((client, bucket))
        if b is None:
            if len(self._buckets) >= self.max_clients:
                self._buckets.clear()  # bounded memory under a flood of addresses
            b = self._buckets[(client, bucket)] = _Bucket(burst, now)
        b.tokens = min(burst, b.tokens + (now - b.stamp) * rate)
        b.stamp = now
        if b.tokens >= 1:
            b.tokens -= 1
            return 0.0
        return (1 - b.tokens) / rate


def _bucket_of(request: web.Request) -> str:
    handler = getattr(request.match_info, "handler", None)
    bucket = getattr(handler, "ecom_rate_limit", None)
    if bucket == "auth" and request.method in ("GET", "HEAD"):
        return "default"  # viewing a login form is not a login attempt
    return bucket or "default"


@web.middleware
async def rate_limit_middleware(request: web.Request, handler):
    if request.path.startswith(("/static/", "/media/")):  # files: cheap, and a page needs many at once
        return await handler(request)
    limiter: RateLimiter = request.app[RATE_LIMITER]
    bucket = _bucket_of(request)
    if not limiter.limits(bucket):  # off: allow() would say 0 anyway; skip parsing X-Forwarded-For for it
        return await handler(request)
    wait = limiter.allow(client_ip(request), bucket)
    if wait:
        seconds = int(wait) + 1
        raise web.HTTPTooManyRequests(text=_("Too many requests; try again in {seconds} s.").format(seconds=seconds),
                                      headers={"Retry-After": str(seconds)})
    return await handler(request)
