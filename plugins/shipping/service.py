"""Where stock ships from, which zone a destination is in, and what a shipment costs.

Price of a shipment = ``base_cents + per_kg_cents * ceil(weight_grams / 1000)`` (every started
kilogram; a 0 g shipment pays the base), and 0 when its subtotal is at least ``free_above_cents``.
A seller's own rate for a (zone, method, currency) replaces the shop's rate for that key in that
seller's shipments; keys the seller has not set use the shop's. No rate at all: :class:`CannotShip`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import asyncpg

from ecom.errors import ValidationFailed
from ecom.i18n import N_, _

from . import db
from .table import ANYWHERE, METHOD_NAMES, METHODS, Rate, ShippingTable, make_rate, rate_problems

COUNTRY = re.compile(r"[A-Z]{2}")
MAX_SELLER_RATES = 100
MESSAGES = {  # what people read, marked here and translated where raised (in the request's language)
    "cannot_ship": N_("We cannot ship to {country} by {method} shipping in {currency}."),
    "country": N_("must be a two-letter country code (ISO 3166-1 alpha-2)"),
    "weight": N_("must be a whole number of grams, 0 or more"),
    "subtotal": N_("must be a whole number of cents, 0 or more"),
    "too_many": N_("at most {n} rates"),
    "duplicate": N_("repeats a zone, method and currency given before"),
    "list": N_("must be a list of rates"),
}


def _too_many() -> ValidationFailed:
    return ValidationFailed(_("Too many rates."), errors={"rates": _(MESSAGES["too_many"]).format(n=MAX_SELLER_RATES)})


class CannotShip(ValidationFailed):
    """No rate for this destination, method and currency (checkout answers 422 naming ship_to.country)."""


@dataclass(frozen=True)
class Quote:
    method: str
    zone: str
    price_cents: int


def price(rate: Rate, weight_grams: int, subtotal_cents: int) -> int:
    if rate.free_above_cents is not None and subtotal_cents >= rate.free_above_cents:
        return 0
    kilograms = -(-weight_grams // 1000)  # ceil without floats
    return rate.base_cents + rate.per_kg_cents * kilograms


def _country(country: str, field: str = "ship_to.country") -> str:
    code = (country or "").strip().upper()
    if not COUNTRY.fullmatch(code):
        raise ValidationFailed(_("The country code is not valid."), errors={field: _(MESSAGES["country"])})
    return code


class ShippingService:
    def __init__(self, pool: asyncpg.Pool, table: ShippingTable):
        self.pool = pool
        self.table = table
        self._zone_of = {c: zone for zone, countries in table.zones.items() for c in countries}
        self._shop = {r.key: r for r in table.rates}

    # ----------------------------------------------------------------------------- pure look-ups
    def regions_for(self, country: str) -> tuple[str, ...]:
        """Inventory regions to take this destination's stock from, in order (the country's, else default)."""
        code = (country or "").strip().upper()
        return self.table.fulfilment.get(code) or self.table.fulfilment["default"]

    def zone_of(self, country: str) -> str | None:
        code = (country or "").strip().upper()
        if not COUNTRY.fullmatch(code):
            return None
        return self._zone_of.get(code) or self._zone_of.get(ANYWHERE)

    def shop_rates(self) -> tuple[Rate, ...]:
        return self.table.rates

    def zones(self) -> Mapping[str, tuple[str, ...]]:
        return self.table.zones

    async def methods(self, country: str, currency: str) -> list[str]:
        """The shop's methods to this destination in this currency, in METHODS order ([] = cannot ship)."""
        zone = self.zone_of(_country(country, "country"))
        currency = (currency or "").strip().upper()
        return [m for m in METHODS if (zone, m, currency) in self._shop]

    # ----------------------------------------------------------------------------- quotes
    async def quote(self, seller_id: int, country: str, method: str, currency: str, weight_grams: int,
                    subtotal_cents: int) -> Quote:
        """The price of one shipment of ``seller_id`` (the seller's rate for the key, else the shop's)."""
        country, currency = _country(country), (currency or "").strip().upper()
        if not isinstance(weight_grams, int) or weight_grams < 0:
            raise ValidationFailed(_("The weight is not valid."), errors={"weight_grams": _(MESSAGES["weight"])})
        if not isinstance(subtotal_cents, int) or subtotal_cents < 0:
            raise ValidationFailed(_("The subtotal is not valid."), errors={"subtotal_cents": _(MESSAGES["subtotal"])})
        zone = self.zone_of(country)
        rate = None
        if zone is not None and method in METHODS:
            rate = await db.seller_rate(self.pool, seller_id, zone, method, currency) or \
                self._shop.get((zone, method, currency))
        if rate is None:
            name = _(METHOD_NAMES[method]) if method in METHOD_NAMES else method
            message = _(MESSAGES["cannot_ship"]).format(country=country, method=name, currency=currency)
            raise CannotShip(message, errors={"ship_to.country": message})
        return Quote(method, zone, price(rate, weight_grams, subtotal_cents))

    # ----------------------------------------------------------------------------- seller rates
    async def seller_rates(self, seller_id: int) -> list[Rate]:
        return await db.seller_rates(self.pool, seller_id)

    def check_rate(self, raw: Any, prefix: str = "") -> Rate:
        """A seller's rate from untrusted input; ValidationFailed naming ``prefix + field``."""
        if not isinstance(raw, Mapping):
            raise ValidationFailed(_("A rate must be an object."),
                                   errors={prefix.rstrip(".") or "rate": _("must be an object")})
        problems = rate_problems(raw, self.table.zones)
        if problems:
            raise ValidationFailed(_("A rate is not valid."), errors={prefix + k: v for k, v in problems.items()})
        return make_rate(raw)

    async def replace_seller_rates(self, seller_id: int, raw_rates: Any) -> list[Rate]:
        """PUT semantics: the seller's whole set becomes ``raw_rates`` ([] = use the shop's everywhere)."""
        if not isinstance(raw_rates, list):
            raise ValidationFailed(_("rates must be a list."), errors={"rates": _(MESSAGES["list"])})
        if len(raw_rates) > MAX_SELLER_RATES:
            raise _too_many()
        rates: list[Rate] = []
        for i, raw in enumerate(raw_rates):
            rate = self.check_rate(raw, f"rates[{i}].")
            if any(r.key == rate.key for r in rates):
                raise ValidationFailed(_("A rate is repeated."), errors={f"rates[{i}]": _(MESSAGES["duplicate"])})
            rates.append(rate)
        await db.replace_rates(self.pool, seller_id, rates)
        return await self.seller_rates(seller_id)

    async def set_seller_rate(self, seller_id: int, raw: Any) -> Rate:
        rate = self.check_rate(raw)
        if len(await self.seller_rates(seller_id)) >= MAX_SELLER_RATES and \
                await db.seller_rate(self.pool, seller_id, *rate.key) is None:
            raise _too_many()
        await db.upsert_rate(self.pool, seller_id, rate)
        return rate

    async def delete_seller_rate(self, seller_id: int, zone: str, method: str, currency: str) -> bool:
        return await db.delete_rate(self.pool, seller_id, zone, method, currency)


def rates_json(rates: Sequence[Rate]) -> list[dict[str, Any]]:
    return [r.as_dict() for r in rates]
