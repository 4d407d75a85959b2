"""Graceful drain of an app process behind nginx: no 502 for any request, POSTs included.

Why: aiohttp's shutdown closes idle keep-alive connections at once. nginx keeps such connections to
its upstreams and may be sending a request on one at that very moment; it then answers 502 and, for a
POST (not idempotent), rightly does not try another worker. So a stopping worker behind a proxy:

1. stops listening: a new connection from nginx is refused, which nginx retries on another worker
   (nothing was sent, so that is safe for a POST too: ``proxy_next_upstream error``);
2. keeps serving requests on the connections it has, each answered with ``Connection: close`` and
   then closed by us, so nginx never reuses them;
3. waits until nginx has closed the idle ones itself (its upstream ``keepalive_timeout``, set in
   ecom/nginx/nginx.conf.j2 to ``NGINX_UPSTREAM_IDLE`` seconds) or for ``NGINX_UPSTREAM_IDLE + 2`` s;
   only then does the usual shutdown close what is left (long-lived event streams, which reconnect).

A process with no proxy in front (``[server] trusted_proxies`` empty) skips this: browsers open new
connections by themselves and Ctrl-C should not wait.
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from .config import Config

log = logging.getLogger("ecom.server")
NGINX_UPSTREAM_IDLE = 4  # seconds; ecom/nginx/nginx.conf.j2 says the same to nginx


class Drain:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.active = False

    async def mark(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """on_response_prepare: while draining, say ``Connection: close`` and close after the answer.
        (aiohttp has written the Connection header's value by now but sends the headers after us.)"""
        if self.active:
            response.headers["Connection"] = "close"
            response.force_close()


def drain_seconds(config: Config) -> Drain | None:
    return Drain(NGINX_UPSTREAM_IDLE + 2) if config.server.trusted_proxies else None


async def drain(runner: web.BaseRunner, state: Drain) -> None:
    """Steps 1-3 above; returns when every connection is closed or the time is up."""
    state.active = True
    for site in list(runner.sites):
        await site.stop()
    server = runner.server
    loop = asyncio.get_running_loop()
    deadline = loop.time() + state.seconds
    while server is not None and server.connections and loop.time() < deadline:
        await asyncio.sleep(0.05)
    left = len(server.connections) if server is not None else 0
    log.info("drained: %s connection(s) left after %.1f s", left, state.seconds - max(0.0, deadline - loop.time()))
