"""Every request gets an id (taken from a trusted proxy's X-Request-Id, else new), echoed in the response."""
from __future__ import annotations

import os
import re

from aiohttp import web

from ..logs import request_id_var
from .keys import REQUEST_ID, TRUSTED_PROXIES

_VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_ip(request: web.Request) -> str:
    """The client's address: X-Forwarded-For's last hop only when the peer is a trusted proxy (nginx)."""
    peer = request.remote or "-"
    if peer in request.app[TRUSTED_PROXIES]:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1]
    return peer


def new_request_id() -> str:
    """32 random hex digits, as uuid4().hex gave, without building a UUID object on every request."""
    return os.urandom(16).hex()


@web.middleware
async def request_id_middleware(request: web.Request, handler):
    incoming = request.headers.get("X-Request-Id", "")
    trusted = (request.remote or "") in request.app[TRUSTED_PROXIES]
    rid = incoming if trusted and _VALID.match(incoming) else new_request_id()
    request[REQUEST_ID] = rid
    token = request_id_var.set(rid)
    try:
        response = await handler(request)
        response.headers["X-Request-Id"] = rid
        return response
    except web.HTTPException as exc:
        exc.headers["X-Request-Id"] = rid
        raise
    finally:
        request_id_var.reset(token)
