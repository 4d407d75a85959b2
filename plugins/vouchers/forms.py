"""The create form of the voucher pages, turned into the API's shape (and errors back to form fields).

Amounts are typed as money ("5", "4.99") and become minor units with integer arithmetic; an empty box
means "none" (no limit, any product type, no start or end). The start and end boxes (datetime-local, no
zone) are read in the reader's time zone, the one the pages show times in.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Mapping

from ecom.i18n import _, current_time_zone

from .model import ZERO_DECIMAL

FIELDS = ("code", "kind", "percent", "amount", "currency", "min_spend", "starts_at", "ends_at", "max_uses",
          "max_uses_per_customer", "category")
TO_FORM = {"amount_cents": "amount", "min_spend_cents": "min_spend"}  # API field -> form field
MONEY = re.compile(r"(\d{1,10})(?:[.,](\d{1,2}))?")
WHOLE = re.compile(r"\d{1,10}")


def _money(text: str, currency: str) -> int:
    match = MONEY.fullmatch(text)
    if match is None or (currency in ZERO_DECIMAL and match.group(2)):
        raise ValueError
    whole, fraction = match.group(1), match.group(2) or ""
    if currency in ZERO_DECIMAL:
        return int(whole)
    return int(whole) * 100 + int(fraction.ljust(2, "0") or 0)


def from_form(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the API body, errors of boxes that are not even numbers)."""
    values = {name: form.get(name, "").strip() for name in FIELDS}
    body: dict[str, Any] = {"code": values["code"], "kind": values["kind"]}
    errors: dict[str, str] = {}
    currency = values["currency"].upper()
    if currency:
        body["currency"] = currency
    for name in ("percent", "max_uses", "max_uses_per_customer"):
        if values[name]:
            if WHOLE.fullmatch(values[name]):
                body[name] = int(values[name])
            else:
                errors[name] = _("Enter a whole number (or leave it empty).")
    for name, target in (("amount", "amount_cents"), ("min_spend", "min_spend_cents")):
        if values[name]:
            try:
                body[target] = _money(values[name], currency)
            except ValueError:
                errors[name] = _("Enter an amount like 5 or 4.99.")
    for name in ("starts_at", "ends_at"):
        if values[name]:
            body[name] = _local_time(values[name])
    if values["category"]:
        body["category"] = values["category"]
    return body, errors


def _local_time(text: str) -> str:
    """A zone-less time typed in the page, as ISO 8601 in the reader's zone (anything else is left for
    the checks to name)."""
    try:
        when = datetime.fromisoformat(text) if len(text) <= 40 else None
    except ValueError:
        return text
    if when is None or when.tzinfo is not None:
        return text
    try:
        return when.replace(tzinfo=current_time_zone()).isoformat()
    except (ValueError, OverflowError):
        return text


def form_errors(errors: Mapping[str, str]) -> dict[str, str]:
    return {TO_FORM.get(name, name): text for name, text in errors.items()}


def form_values(form: Mapping[str, str]) -> dict[str, str]:
    return {name: form.get(name, "") for name in FIELDS}
