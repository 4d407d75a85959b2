"""Personal data, per plugin: what each plugin keeps about a person, for the owner's data export.

A plugin that stores personal data registers an exporter in its lifespan::

    register_exporter(ctx.app, "orders", exporter)   # async exporter(user_id: int) -> JSON-able value

The users plugin's export (GET /api/v1/users/me/export) collects every registered exporter's part under
the plugin's name. Erasure is event-driven instead: the users plugin publishes ``UserDeleted`` and each
plugin erases or anonymises what it keeps (plugins/users/events.py).
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from aiohttp import web

Exporter = Callable[[int], Awaitable[Any]]
EXPORTERS = web.AppKey("ecom.privacy.exporters", dict)


def register_exporter(app: web.Application, plugin: str, exporter: Exporter) -> None:
    app.setdefault(EXPORTERS, {})[plugin] = exporter


async def export_personal_data(app: web.Application, user_id: int) -> dict[str, Any]:
    """{plugin: what it keeps about ``user_id``} from every registered exporter, in registration order."""
    return {plugin: await exporter(user_id) for plugin, exporter in app.get(EXPORTERS, {}).items()}
