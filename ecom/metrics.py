"""Prometheus metrics at GET /metrics (never through nginx: operators scrape the workers directly).

/metrics answers only a loopback peer that did not come through a proxy (no X-Forwarded-For, Forwarded or
X-Real-IP header): a single-process shop bound to a public address serves the shop to the world, but its
metrics (routes, volumes, failures) only to a scraper on the same host. Anyone else gets a plain 404.

With `run.py --instances N` the supervisor gives every worker the same ``PROMETHEUS_MULTIPROC_DIR``
(prometheus-client's multiprocess mode), so any one worker's /metrics adds up all of them.
"""
from __future__ import annotations

import ipaddress
import os
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import REGISTRY, multiprocess

from .i18n import _

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("ecom_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram("ecom_http_request_seconds", "Time to answer an HTTP request", ["method", "route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
EVENTS = Counter("ecom_events_handled_total", "Event deliveries handled", ["topic", "consumer", "outcome"])
# circuit breakers (ecom/resilience.py), one per plugin database and process. The state across workers is
# the worst of the live ones (livemax): one worker that cannot reach a database is worth an alert.
CIRCUIT_STATES = {"closed": 0, "half-opened": 1, "opened": 2}
CIRCUIT_STATE = Gauge("ecom_circuit_state", "Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open",
                      ["circuit"], multiprocess_mode="livemax")
CIRCUIT_REFUSED = Counter("ecom_circuit_refused_total", "Calls refused by an open circuit without trying",
                          ["circuit"])


def route_of(request: web.BaseRequest) -> str:
    """The route's pattern (/orders/{id}), never the raw path: labels must stay few (access lines use it too)."""
    match_info = getattr(request, "match_info", None)
    resource = match_info.route.resource if match_info is not None and match_info.route else None
    return resource.canonical if resource is not None else "unmatched"


_SERIES: dict[tuple[str, str, int], tuple] = {}
_SERIES_MAX = 10_000  # methods are the client's choice: past this many series, stop remembering new ones


def _series(method: str, route: str, status: int) -> tuple:
    """The (counter, histogram) children of one label set. prometheus_client's ``labels()`` checks and
    joins the labels and takes a lock on every call; the children it returns never change, so they are
    looked up once per label set and kept here."""
    key = (method, route, status)
    series = _SERIES.get(key)
    if series is None:
        series = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
        if len(_SERIES) < _SERIES_MAX:
            _SERIES[key] = series
    return series


@web.middleware
async def metrics_middleware(request: web.Request, handler):
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = route_of(request)
        if route != "/metrics":
            count, latency = _series(request.method, route, status)
            count.inc()
            latency.observe(time.perf_counter() - started)


PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def direct_loopback(request: web.Request) -> bool:
    """True when the peer is on this host and no proxy relayed the request (a proxy may run on this host)."""
    try:
        local = ipaddress.ip_address((request.remote or "").split("%")[0]).is_loopback
    except ValueError:  # a unix socket or an unknown peer
        return False
    return local and not any(name in request.headers for name in PROXY_HEADERS)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; every worker's numbers when the workers share a multiprocess folder."""
    if not direct_loopback(request):
        raise web.HTTPNotFound(text=_("Not found."))
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def worker_exited(pid: int, folder: str) -> None:
    """Tell the workers' shared multiprocess store that a worker is gone (its live gauges stop counting)."""
    multiprocess.mark_process_dead(pid, folder)
