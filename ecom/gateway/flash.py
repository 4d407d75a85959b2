"""One-time messages shown on the next page ("Product saved", "Wrong password")."""
from __future__ import annotations

from aiohttp import web
from aiohttp_session import get_session

KEY = "flash"


async def flash(request: web.Request, message: str, category: str = "info") -> None:
    """category: a Bootstrap alert colour (success, info, warning, danger)."""
    session = await get_session(request)
    session[KEY] = [*session.get(KEY, []), [category, message]]


async def flash_context(request: web.Request) -> dict:
    session = await get_session(request)
    messages = session.pop(KEY, []) if KEY in session else []
    return {"flashes": messages}
