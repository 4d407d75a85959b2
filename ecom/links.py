"""Links between plugins' pages by a public page NAME: ``page_url(app, "orders.order", id=...)``.

Why: the core knows no domain and a plugin must not reach into another, yet a page often wants to link
to a page another plugin serves (an invoice to its order, the product page to the cart). Testing
``"orders" in shop_plugins`` and writing ``/orders/...`` by hand made every such template know both the
other plugin's name and its URL layout. Instead the owner plugin names the pages others may link to
(aiohttp named routes: ``@routes.get("/orders/{id:...}", name="orders.order")``), and a template asks
``page_url("orders.order", id=order_id)``: the URL string, or ``None`` when no plugin serves that page
in this shop, so the link (or form) is simply left out.

Rules, checked here:
- A plugin names only its own routes: the name starts with ``"<plugin>."`` (start-up error otherwise,
  one line), so no plugin can claim or shadow another's public page.
- ``None`` for an unknown name AND for parts that do not fit the route: a missing or extra part, or a
  value its pattern refuses (``id="../admin"`` for ``ord_[a-z0-9]{20,40}``). aiohttp's ``url_for``
  itself formats any value without checking it against the pattern, so a link built from data that is
  not what the owner serves (an old or foreign reference) is left out rather than pointing nowhere.
"""
from __future__ import annotations

from typing import Any, Iterable

import jinja2
from aiohttp import web

from .plugin import Plugin, PluginError


def page_url(app: web.Application, name: str, **parts: Any) -> str | None:
    """The path of the page ``name`` with ``parts`` filled in (``"/orders/ord_..."``), or ``None`` when
    no plugin in this shop serves ``name`` or the parts do not fit its route."""
    resource = app.router.named_resources().get(name)
    if resource is None:
        return None
    info = resource.get_info()
    values = {key: str(value) for key, value in parts.items()}
    if "path" in info and "formatter" not in info:  # a plain path: no parts
        return info["path"] if not values else None
    pattern = info.get("pattern")
    if pattern is None or "formatter" not in info or set(values) != set(pattern.groupindex):
        return None  # a static folder or sub-app is not a page; missing or extra parts
    try:
        url = resource.url_for(**values)
    except (KeyError, ValueError, TypeError):
        return None
    match = pattern.fullmatch(url.path)  # the decoded path, as the router would see it
    if match is None or match.groupdict() != values:
        return None
    return url.raw_path


def check_names(plugins: Iterable[Plugin]) -> None:
    """Each named route of a plugin carries its plugin's name as prefix (``orders.order``)."""
    for plugin in plugins:
        for route in plugin.routes:
            name = (getattr(route, "kwargs", None) or {}).get("name")
            if name is not None and not str(name).startswith(plugin.name + "."):
                raise PluginError(f"plugin {plugin.name}: route name {name!r} must start with {plugin.name + '.'!r}")


def install(app: web.Application, env: jinja2.Environment, plugins: Iterable[Plugin]) -> None:
    """Check the plugins' route names and give templates ``page_url(name, **parts)`` for this app."""
    check_names(plugins)

    def template_page_url(name: str, **parts: Any) -> str | None:
        return page_url(app, name, **parts)
    env.globals["page_url"] = template_page_url
