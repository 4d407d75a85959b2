"""Reading request input at the edge: every malformed body is a clear 4xx, never a 500."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .errors import ValidationFailed
from .i18n import _


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body; 415, 400 or 422 for anything else."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text=_("Send a JSON object with 'Content-Type: application/json'."))
    try:
        body = json.loads(await request.read())
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
        raise web.HTTPBadRequest(text=_("The request body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise ValidationFailed(_("The request body must be a JSON object."))
    return body


async def form_data(request: web.Request):
    """The posted form (urlencoded or multipart); 400 when it cannot be decoded."""
    try:
        return await request.post()
    except (ValueError, HttpProcessingError):
        raise web.HTTPBadRequest(text=_("The form data could not be read.")) from None


def form_field(form, name: str, default: str = "") -> str:
    """A text field of a posted form ('' for a missing field or an uploaded file in its place)."""
    value = form.get(name, default)
    return value if isinstance(value, str) else default


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site (no open redirects), else ``default``."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")) and target.isprintable():
        return target
    return default


def query_int(request: web.Request, name: str, default: int, *, minimum: int = 0, maximum: int = 10**9) -> int:
    """An integer query parameter; 422 naming it when it is not a whole number in range."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(_("{name} must be a whole number.").format(name=name),
                               errors={name: _("must be a whole number")}) from None
    if not minimum <= value <= maximum:
        raise ValidationFailed(_("{name} must be between {minimum} and {maximum}.").format(
            name=name, minimum=minimum, maximum=maximum),
            errors={name: _("must be between {minimum} and {maximum}").format(minimum=minimum, maximum=maximum)})
    return value
