"""The postal address: one shape for the address book, checkout's ship-to / bill-to and the order's copy.

``validate_address`` is the single gate every address passes (API, pages, checkout): a pure function,
so orders can check a one-off ship-to with exactly the rules the address book uses.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from ecom.errors import ValidationFailed
from ecom.i18n import N_, _
from ecom.text import storable

from .countries import COUNTRIES, country_name, label_name
from .phone import to_e164

FIELDS = ("name", "company", "line1", "line2", "city", "region", "postal_code", "country", "phone")
MAX_LENGTH = {"name": 100, "company": 100, "line1": 120, "line2": 120, "city": 80, "region": 80,
              "postal_code": 16, "country": 2, "phone": 32}
ALWAYS_REQUIRED = ("name", "line1", "city", "country")
# Every sentence a shopper may read, in one place: English msgids, translated (``_()``) when an error is raised.
MESSAGES = {
    "text": N_("Enter this as text."),
    "line": N_("Use one line of printable text."),
    "long": N_("Use at most {max} characters."),
    "required": N_("This field is required."),
    "country": N_("Choose a country we ship to."),
    "postal": N_("Enter a valid postal code for {country}, like {example}."),
    "postal_required": N_("Enter the postal code."),
    "state": N_("Enter the state code for {country}, like {example}."),
    "province": N_("Enter the province code for {country}, like {example}."),
    "phone": N_("Enter a phone number, like {example}."),
    "invalid": N_("Some fields of the address need attention."),
}
REGION_KIND = {"US": ("state", "CA"), "CA": ("province", "ON"), "MX": ("state", "CMX")}
PHONE_EXAMPLE = "+34 911 234 567"


@dataclass(frozen=True)
class Address:
    """A checked address: every field a string ("" when absent), country ISO alpha-2, phone E.164."""
    name: str
    company: str
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str
    phone: str

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Address":
        """Rebuild a stored address (an order's JSON copy, a database row) without re-validating it."""
        return cls(**{name: str(data.get(name) or "") for name in FIELDS})

    @property
    def country_name(self) -> str:
        """The country in the reader's language ("Spain", "España")."""
        return country_name(self.country)

    def lines(self, country: str | None = None) -> list[str]:
        """The address as printed on a shipping label, in the destination country's usual order, the
        country in English (what carriers read) unless ``country`` names it otherwise."""
        style = COUNTRIES[self.country].style if self.country in COUNTRIES else "eu"
        if style == "na":
            place = [f"{self.city}, {' '.join(p for p in (self.region, self.postal_code) if p)}"]
        elif style == "uk":
            place = [self.city, self.region, self.postal_code]
        else:
            place = [" ".join(p for p in (self.postal_code, self.city) if p), self.region]
        lines = [self.name, self.company, self.line1, self.line2, *place, (country or label_name(self.country)).upper()]
        return [line for line in lines if line]

    def display_lines(self) -> list[str]:
        """``lines()`` for a page: the country in the reader's language."""
        return self.lines(self.country_name)


def _text(data: Mapping[str, Any], name: str, errors: dict[str, str], key: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[key] = _(MESSAGES["text"])
        return ""
    value = " ".join(value.split())  # one line, single spaces: labels and carriers want nothing else
    if not storable(value) or not value.isprintable():
        errors[key] = _(MESSAGES["line"])
    elif len(value) > MAX_LENGTH[name]:
        errors[key] = _(MESSAGES["long"]).format(max=MAX_LENGTH[name])
    return value


def validate_address(data: Mapping[str, Any], prefix: str = "") -> Address:
    """A checked, normalised Address from untrusted input (a JSON object or a form).

    Raises ValidationFailed whose ``errors`` name every bad field as ``prefix + field`` (for checkout:
    ``prefix="ship_to."``), each with a sentence saying what to enter."""
    if not isinstance(data, Mapping):
        raise ValidationFailed(_(MESSAGES["invalid"]), errors={prefix.rstrip(".") or "address": _(MESSAGES["text"])})
    errors: dict[str, str] = {}
    values = {name: _text(data, name, errors, prefix + name) for name in FIELDS}
    for name in ALWAYS_REQUIRED:
        if not values[name] and prefix + name not in errors:
            errors[prefix + name] = _(MESSAGES["required"])
    code = values["country"].upper()
    country = COUNTRIES.get(code)
    if country is None:
        if values["country"] and prefix + "country" not in errors:
            errors[prefix + "country"] = _(MESSAGES["country"])
    else:
        values["country"] = code
        _check_postal(values, country, errors, prefix)
        _check_region(values, country, errors, prefix)
        if values["phone"] and prefix + "phone" not in errors:
            phone = to_e164(values["phone"], country)
            if phone is None:
                errors[prefix + "phone"] = _(MESSAGES["phone"]).format(example=PHONE_EXAMPLE)
            values["phone"] = phone or values["phone"]
    if errors:
        raise ValidationFailed(_(MESSAGES["invalid"]), errors=errors)
    return Address(**values)


def _check_postal(values: dict[str, str], country, errors: dict[str, str], prefix: str) -> None:
    key = prefix + "postal_code"
    if key in errors:
        return
    if not values["postal_code"]:
        if country.postal_required:
            errors[key] = _(MESSAGES["postal_required"])
        return
    canonical = country.postal_code(values["postal_code"])
    if canonical is None:
        errors[key] = _(MESSAGES["postal"]).format(country=country_name(country.code), example=_(country.postal_example))
    else:
        values["postal_code"] = canonical


def _check_region(values: dict[str, str], country, errors: dict[str, str], prefix: str) -> None:
    key = prefix + "region"
    if country.regions is None or key in errors:
        return
    region = values["region"].upper()
    if region not in country.regions:
        kind, example = REGION_KIND[country.code]
        errors[key] = _(MESSAGES[kind]).format(country=country_name(country.code), example=example)
    else:
        values["region"] = region
