"""The request's language: chosen once per request, before anything renders, and the navbar switcher.

Order of preference: ``?lang=xx`` (a shareable link), the ``ecom_locale`` cookie (the switcher), the
logged-in user's saved choice (``Identity.locale``, applied once the gateway knows who is calling),
``Accept-Language``, the shop's ``[i18n] default_locale``. The time zone is the user's saved one, else the
shop's ``[i18n] time_zone``.
"""
from __future__ import annotations

import functools

from aiohttp import web
from babel import Locale, UnknownLocaleError, negotiate_locale
from yarl import URL

from . import Language, available_locales, default_language, reset_language, set_language

COOKIE = "ecom_locale"
PREFERENCE_SAVER = web.AppKey("ecom.i18n.preference_saver", object)  # async (request, identity, locale) -> None
LANGUAGE = web.RequestKey("ecom.language", Language)


def _offered(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().replace("-", "_")
    offered = available_locales()
    if value in offered:
        return value
    try:
        language = Locale.parse(value).language
    except (ValueError, UnknownLocaleError, TypeError):
        return None
    return language if language in offered else None


def accept_language(header: str) -> str | None:
    """The best offered locale for an ``Accept-Language`` header (q-values honoured), or None."""
    return _best_offered(header, available_locales())


@functools.lru_cache(maxsize=512)
def _best_offered(header: str, offered: tuple[str, ...]) -> str | None:
    """Parsed once per distinct header (browsers send a handful): this runs on every request."""
    weighted = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag.strip()))
    preferred = [tag.replace("-", "_") for _, _, tag in sorted(weighted)]
    return negotiate_locale(preferred, list(offered), sep="_") or next(
        (o for o in map(_offered, preferred) if o), None)


def chosen_locale(request: web.Request, user_locale: str | None = None) -> str:
    return (_offered(request.query.get("lang")) or _offered(request.cookies.get(COOKIE))
            or _offered(user_locale) or accept_language(request.headers.get("Accept-Language", ""))
            or default_language().locale)


@web.middleware
async def language_middleware(request: web.Request, handler):
    """Outer: pick the language for everything this request renders, error pages included."""
    language = Language(chosen_locale(request), default_language().time_zone)
    request[LANGUAGE] = language
    token = set_language(language)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _label(exc, request)
        raise
    finally:
        reset_language(token)
    _label(response, request)
    return response


def _label(response, request: web.Request) -> None:
    headers = getattr(response, "headers", None)
    if headers is not None and not getattr(response, "prepared", False):
        headers.setdefault("Content-Language", request[LANGUAGE].locale)


def apply_user_preferences(request: web.Request, identity) -> None:
    """Inner: once the caller is known, their saved language and time zone apply (the cookie still wins)."""
    if identity is None:
        return
    saved_locale, saved_zone = getattr(identity, "locale", None), getattr(identity, "time_zone", None)
    if saved_locale is None and saved_zone is None:
        return  # chosen_locale would choose again what language_middleware chose, with the shop's zone
    language = Language(chosen_locale(request, saved_locale), saved_zone or default_language().time_zone)
    request[LANGUAGE] = language
    set_language(language)  # undone by language_middleware when the request ends


def _without_lang(target: str) -> str:
    """The page to go back to, minus a ``lang`` parameter that would override the new choice."""
    url = URL(target)
    return str(url.with_query({k: v for k, v in url.query.items() if k != "lang"})) if "lang" in url.query else target


async def choose_language(request: web.Request) -> web.Response:  # always raises its 303
    """GET /locale?set=es&next=/path: remember the choice in a cookie (the guests' switcher: plain links, so
    cached pages carry no CSRF token). Only a cookie is set: the account's saved choice changes by POST."""
    from ecom.inputs import local_path
    locale = _offered(request.query.get("set"))
    response = web.HTTPSeeOther(_without_lang(local_path(request.query.get("next"), "/")))
    if locale is not None:
        _remember(request, response, locale)
    raise response


def _remember(request: web.Request, response: web.StreamResponse, locale: str) -> None:
    from ecom.gateway.keys import CONFIG
    secure = request.app[CONFIG].security.secure_cookies if CONFIG in request.app else False
    response.set_cookie(COOKIE, locale, max_age=365 * 24 * 3600, httponly=True, samesite="Lax", path="/",
                        secure=secure)
    response.headers["Cache-Control"] = "no-store"


async def switch_language(request: web.Request) -> web.Response:  # always raises its 303
    """POST /locale (form: locale, next): remember the choice in a cookie, and on the account if any."""
    from ecom.gateway import identity as identity_of  # the gateway imports this module
    from ecom.inputs import form_data, form_field, local_path
    form = await form_data(request)
    locale = _offered(form_field(form, "locale"))
    target = _without_lang(local_path(form_field(form, "next"), "/"))
    response = web.HTTPSeeOther(target)
    if locale is None:
        raise response
    _remember(request, response, locale)
    saver = request.app.get(PREFERENCE_SAVER)
    who = identity_of(request)
    if saver is not None and who is not None:
        await saver(request, who, locale)
    raise response
