"""Every error becomes a clear response: problem+json for the API, a friendly page for HTML routes.

A 500 is always a bug: it is logged with the request id and the client sees only that id.
"""
from __future__ import annotations

import logging

import aiohttp_jinja2
import asyncpg
from aiohttp import web

from .. import jsonx
from ..errors import DomainError
from ..i18n import N_, _
from ..resilience import WEB, WEB_LIMITS, DependencyUnavailable
from .keys import REQUEST_ID

log = logging.getLogger("ecom.gateway")

TITLES = {400: N_("Bad request"), 401: N_("Authentication required"), 403: N_("Forbidden"), 404: N_("Not found"),
          405: N_("Method not allowed"), 409: N_("Conflict"), 413: N_("Request too large"),
          415: N_("Unsupported media type"), 422: N_("Invalid input"), 429: N_("Too many requests"),
          500: N_("Internal server error"), 503: N_("Service unavailable")}


def title_of(status: int) -> str:
    return _(TITLES.get(status, N_("Error")))


def wants_json(request: web.Request) -> bool:
    if request.path.startswith("/api/"):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def problem(status: int, detail: str = "", *, title: str | None = None, errors: dict | None = None,
            headers: dict | None = None, request: web.Request | None = None) -> web.Response:
    body = {"type": "about:blank", "title": title or title_of(status), "status": status,
            "detail": detail or title or title_of(status)}
    if errors:
        body["errors"] = errors
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="ecom"', **(headers or {})}
    if request is not None and REQUEST_ID in request:
        body["request_id"] = request[REQUEST_ID]
    return jsonx.json_response(body, status=status, headers=headers, content_type="application/problem+json")


def _page(request: web.Request, status: int, detail: str, headers: dict | None = None) -> web.Response:
    context = {"request": request, "status": status, "title": title_of(status), "detail": detail,
               "request_id": request.get(REQUEST_ID, "")}
    try:
        response = aiohttp_jinja2.render_template("error.html", request, context, status=status)
    except Exception:  # a broken template must not hide the original error
        log.exception("error page failed to render")
        response = web.Response(status=status, text=f"{status} {context['title']}: {detail}")
    if headers:
        response.headers.update(headers)
    return response


def error_response(request: web.Request, status: int, detail: str, *, title: str | None = None,
                   errors: dict | None = None, headers: dict | None = None) -> web.Response:
    if wants_json(request):
        return problem(status, detail, title=title, errors=errors, headers=headers, request=request)
    return _page(request, status, detail, headers)


UNAVAILABLE = (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError,
               asyncpg.InterfaceError, asyncpg.ObjectNotInPrerequisiteStateError, ConnectionError, FileNotFoundError)


def part_unavailable(request: web.Request, retry_after: int = 5) -> web.Response:
    """503 with Retry-After: the part of the shop this request needs is away; the rest still works."""
    return error_response(request, 503, _("This part of the shop is briefly unavailable. Please try again in a few "
                                          "seconds: the rest of the shop keeps working."),
                          headers={"Retry-After": str(retry_after)})


_PASS_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "Location")


@web.middleware
async def error_middleware(request: web.Request, handler):
    """Also where a request's database work gets its web limits (short waits: ecom/resilience.py)."""
    token = WEB.set(request.app.get(WEB_LIMITS))
    try:
        return await handler(request)
    except DependencyUnavailable as err:  # an open circuit: refused without waiting, no need to log each
        return part_unavailable(request, err.retry_after)
    except TimeoutError as err:  # a pooled connection or a statement did not come in time
        log.error("timed out on %s %s: %s", request.method, request.path, str(err) or "no answer in time")
        return part_unavailable(request)
    except DomainError as err:
        return error_response(request, err.status, _(err.detail), title=_(err.title), errors=err.errors or None)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.content_type in ("application/json", "application/problem+json"):
            raise  # already a prepared JSON answer
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else title_of(exc.status)
        if exc.status == 413:
            detail = _("The request body is larger than this server accepts.")
        headers = {k: exc.headers[k] for k in _PASS_HEADERS if k in exc.headers}
        return error_response(request, exc.status, detail, headers=headers)
    except UNAVAILABLE as err:  # the database went away: a passing outage, not a bug
        log.error("dependency unavailable on %s %s: %s", request.method, request.path, err)
        return error_response(request, 503, _("The shop is briefly unavailable. Please try again in a moment."),
                              headers={"Retry-After": "5"})
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(request, 500, _("Something went wrong on our side. Quote request id {id} if you "
                                              "report it.").format(id=request.get(REQUEST_ID, "-")))
    finally:
        WEB.reset(token)
