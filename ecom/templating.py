"""Jinja filters every page may use."""
from __future__ import annotations

from datetime import datetime

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CHF": "CHF ", "SEK": "kr ", "CAD": "CA$"}
ZERO_DECIMAL = {"JPY", "KRW"}


def money(cents: int | None, currency: str = "USD") -> str:
    """Integer minor units -> '$1,234.50' (no floats on the way)."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    symbol = CURRENCY_SYMBOLS.get(currency, currency + " ")
    if currency in ZERO_DECIMAL:
        return f"{sign}{symbol}{cents:,}"
    return f"{sign}{symbol}{cents // 100:,}.{cents % 100:02d}"


def datetime_format(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.strftime(fmt) if value else ""


FILTERS = {"money": money, "datetime": datetime_format}
