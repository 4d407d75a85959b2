"""HTTP caching of catalog reads: a weak ETag (hash of the body), 304 for a matching If-None-Match, and
Cache-Control public for guests, private for logged-in identities, no-store for seller pages.

A guest's page depends on the language (Accept-Language, or the ``ecom_locale`` cookie, which Vary: Cookie
already covers), so Vary names Accept-Language: nginx and browsers keep one copy per language."""
from __future__ import annotations

import hashlib

from aiohttp import web
from aiohttp_session import get_session

from ecom.gateway import identity
from ecom.gateway.flash import KEY as FLASH_KEY

NO_STORE = "no-store"
PRIVATE = "private, no-cache"
VARY = "Cookie, Authorization, Accept-Language"  # pages and problem details are in the reader's language


def etag_of(body: bytes) -> str:
    return f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'


def _matches(header: str | None, etag: str) -> bool:
    """Weak comparison, as If-None-Match requires (RFC 9110 13.1.2)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == ours for tag in header.split(","))


async def cache_control(request: web.Request, max_age: int) -> str:
    """Public for a guest (unless a flash message is waiting for them: that page is theirs alone)."""
    if identity(request) is not None:
        return PRIVATE
    session = await get_session(request)
    if FLASH_KEY in session:
        return PRIVATE
    return f"public, max-age={max_age}"


async def conditional(request: web.Request, response: web.Response, max_age: int) -> web.Response:
    """``response`` with ETag and Cache-Control, or a bodiless 304 when the client's copy is current."""
    etag = etag_of(response.body or b"")
    headers = {"ETag": etag, "Cache-Control": await cache_control(request, max_age), "Vary": VARY}
    if _matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    response.headers.update(headers)
    return response


def no_store(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Cache-Control"] = NO_STORE
    return response
