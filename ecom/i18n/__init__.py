"""Languages: gettext catalogs (Babel), the request's locale and time zone, and locale-aware formatting.

Mark text in Python with ``_("...")`` (translated at once, in the current locale) and in templates with
``{{ _("...") }}`` or ``{% trans %}...{% endtrans %}``. Placeholders are named:
``_("Use {low} to {high} characters.").format(low=8, high=256)`` in Python, ``_("Hello %(name)s", name=n)``
in templates. Text defined at import time (module constants, error titles) is marked with ``N_("...")``
and translated where it is shown: ``_(CONSTANT)``.

The locale is a context variable: the i18n middleware sets it for each request (``?lang=``, the
``ecom_locale`` cookie set by the navbar switcher, the user's saved choice, ``Accept-Language``, the shop's
default, in that order); background work that writes to a person (a mail) wraps itself in
``use_locale(locale, time_zone)``. Each package keeps its catalogs in ``<package>/locale/<lang>/LC_MESSAGES/
messages.po`` (the core's in ``ecom/locale``, covering ``templates/`` too); ``python -m ecom.i18n`` extracts,
updates and checks them.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.support import LazyProxy

from .catalogs import CATALOGS, add_catalog_folder


@dataclass(frozen=True)
class Language:
    """The locale and time zone text is written in right now."""
    locale: str = "en"
    time_zone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.time_zone)


DEFAULT = Language()
_current: contextvars.ContextVar[Language] = contextvars.ContextVar("ecom.language", default=DEFAULT)
_settings = {"locales": ("en", "es"), "default": DEFAULT}


def configure(locales: tuple[str, ...], default_locale: str, time_zone: str) -> None:
    """Set the shop's languages (from ``[i18n]``); the first start-up of the process calls this."""
    _settings["locales"] = tuple(locales)
    _settings["default"] = Language(default_locale, time_zone)
    _current.set(_settings["default"])


def available_locales() -> tuple[str, ...]:
    return _settings["locales"]


def default_language() -> Language:
    return _settings["default"]


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def current() -> Language:
    return _current.get()


def current_locale() -> str:
    return _current.get().locale


def current_time_zone() -> ZoneInfo:
    return _current.get().zone


def set_language(language: Language) -> contextvars.Token:
    return _current.set(language)


def reset_language(token: contextvars.Token) -> None:
    _current.reset(token)


@contextlib.contextmanager
def use_locale(locale: str | None, time_zone: str | None = None) -> Iterator[Language]:
    """Write in ``locale`` (the shop's default when None or not offered) inside the block."""
    default = default_language()
    chosen = Language(locale if locale in available_locales() else default.locale, time_zone or default.time_zone)
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


# --- translation ---

def gettext(message: str) -> str:
    return CATALOGS.translations(current_locale()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return CATALOGS.translations(current_locale()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return CATALOGS.translations(current_locale()).pgettext(context, message)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark ``message`` for extraction only; translate it where it is shown with ``_(message)``."""
    return message


def lazy_gettext(message: str) -> LazyProxy:
    """A string translated each time it is used. Not JSON-serialisable: prefer N_ + _() where it may be."""
    return LazyProxy(gettext, message, enable_cache=False)


_ = gettext


# --- formatting ---

@functools.lru_cache(maxsize=None)  # one entry per offered language: a handful
def babel_locale(code: str) -> Locale:
    """The parsed ``Locale`` of a code, once per process. Every babel call parses its ``locale=`` string
    again (identifier, data lookup): on a catalog page of 24 prices that was 6% of a worker's CPU."""
    return Locale.parse(code)


def money(cents: int | None, currency: str = "USD") -> str:
    """Integer minor units -> '€1,234.50' (en) or '1.234,50 €' (es); no floats on the way."""
    if cents is None:
        return ""
    return _money(int(cents), (currency or "USD").strip().upper(), current_locale())


@functools.lru_cache(maxsize=4096)
def _money(cents: int, currency: str, locale: str) -> str:
    """One formatted price per (amount, currency, language), remembered: the same prices come back on every
    catalog page, and babel's pattern work (precision, symbol, grouping) is the costliest filter of a page.
    Pure, so a cache cannot go stale; bounded, so it cannot grow."""
    digits = babel_numbers.get_currency_precision(currency)
    amount = Decimal(cents).scaleb(-digits)
    return babel_numbers.format_currency(amount, currency, locale=babel_locale(locale))


@functools.lru_cache(maxsize=16)
def _decimal_pattern(digits: int) -> babel_numbers.NumberPattern:
    return babel_numbers.parse_pattern("#,##0" + ("." + "0" * digits if digits else ""))


def number(value: int | float | Decimal | None, digits: int | None = None) -> str:
    if value is None:
        return ""
    locale = babel_locale(current_locale())
    if digits is not None:
        return babel_numbers.format_decimal(value, format=_decimal_pattern(digits), locale=locale)
    return babel_numbers.format_decimal(value, locale=locale)


def percent(value: float | Decimal | None, digits: int = 0) -> str:
    if value is None:
        return ""
    locale = babel_locale(current_locale())
    pattern = locale.percent_formats[None].pattern  # "#,##0%" (en), "#,##0 %" (es)
    if digits:
        pattern = pattern.replace("#,##0", "#,##0." + "0" * digits, 1)
    return babel_numbers.format_percent(value, format=pattern, locale=locale)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def format_datetime(value: datetime | None, format: str = "medium") -> str:  # noqa: A002
    """In the reader's time zone and language. ``format``: short, medium, long, full or a CLDR pattern
    ("d MMM y, HH:mm"); a legacy strftime pattern ("%Y-%m-%d") is honoured too, in the reader's zone."""
    if value is None:
        return ""
    local = _aware(value).astimezone(current_time_zone())
    if "%" in format:
        return local.strftime(format)
    return babel_dates.format_datetime(local, format, tzinfo=current_time_zone(), locale=babel_locale(current_locale()))


def format_date(value: date | datetime | None, format: str = "medium") -> str:  # noqa: A002
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _aware(value).astimezone(current_time_zone()).date()
    if "%" in format:
        return value.strftime(format)
    return babel_dates.format_date(value, format, locale=babel_locale(current_locale()))


def format_time(value: datetime | None, format: str = "short") -> str:  # noqa: A002
    if value is None:
        return ""
    local = _aware(value).astimezone(current_time_zone())
    return babel_dates.format_time(local, format, tzinfo=current_time_zone(), locale=babel_locale(current_locale()))


def time_zone_name() -> str:
    return current().time_zone


def language_name(locale: str) -> str:
    """'English', 'Español': each language in its own words (what a switcher shows)."""
    return _language_name(locale)


@functools.lru_cache(maxsize=None)  # one per offered language; the navbar shows each twice on every page
def _language_name(locale: str) -> str:
    return Locale.parse(locale).get_display_name(locale).capitalize()


def install_jinja(env) -> None:
    """gettext callables (newstyle: autoescaped, %(name)s placeholders), filters and globals for templates."""
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True  # {% trans %} blocks: whitespace folded, as extraction does
    env.install_gettext_callables(gettext, ngettext, newstyle=True, pgettext=pgettext)
    from .jinja import install as install_fast_gettext  # late: jinja.py reads current_locale from here
    install_fast_gettext(env)
    env.filters.update({"money": money, "number": number, "percent": percent, "datetime": format_datetime,
                        "date": format_date, "time": format_time})
    env.globals.update({"current_locale": current_locale, "available_locales": available_locales,
                        "language_name": language_name, "time_zone_name": time_zone_name})


__all__ = ["_", "gettext", "ngettext", "pgettext", "N_", "lazy_gettext", "use_locale", "current", "current_locale",
           "current_time_zone", "available_locales", "default_language", "configure", "money", "number", "percent",
           "format_datetime", "format_date", "format_time", "language_name", "babel_locale", "install_jinja", "add_catalog_folder",
           "Language", "CATALOGS"]
