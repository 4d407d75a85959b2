"""Card checks and card tokens. Pure functions, no I/O: the service and the scheduler use them.

A card is checked twice: when orders tokenizes it at checkout (a bad card is a 422 there) and again
when the payment is processed (a token is only as good as the card inside it). The number and CVC
leave this module only to be sealed into a card token (vault.py); ``CardDetails`` hides them from ``repr``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from ecom.errors import ValidationFailed
from ecom.i18n import N_, _

DECLINED_TEST_NUMBER = "4000000000000002"  # DESIGN §10: the documented card that is always declined
MAX_YEARS_AHEAD = 25
# Why the processor refuses a card: stored in English (payments.failure_reason, PaymentFailed.reason) and
# translated where a person reads it (``_(reason)``), so each reader sees it in their own language.
INVALID_NUMBER = N_("Invalid card number")
CARD_EXPIRED = N_("Card expired")
INVALID_CVC = N_("Invalid CVC")
CARD_DECLINED = N_("Card declined")
BRANDS = ("visa", "mastercard", "amex", "discover", "other")


@dataclass(frozen=True)
class CardToken:
    """What tokenize() returns: ``token`` goes into PaymentRequested, brand and last4 may be shown."""
    token: str
    brand: str
    last4: str


@dataclass(frozen=True)
class CardDetails:
    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)

    @property
    def brand(self) -> str:
        return brand_of(self.number)

    @property
    def last4(self) -> str:
        return self.number[-4:]


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("34", "37"):
        return "amex"
    if "51" <= number[:2] <= "55" or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number.startswith(("6011", "65")) or "644" <= number[:3] <= "649" or "622126" <= number[:6] <= "622925":
        return "discover"
    return "other"


def _digits(value: Any, *, separators: str = "") -> str | None:
    """``value`` as a string of ASCII digits (ints allowed, bools not), or None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    for sep in separators:
        text = text.replace(sep, "")
    return text if text.isascii() and text.isdigit() else None


def expired(exp_month: int, exp_year: int, today: datetime | None = None) -> bool:
    """A card is good through the last day of its expiry month."""
    today = today or datetime.now(timezone.utc)
    return (exp_year, exp_month) < (today.year, today.month)


def parse_card(card: Any, today: datetime | None = None) -> CardDetails:
    """Check a card as a shopper typed it; ValidationFailed naming every bad field."""
    card = card if isinstance(card, Mapping) else {}
    today = today or datetime.now(timezone.utc)
    errors: dict[str, str] = {}
    number = _digits(card.get("card_number"), separators=" -")
    if number is None:
        errors["card_number"] = _("Enter the card number (digits, spaces and dashes only).")
    elif not 12 <= len(number) <= 19:
        errors["card_number"] = _("A card number has 12 to 19 digits.")
    elif not luhn_ok(number):
        errors["card_number"] = _("This card number is not valid; check it for typos.")
    month_text, year_text = _digits(card.get("exp_month")), _digits(card.get("exp_year"))
    month = int(month_text) if month_text and len(month_text) <= 2 else 0
    if not 1 <= month <= 12:
        errors["exp_month"] = _("Enter the expiry month as a number from 1 to 12.")
    year = int(year_text) if year_text and len(year_text) in (2, 4) else 0
    year = 2000 + year if year and len(year_text or "") == 2 else year
    if not today.year - 100 < year <= today.year + MAX_YEARS_AHEAD:
        errors["exp_year"] = _("Enter the expiry year, like 2030 or 30.")
    elif "exp_month" not in errors and expired(month, year, today):
        errors["exp_year" if year < today.year else "exp_month"] = _("This card has expired.")
    cvc = _digits(card.get("cvc"))
    amex = number is not None and brand_of(number) == "amex"
    if cvc is None or not 3 <= len(cvc) <= 4:
        errors["cvc"] = _("Enter the 3 or 4 digit security code (CVC).")
    elif amex and len(cvc) != 4:
        errors["cvc"] = _("American Express cards have a 4 digit security code.")
    if errors:
        raise ValidationFailed(_("Check the card details."), errors=errors)
    return CardDetails(number, month, year, cvc)


def decline_reason(card: CardDetails, today: datetime | None = None) -> str | None:
    """Why the processor refuses ``card`` (None: approved), as an English msgid. DESIGN §10's test cards."""
    if not 12 <= len(card.number) <= 19 or not card.number.isdigit() or not luhn_ok(card.number):
        return INVALID_NUMBER
    if not 1 <= card.exp_month <= 12 or expired(card.exp_month, card.exp_year, today):
        return CARD_EXPIRED
    if not card.cvc.isdigit() or not 3 <= len(card.cvc) <= 4 or (card.brand == "amex" and len(card.cvc) != 4):
        return INVALID_CVC
    if card.number == DECLINED_TEST_NUMBER:
        return CARD_DECLINED
    return None
