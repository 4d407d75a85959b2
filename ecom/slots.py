"""Page slots: named places in the shop's pages that any plugin fills with a template fragment.

A plugin lists ``Slot(name, template, context=None, order=100)`` in ``Plugin(slots=...)``; a page that
offers the slot ``name`` shows every plugin's fragment there, ordered by ``order`` then plugin name. Why:
a plugin that wants to show something on another plugin's page (stars on the product page, a link in the
account menu, a card on a dashboard) had to copy that page's whole template into ``templates/`` (issue 14),
and the built-in plugins tested ``"orders" in shop_plugins`` in each other's templates.

How a page offers a slot. Jinja renders synchronously here while a slot's ``context`` is a coroutine, so
the page's handler fills the slots before it renders:

- ``await fill(request, name, **values)`` runs each slot's ``context(request, **values)`` (``None`` from it:
  that slot shows nothing), renders its fragment, and keeps the result for the page, where the template
  places it with ``{{ slot(name) }}``; it also returns it (a ``Markup``), for parts rendered apart.
- ``await fill_items(request, name, items)`` is for per-item slots (``product.card``): ONE
  ``context(request, items)`` call per slot for the whole list, answering ``{item id: dict}``, so that a
  plugin makes one query per page, not one per card. Returns ``{item id: Markup}``.
- ``{{ slot(name) }}`` with nothing filled renders the slots that have no context function right then, with
  the page's own context (``request``, ``identity``, ``csrf_input``...): the navbar (templates/base.html,
  on every page) costs nothing but its fragments. A slot of ``name`` with a context function is then
  left out (its page must ``fill`` it), except in the layout's slots (navbar, footer), whose context
  functions run before every page's handler (``install``), only when a plugin has one.

Isolation: each slot's context call and render are guarded; an error or a context slower than
``TIMEOUT`` (1 s) logs one line naming the plugin and the slot, and that slot shows nothing: the page works.

Escaping: only rendered fragments (autoescaped templates) become ``Markup``; a slot cannot hand raw HTML.

Shared slots (``SHARED``: product.details, product.card) sit in the parts of the catalog and product pages
that are cached for everyone (nginx for guests, plugins/products/pagecache.py for shoppers): their context
function may use the request for its language only, and their fragment gets no ``identity``, no
``request`` and no CSRF token, so that nothing personal can land in a cached page.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Hashable, Iterable, Mapping

import jinja2
from aiohttp import web
from aiohttp_jinja2 import REQUEST_CONTEXT_KEY, get_env
from markupsafe import Markup

log = logging.getLogger("ecom.slots")

TIMEOUT = 1.0
SHARED = frozenset({"product.details", "product.card"})  # in cached page parts: the same for everyone
LAYOUT = ("navbar", "footer")  # in templates/base.html: no handler to fill them
EMPTY = Markup("")


@dataclass(frozen=True)
class Slot:
    """A fragment for the slot ``name``: ``template`` is a template name as pages use them
    (``"<plugin>/<file>"``); ``context`` an ``async def ctx(request, **values) -> dict | None`` (per-item
    slots: ``async def ctx(request, items) -> {item id: dict}``); lower ``order`` first."""
    name: str
    template: str
    context: Callable[..., Awaitable[Any]] | None = None
    order: int = 100


@dataclass(frozen=True)
class Placed:
    """A slot with the plugin that offers it (for the order and for the log line)."""
    plugin: str
    slot: Slot


class SlotRegistry:
    """The enabled plugins' slots per name, in page order (``order``, then plugin name)."""

    def __init__(self, plugins: Iterable[Any]):
        by_name: dict[str, list[Placed]] = {}
        for plugin in plugins:
            for slot in getattr(plugin, "slots", ()) or ():
                by_name.setdefault(slot.name, []).append(Placed(plugin.name, slot))
        self._by_name = {name: sorted(found, key=lambda p: (p.slot.order, p.plugin))
                         for name, found in by_name.items()}

    def __getitem__(self, name: str) -> list[Placed]:
        return self._by_name.get(name, [])

    def __iter__(self):
        return (placed for found in self._by_name.values() for placed in found)


SLOTS = web.AppKey("ecom.slots", SlotRegistry)
FILLED = web.RequestKey("ecom.slots.filled", dict)  # name -> Markup filled by the page's handler


def _failed(placed: Placed, err: BaseException) -> None:
    reason = "timed out after %.0f s" % TIMEOUT if isinstance(err, TimeoutError) else f"{type(err).__name__}: {err}"
    log.warning("slot %s of plugin %s failed, left empty: %s", placed.slot.name, placed.plugin, reason)


def _base_context(request: web.Request, name: str) -> dict:
    """What a fragment sees besides its own values: the page's context (identity, CSRF input...), or
    nothing personal at all in a shared slot."""
    if name in SHARED:
        return {}
    return {**request.get(REQUEST_CONTEXT_KEY, {}), "request": request}


async def _context(placed: Placed, request: web.Request, *args, **values) -> Any:
    return await asyncio.wait_for(placed.slot.context(request, *args, **values), TIMEOUT)


def _render(env: jinja2.Environment, placed: Placed, context: Mapping) -> Markup:
    return Markup(env.get_template(placed.slot.template).render(context))


async def _one(request: web.Request, env: jinja2.Environment, placed: Placed, values: dict) -> Markup:
    try:
        own = values if placed.slot.context is None else await _context(placed, request, **values)
        if own is None:
            return EMPTY
        return _render(env, placed, {**_base_context(request, placed.slot.name), **own})
    except Exception as err:  # noqa: BLE001 - one plugin's slot must not break the page
        _failed(placed, err)
        return EMPTY


def _env(request: web.Request) -> jinja2.Environment:
    return get_env(request.app)


async def render(request: web.Request, name: str, **values) -> Markup:
    """Every plugin's fragment for the page slot ``name``, in order (their context calls run at once)."""
    found = request.app[SLOTS][name] if SLOTS in request.app else []
    if not found:
        return EMPTY
    env = _env(request)
    parts = await asyncio.gather(*(_one(request, env, placed, values) for placed in found))
    return Markup("").join(parts)


async def fill(request: web.Request, name: str, **values) -> Markup:
    """``render`` and keep the result for ``{{ slot(name) }}`` in this request's page."""
    html = await render(request, name, **values)
    request.setdefault(FILLED, {})[name] = html
    return html


async def _items_of(request: web.Request, env: jinja2.Environment, placed: Placed,
                    items: list[dict]) -> dict[Hashable, Markup]:
    try:
        if placed.slot.context is None:
            per_item = {item["id"]: {"item": item} for item in items}
        else:
            per_item = await _context(placed, request, items) or {}
        base = _base_context(request, placed.slot.name)
        return {key: _render(env, placed, {**base, **own}) for key, own in per_item.items() if own is not None}
    except Exception as err:  # noqa: BLE001 - one plugin's slot must not break the page
        _failed(placed, err)
        return {}


async def fill_items(request: web.Request, name: str, items: list[dict]) -> dict[Hashable, Markup]:
    """``{item id: Markup}`` for the per-item slot ``name`` over ``items`` (dicts with an ``id``): one
    context call per slot for the whole list, not one per item."""
    found = request.app[SLOTS][name] if SLOTS in request.app else []
    if not found or not items:
        return {}
    env = _env(request)
    answers = await asyncio.gather(*(_items_of(request, env, placed, items) for placed in found))
    merged: dict[Hashable, Markup] = {}
    for answer in answers:  # slot order within each item
        for key, html in answer.items():
            merged[key] = merged.get(key, EMPTY) + html
    return merged


@jinja2.pass_context
def slot(context: jinja2.runtime.Context, name: str) -> Markup:
    """``{{ slot("name") }}``: what the handler filled, else the context-free fragments rendered now."""
    request = context.get("request")
    if request is None:  # an early error page rendered without a request
        return EMPTY
    filled = request.get(FILLED, {})
    if name in filled:
        return filled[name]
    found = [p for p in request.app[SLOTS][name] if p.slot.context is None] if SLOTS in request.app else []
    if not found:
        return EMPTY
    env, base, parts = context.environment, _base_context(request, name), []
    for placed in found:
        try:
            parts.append(_render(env, placed, base))
        except Exception as err:  # noqa: BLE001 - one plugin's slot must not break the page
            _failed(placed, err)
    return Markup("").join(parts)


async def _layout_slots(request: web.Request) -> dict:
    """Context processor: fills the layout slots that have a context function, before the handler."""
    registry = request.app[SLOTS]
    for name in LAYOUT:
        if any(p.slot.context is not None for p in registry[name]):
            await fill(request, name)
    return {}


def install(app: web.Application, env: jinja2.Environment, plugins: Iterable[Any],
            processors: list) -> SlotRegistry:
    """Collect the plugins' slots (a template that does not exist stops start-up with one line naming the
    plugin), add the ``slot`` template global, and fill the navbar's context slots before pages if any."""
    from .plugin import PluginError
    registry = app[SLOTS] = SlotRegistry(plugins)
    for placed in registry:
        try:
            env.get_template(placed.slot.template)
        except jinja2.TemplateNotFound:
            raise PluginError(f"plugin {placed.plugin}: slot {placed.slot.name!r} names template "
                              f"{placed.slot.template!r}, which does not exist") from None
        except jinja2.TemplateError as err:
            raise PluginError(f"plugin {placed.plugin}: slot {placed.slot.name!r}: template "
                              f"{placed.slot.template!r}: {err}") from None
    env.globals["slot"] = slot
    if any(p.slot.context is not None for name in LAYOUT for p in registry[name]):
        processors.append(_layout_slots)
    return registry
