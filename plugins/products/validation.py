"""Checking product fields at the edge: every bad value is a ValidationFailed naming its field."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from ecom.errors import ValidationFailed
from ecom.i18n import _, ngettext
from ecom.text import storable

MAX_NAME, MAX_DESCRIPTION, MAX_TYPE, MAX_SKU = 200, 5000, 60, 64
MAX_PRICE = 10**10
MAX_WEIGHT = 1_000_000  # grams (a tonne): the column's CHECK
DEFAULT_WEIGHT = 500
TAX_CLASSES = ("standard", "reduced", "zero")  # the taxes plugin has a rate for each, per country
SKU_SHAPE = re.compile(r"[A-Za-z0-9._-]{1,64}")
# ISO-4217 codes we take; the number is the count of minor-unit digits (JPY has none: price_cents is yen).
CURRENCIES = {
    "USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2,
    "HUF": 2, "RON": 2, "BGN": 2, "ISK": 0, "CAD": 2, "AUD": 2, "NZD": 2, "CNY": 2, "HKD": 2, "SGD": 2,
    "KRW": 0, "INR": 2, "BRL": 2, "MXN": 2, "ZAR": 2, "TRY": 2, "ILS": 2, "AED": 2, "SAR": 2, "THB": 2,
    "MYR": 2, "IDR": 2, "PHP": 2, "TWD": 2, "CLP": 0, "COP": 2, "ARS": 2,
}
FIELDS = ("name", "description", "price_cents", "currency", "type", "sku", "active", "weight_grams", "tax_class")
REQUIRED = ("name", "price_cents", "currency", "type", "sku")


def _text(value: Any, max_len: int, *, required: bool = True, one_line: bool = True) -> tuple[str, str | None]:
    """(cleaned value, error or None)."""
    if value is None:
        return "", _("This field is required.") if required else None
    if not isinstance(value, str):
        return "", _("Must be a string.")
    if not storable(value):
        return "", _("Contains characters that are not allowed.")
    value = value.strip()
    if required and not value:
        return "", _("This field is required.")
    if len(value) > max_len:
        return "", _("Use at most {max} characters.").format(max=max_len)
    if one_line and not value.isprintable():
        return "", _("Use letters, digits, spaces and punctuation only (no line breaks or control characters).")
    return value, None


def _price(value: Any) -> tuple[int, str | None]:
    if value is None:
        return 0, _("This field is required.")
    if isinstance(value, bool) or not isinstance(value, int):
        return 0, _("Must be a whole number of cents (minor units), like 1999.")
    if not 0 <= value <= MAX_PRICE:
        return 0, _("Must be between 0 and {max}.").format(max=MAX_PRICE)
    return value, None


def _weight(value: Any) -> tuple[int, str | None]:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_WEIGHT:
        return 0, _("Must be a whole number of grams between 0 and {max}.").format(max=MAX_WEIGHT)
    return value, None


def _tax_class(value: Any) -> tuple[str, str | None]:
    if isinstance(value, str) and value.strip().lower() in TAX_CLASSES:
        return value.strip().lower(), None
    return "", _("Use one of {choices}.").format(choices=", ".join(TAX_CLASSES))


def _currency(value: Any) -> tuple[str, str | None]:
    if isinstance(value, str) and value.strip().upper() in CURRENCIES:
        return value.strip().upper(), None
    return "", _("Use a known ISO-4217 code, like USD or EUR.") if value is not None else _("This field is required.")


def _sku(value: Any) -> tuple[str, str | None]:
    text, error = _text(value, MAX_SKU)
    if error is None and not SKU_SHAPE.fullmatch(text):
        return "", _("Use 1 to 64 letters, digits, dots, dashes or underscores.")
    return text, error


CHECKS = {
    "name": lambda v: _text(v, MAX_NAME),
    "description": lambda v: _text("" if v is None else v, MAX_DESCRIPTION, required=False, one_line=False),
    "price_cents": _price,
    "currency": _currency,
    "type": lambda v: _text(v, MAX_TYPE),
    "sku": _sku,
    "active": lambda v: (v, None) if isinstance(v, bool) else (True, _("Must be true or false.")),
    "weight_grams": _weight,
    "tax_class": _tax_class,
}


def check_fields(values: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """The cleaned fields; ValidationFailed naming every bad, missing (unless ``partial``) or unknown one."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for key in values:
        if key not in CHECKS:
            errors[str(key)[:64]] = _("Unknown field (known: {fields}).").format(fields=", ".join(FIELDS))
    for key, check in CHECKS.items():
        if key not in values and (partial or key not in REQUIRED):
            continue
        value, error = check(values.get(key))
        if error:
            errors[key] = error
        else:
            cleaned[key] = value
    if errors:
        raise ValidationFailed(_("Some fields need attention."), errors=errors)
    if not partial:
        cleaned.setdefault("description", "")
        cleaned.setdefault("active", True)
        cleaned.setdefault("weight_grams", DEFAULT_WEIGHT)
        cleaned.setdefault("tax_class", TAX_CLASSES[0])
    return cleaned


def parse_price(text: str, currency: str) -> int:
    """A price typed in major units ("12.50") -> minor units (1250), exactly (no floats)."""
    digits = CURRENCIES.get(currency.strip().upper(), 2)
    try:
        amount = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        message = _("Enter a price like 12.50.")
        raise ValidationFailed(message, errors={"price": message}) from None
    if not amount.is_finite() or amount < 0:
        message = _("Enter a price of 0 or more.")
        raise ValidationFailed(message, errors={"price": message})
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value():
        message = (ngettext("Use at most {n} decimal place.", "Use at most {n} decimal places.", digits).format(n=digits)
                   if digits else _("This currency has no decimal places."))
        raise ValidationFailed(message, errors={"price": message})
    if minor > MAX_PRICE:
        message = _("That price is too large.")
        raise ValidationFailed(message, errors={"price": message})
    return int(minor)


def parse_weight(text: str) -> int:
    """A weight typed in grams in a form ("1250") -> 1250; ValidationFailed naming ``weight_grams``."""
    raw = text.strip().replace(" ", "")
    value = int(raw) if raw.isascii() and raw.isdecimal() and len(raw) <= 7 else -1
    if not 0 <= value <= MAX_WEIGHT:
        message = _("Enter the weight in whole grams, from 0 to {max}.").format(max=MAX_WEIGHT)
        raise ValidationFailed(message, errors={"weight_grams": message})
    return value


def format_price(cents: int, currency: str) -> str:
    """Minor units -> the plain decimal text a form shows ("12.50")."""
    digits = CURRENCIES.get(currency, 2)
    return str(Decimal(cents).scaleb(-digits)) if digits else str(cents)
