"""Connection limits for a shop with no nginx in front: a header/body read timeout and a connection cap.

aiohttp has no header-read timeout of its own: a client that connects and sends half a request line is
kept until the keep-alive timeout (75 s), and thousands of them use up the process's file descriptors
(slowloris). So the server's protocol factory (``aiohttp.web_server.Server``) is replaced by one whose
``RequestHandler`` notes when it started waiting for a request head and when bytes last arrived:

- a connection that has not delivered complete request headers within ``header_timeout`` seconds of
  connecting (or of the first byte of its next request on a keep-alive connection) is closed;
- a request whose body stops arriving for ``header_timeout`` seconds while its handler waits is closed;
- at ``max_connections`` open connections, the OLDEST connection with no request in progress is closed
  to admit the new one, so an attacker's idle sockets cannot lock real clients out. If every connection
  is busy, the new one is refused (closed) instead: the cap stays below the file limit.

One timer per server sweeps the connections once a second (a few thousand attribute reads).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from .fdlimit import fit_connections

log = logging.getLogger("ecom.http_guard")
FD_RESERVE = 256  # descriptors kept for the database pools, the broker, files and the listener itself
SWEEP_SECONDS = 1.0


class GuardedHandler(RequestHandler):
    """A RequestHandler that records when it began waiting for a request head and when bytes last came."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        now = self._loop.time()
        self.head_since: float | None = now  # waiting for a complete request head since; None = not waiting
        self.last_bytes = now
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        now = self._loop.time()
        self.last_bytes = now
        if data and self.head_since is None and not self.busy():
            self.head_since = now  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self._messages or self._request_in_progress:
            self.head_since = None  # a whole head was parsed (or the connection is already serving one)

    def busy(self) -> bool:
        """A request is being served (or is parsed and queued)."""
        return bool(self._request_in_progress or self._messages)

    def stalled(self, now: float, timeout: float) -> str | None:
        """Why this connection should be closed now, or None."""
        if self.head_since is not None and not self.busy() and now - self.head_since > timeout:
            return "request headers not complete"
        request = self._current_request
        payload = getattr(request, "_payload", None)
        if (self._request_in_progress and payload is not None and getattr(payload, "_waiter", None) is not None
                and now - self.last_bytes > timeout):
            return "request body stalled"
        return None


class GuardedServer(Server):
    """The protocol factory: GuardedHandlers, a cap on open connections, and the timeout sweep."""

    def __init__(self, *args: Any, max_connections: int, header_timeout: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self._open: dict[GuardedHandler, None] = {}  # insertion order = age: the oldest first
        self._sweeper: asyncio.TimerHandle | None = None
        self.closed_idle = self.closed_slow = self.refused = 0

    def __call__(self) -> RequestHandler:
        return GuardedHandler(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if len(self._open) >= self.max_connections and not self._evict_oldest_idle():
            self.refused += 1
            handler.force_close()
            return
        self._open[handler] = None
        if self._sweeper is None:
            self._sweeper = self._loop.call_later(SWEEP_SECONDS, self._sweep)

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        self._open.pop(handler, None)
        super().connection_lost(handler, exc)

    def _evict_oldest_idle(self) -> bool:
        for old in self._open:
            if not old.busy():
                self._close(old)
                self.closed_idle += 1
                return True
        return False

    def _close(self, handler: GuardedHandler) -> None:
        self._open.pop(handler, None)
        handler.force_close()

    def _sweep(self) -> None:
        self._sweeper = None
        now = self._loop.time()
        for handler in [h for h in self._open if h.stalled(now, self.header_timeout)]:
            self._close(handler)
            self.closed_slow += 1
        if self._open:
            self._sweeper = self._loop.call_later(SWEEP_SECONDS, self._sweep)

    def pre_shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        super().pre_shutdown()


class GuardedAppRunner(web.AppRunner):
    """An AppRunner whose server is a GuardedServer (same handler, request factory and settings)."""

    def __init__(self, app: web.Application, *, max_connections: int, header_timeout: float, **kwargs: Any):
        super().__init__(app, **kwargs)
        self._guard = {"max_connections": fit_connections(max_connections, FD_RESERVE, "server.max_connections"), "header_timeout": header_timeout}

    async def _make_server(self) -> Server:
        plain = await super()._make_server()
        return GuardedServer(plain.request_handler, request_factory=plain.request_factory,
                             handler_cancellation=plain.handler_cancellation, loop=plain._loop,
                             **plain._kwargs, **self._guard)
