"""One-time messages shown on the next page that is rendered ("Product saved", "Wrong password")."""
from __future__ import annotations

from aiohttp import web
from aiohttp_session import SESSION_KEY, get_session

KEY = "flash"


async def flash(request: web.Request, message: str, category: str = "info") -> None:
    """category: a Bootstrap alert colour (success, info, warning, danger)."""
    session = await get_session(request)
    session[KEY] = [*session.get(KEY, []), [category, message]]


class _Flashes:
    """Popped from the session only when a page actually shows them (not by redirects or API calls)."""

    def __init__(self, request: web.Request):
        self.request = request

    def __iter__(self):
        session = self.request.get(SESSION_KEY)
        return iter(session.pop(KEY, []) if session is not None and KEY in session else [])


async def flash_context(request: web.Request) -> dict:
    await get_session(request)  # loaded now; read lazily at render time
    return {"flashes": _Flashes(request)}
