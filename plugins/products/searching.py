"""Checking catalog search parameters, and the one rule that keeps prices honest across currencies.

Prices are integer minor units of their own currency, so 1000 JPY and 1000 EUR are not "the same
price". A price range or a price order therefore only ever compares products of ONE currency: the one
the request names (``currency``), else the shop's ``display_currency``. A search without a price
filter or price sort shows every currency.
"""
from __future__ import annotations

import re

from ecom.errors import ValidationFailed
from ecom.i18n import _
from ecom.text import storable

from . import db
from .validation import CURRENCIES, MAX_PRICE

MAX_QUERY = 200
SORT_NAMES = tuple(db.SORTS)
SKU_QUERY = re.compile(r"[A-Za-z0-9._-]{2,64}")
PRICE_SORTS = ("price_asc", "price_desc")


def query_text(value: str | None, field: str, max_len: int) -> str | None:
    """The trimmed text of a search parameter, None when blank; ValidationFailed naming ``field``."""
    if value is None or not value.strip():
        return None
    if not storable(value) or len(value) > max_len:
        raise ValidationFailed(_("{field} is too long or has characters that are not allowed.").format(field=field),
                               errors={field: _("Use at most {max} ordinary characters.").format(max=max_len)})
    return value.strip()


def search_currency(currency: str | None, default: str, min_price: int | None, max_price: int | None,
                    sort: str) -> str | None:
    """The currency a search is limited to: the one asked for; else ``default`` (the display currency)
    when prices are compared (a price range or a price sort); else None (every currency)."""
    if currency is not None and currency.strip():
        code = currency.strip().upper()
        if code not in CURRENCIES:
            raise ValidationFailed(_("Choose a known currency."),
                                   errors={"currency": _("Use a known ISO-4217 code, like USD or EUR.")})
        return code
    if min_price is not None or max_price is not None or sort in PRICE_SORTS:
        return default
    return None


def check_search(sort: str, q: str | None, min_price: int | None, max_price: int | None, limit: int) -> None:
    errors = {}
    if sort not in db.SORTS or (sort == "relevance" and not q):
        errors["sort"] = _("Use one of {choices} (relevance needs q).").format(choices=", ".join(SORT_NAMES))
    for name, value in (("min_price", min_price), ("max_price", max_price)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRICE):
            errors[name] = _("Must be a whole number of cents between 0 and {max}.").format(max=MAX_PRICE)
    if not errors and min_price is not None and max_price is not None and min_price > max_price:
        errors["max_price"] = _("Must not be below min_price.")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        errors["limit"] = _("Must be between 1 and 100.")
    if errors:
        raise ValidationFailed(_("Some search parameters need attention."), errors=errors)


def sku_range(q: str) -> tuple[str, str] | None:
    """[prefix, next prefix) of lower-cased SKUs starting with ``q``, when ``q`` could start a SKU."""
    if not SKU_QUERY.fullmatch(q):
        return None
    low = q.lower()
    return low, low[:-1] + chr(ord(low[-1]) + 1)
