"""Phone numbers to E.164 ("+34911234567") without a network or a numbering-plan database.

People type numbers as they dial them: with spaces, dashes, dots, parentheses, a "00" international
prefix, a "+33 (0)6 ..." mix, or a national number with its trunk prefix ("020 7946 0958" in the UK).
A national number is read in the address's country: its trunk prefix is dropped and its calling code put
in front. Only the digit count is checked (per country when the number is of the address's country,
E.164's 8-15 digits otherwise): enough to catch typos, not a promise that the line exists.
"""
from __future__ import annotations

import re

from .countries import Country

TYPED = re.compile(r"\+?[\d\s().\-/]+")


def to_e164(raw: str, country: Country) -> str | None:
    """The number in E.164, or None when it cannot be a phone number of that shape."""
    text = raw.strip().replace("(0)", "")
    if not TYPED.fullmatch(text) or text.count("+") > 1:
        return None
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        full = digits
    elif digits.startswith("00"):
        full = digits[2:]
    else:
        national = digits
        if country.trunk and national.startswith(country.trunk):
            national = national[len(country.trunk):]
        full = country.calling_code + national
    if not 8 <= len(full) <= 15 or full.startswith("0"):
        return None
    if full.startswith(country.calling_code):
        low, high = country.phone_digits
        national = full[len(country.calling_code):]
        if not low <= len(national) <= high or (country.trunk == "0" and national.startswith("0")):
            return None
    return "+" + full
