"""Checking a new voucher or a change to one at the edge (pure, no I/O): every bad value is a
ValidationFailed naming its field, with a sentence."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from ecom.errors import ValidationFailed
from ecom.i18n import _
from ecom.text import storable

from .model import CODE_SHAPE, KINDS

MAX_AMOUNT = 10**10
MAX_USES = 10**9
MAX_CATEGORY = 60
CURRENCY_SHAPE = re.compile(r"[A-Z]{3}")
NEW_FIELDS = ("code", "kind", "percent", "amount_cents", "currency", "min_spend_cents", "starts_at", "ends_at",
              "max_uses", "max_uses_per_customer", "seller_id", "category", "active")
PATCH_FIELDS = ("active", "ends_at", "max_uses")


class Bad(Exception):
    """One field's problem (the sentence)."""


def normal_code(value: Any) -> str:
    if not isinstance(value, str) or not CODE_SHAPE.fullmatch(value.strip().upper()):
        raise Bad(_("Use 3 to 32 letters, digits, dashes or underscores."))
    return value.strip().upper()


def _int(low: int, high: int, nullable: bool = True) -> Callable[[Any], int | None]:
    def check(value: Any) -> int | None:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise Bad(_("Must be a whole number from {low} to {high}.").format(low=low, high=high))
        return value
    return check


def _currency(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not CURRENCY_SHAPE.fullmatch(value.strip().upper()):
        raise Bad(_("Use an ISO 4217 code, like EUR or USD."))
    return value.strip().upper()


def _when(value: Any) -> datetime | None:
    """ISO 8601; a time without a zone is UTC."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) and len(value) <= 40 else None
    except ValueError:
        when = None
    if when is None or not 2000 <= when.year <= 9999:
        raise Bad(_("Use an ISO 8601 date and time, like 2030-01-31T23:59:00Z."))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _category(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not storable(value) or not value.strip().isprintable():
        raise Bad(_("Use the product type as text, like Kitchen."))
    text = " ".join(value.split())
    if not 1 <= len(text) <= MAX_CATEGORY:
        raise Bad(_("Use 1 to {max} characters (or leave it empty for any product type).").format(max=MAX_CATEGORY))
    return text


def _kind(value: Any) -> str:
    if value not in KINDS:
        raise Bad(_("Choose percent or fixed."))
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Bad(_("Must be true or false."))
    return value


CHECKS: dict[str, Callable[[Any], Any]] = {
    "code": normal_code, "kind": _kind, "percent": _int(1, 100), "amount_cents": _int(1, MAX_AMOUNT),
    "currency": _currency, "min_spend_cents": _int(0, MAX_AMOUNT, nullable=False), "starts_at": _when,
    "ends_at": _when, "max_uses": _int(1, MAX_USES), "max_uses_per_customer": _int(1, MAX_USES),
    "seller_id": _int(1, 2**63 - 1), "category": _category, "active": _bool,
}


def _clean(data: Mapping[str, Any], allowed: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, str]]:
    cleaned, errors = {}, {}
    for name, value in data.items():
        if name not in allowed:
            errors[name] = _("Unknown field.")
            continue
        try:
            cleaned[name] = CHECKS[name](value)
        except Bad as err:
            errors[name] = str(err)
    return cleaned, errors


def check_new(data: Mapping[str, Any]) -> dict[str, Any]:
    """The cleaned fields of a new voucher (seller_id is left as given: the caller decides who owns it)."""
    cleaned, errors = _clean(data, NEW_FIELDS)
    cleaned.setdefault("min_spend_cents", 0)
    cleaned.setdefault("active", True)
    for name in ("code", "kind"):
        if name not in data:
            errors[name] = _("This field is required.")
    kind = cleaned.get("kind")
    if kind == "percent":
        if cleaned.get("percent") is None and "percent" not in errors:
            errors["percent"] = _("A percent voucher needs a percent from 1 to 100.")
        if cleaned.get("amount_cents") is not None:
            errors["amount_cents"] = _("A percent voucher has no amount.")
    elif kind == "fixed":
        if cleaned.get("amount_cents") is None and "amount_cents" not in errors:
            errors["amount_cents"] = _("A fixed voucher needs an amount in minor units, like 500.")
        if cleaned.get("percent") is not None:
            errors["percent"] = _("A fixed voucher has no percent.")
    needs_currency = kind == "fixed" or cleaned.get("min_spend_cents", 0) > 0
    if needs_currency and cleaned.get("currency") is None and "currency" not in errors:
        errors["currency"] = _("Amounts need a currency, like EUR.")
    _check_window(cleaned, errors)
    if errors:
        raise ValidationFailed(_("Some fields of the voucher are invalid."), errors=errors)
    return cleaned


def _check_window(cleaned: dict[str, Any], errors: dict[str, str]) -> None:
    starts, ends = cleaned.get("starts_at"), cleaned.get("ends_at")
    if starts is not None and ends is not None and ends <= starts and "ends_at" not in errors:
        errors["ends_at"] = _("Must be after the start.")


def check_patch(data: Mapping[str, Any]) -> dict[str, Any]:
    """A change: ``active``, ``ends_at`` (null = no end) and ``max_uses`` (null = unlimited)."""
    cleaned, errors = _clean(data, PATCH_FIELDS)
    if not data and not errors:
        errors["body"] = _("Send at least one of {fields}.").format(fields=", ".join(PATCH_FIELDS))
    if errors:
        raise ValidationFailed(_("The change is invalid."), errors=errors)
    return cleaned
