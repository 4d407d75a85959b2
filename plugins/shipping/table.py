"""The shipping data file (TOML): fulfilment order, zones and shop rates, read and checked at start-up.

A mistake stops start-up with a :class:`ecom.config.ConfigError` whose one line names the file and the
key (``rates[2].base_cents``). See shipping.toml for the format.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ecom.datafile import Checker, read_toml, resolve
from ecom.i18n import N_, _

METHODS = ("standard", "express")
METHOD_NAMES = {"standard": N_("standard"), "express": N_("express")}  # in a sentence; pages capitalise them
COUNTRY = re.compile(r"[A-Z]{2}")
CURRENCY = re.compile(r"[A-Z]{3}")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MAX_PRICE = 100_000_000        # a million in major units: more is a typo
MAX_FREE_ABOVE = 10_000_000_000
ANYWHERE = "*"
SHIPPED = Path(__file__).with_name("shipping.toml")


@dataclass(frozen=True)
class Rate:
    zone: str
    method: str
    currency: str
    base_cents: int
    per_kg_cents: int = 0               # 0 = flat
    free_above_cents: int | None = None  # None = never free

    @property
    def key(self) -> tuple[str, str, str]:
        return self.zone, self.method, self.currency

    def as_dict(self) -> dict[str, Any]:
        return {"zone": self.zone, "method": self.method, "currency": self.currency, "base_cents": self.base_cents,
                "per_kg_cents": self.per_kg_cents, "free_above_cents": self.free_above_cents}


@dataclass(frozen=True)
class ShippingTable:
    fulfilment: Mapping[str, tuple[str, ...]]  # country -> regions; "default" -> the fallback order
    zones: Mapping[str, tuple[str, ...]]       # zone -> countries ("*" = the rest of the world)
    rates: tuple[Rate, ...]


def rate_problems(raw: Mapping[str, Any], zones: Mapping[str, Any]) -> dict[str, str]:
    """What is wrong with one rate's fields (field -> sentence); shared by the file and the seller API.

    Sentences are in the current language: the request's for the API and pages, the shop's default at
    start-up (a data-file error is printed for the operator)."""
    problems: dict[str, str] = {}
    if not isinstance(raw.get("zone"), str) or raw["zone"] not in zones:  # a JSON object is no zone (nor hashable)
        problems["zone"] = _("must be one of the zones: {zones}").format(zones=", ".join(zones))
    if not isinstance(raw.get("method"), str) or raw["method"] not in METHODS:
        problems["method"] = _("must be one of: {methods}").format(methods=", ".join(METHODS))
    if not isinstance(raw.get("currency"), str) or not CURRENCY.fullmatch(raw["currency"]):
        problems["currency"] = _("must be a three-letter currency code in upper case (e.g. EUR)")
    for name, top, required in (("base_cents", MAX_PRICE, True), ("per_kg_cents", MAX_PRICE, False),
                                ("free_above_cents", MAX_FREE_ABOVE, False)):
        value = raw.get(name)
        if value is None and not required:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
            problems[name] = _("must be a whole number of cents between 0 and {top}").format(top=top)
    for name in raw:
        if name not in ("zone", "method", "currency", "base_cents", "per_kg_cents", "free_above_cents"):
            problems[name] = _("is not a known field")
    return problems


def make_rate(raw: Mapping[str, Any]) -> Rate:
    return Rate(raw["zone"], raw["method"], raw["currency"], raw["base_cents"], raw.get("per_kg_cents") or 0,
                raw.get("free_above_cents"))


class _Reader(Checker):
    def __init__(self, where: str, regions: tuple[str, ...] | None):
        super().__init__(where)
        self.regions = regions

    def region_list(self, value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value or len(set(value)) != len(value):
            self.fail(key, "must be a non-empty list of inventory regions without repeats")
        for region in value:
            if not isinstance(region, str) or not NAME.fullmatch(region):
                self.fail(key, f"has {region!r}, which is not a region name")
            if self.regions is not None and region not in self.regions:
                self.fail(key, f"names region {region!r}, which is not in [plugins.inventory] regions")
        return tuple(value)

    def fulfilment(self, raw: Any) -> dict[str, tuple[str, ...]]:
        raw = self.table(raw, "fulfilment")
        if "default" not in raw:
            self.fail("fulfilment.default", "is missing (the regions to try for countries not listed)")
        out = {}
        for code, regions in raw.items():
            if code != "default" and not COUNTRY.fullmatch(code):
                self.fail(f"fulfilment.{code}", "must be an ISO 3166-1 alpha-2 code in upper case (or default)")
            out[code] = self.region_list(regions, f"fulfilment.{code}")
        return out

    def zones(self, raw: Any) -> dict[str, tuple[str, ...]]:
        raw = self.table(raw, "zones")
        if not raw:
            self.fail("zones", "must define at least one zone")
        owner: dict[str, str] = {}
        out = {}
        for name, zone in raw.items():
            key = f"zones.{name}"
            if not NAME.fullmatch(name):
                self.fail(key, "must be 1-32 lower-case letters, digits, '-' or '_'")
            zone = self.table(zone, key)
            if set(zone) != {"countries"} or not isinstance(zone["countries"], list) or not zone["countries"]:
                self.fail(f"{key}.countries", "must be the only key: a non-empty list of country codes (or [\"*\"])")
            for code in zone["countries"]:
                if code != ANYWHERE and (not isinstance(code, str) or not COUNTRY.fullmatch(code)):
                    self.fail(f"{key}.countries", f"has {code!r}: use ISO 3166-1 alpha-2 codes in upper case")
                if code in owner:
                    self.fail(f"{key}.countries", f"has {code}, already in zone {owner[code]!r}")
                owner[code] = name
            out[name] = tuple(zone["countries"])
        return out

    def rates(self, raw: Any, zones: Mapping[str, Any]) -> tuple[Rate, ...]:
        if not isinstance(raw, list):
            self.fail("rates", "must be a list of [[rates]] tables")
        seen, out = set(), []
        for i, rate in enumerate(raw):
            key = f"rates[{i}]"
            problems = rate_problems(self.table(rate, key), zones)
            for field, message in problems.items():
                self.fail(f"{key}.{field}", message)
            made = make_rate(rate)
            if made.key in seen:
                self.fail(key, f"repeats zone {made.zone}, method {made.method}, currency {made.currency}")
            seen.add(made.key)
            out.append(made)
        return tuple(out)


def parse_table(raw: Mapping[str, Any], where: str, regions: tuple[str, ...] | None = None) -> ShippingTable:
    reader = _Reader(where, regions)
    for key in raw:
        if key not in ("fulfilment", "zones", "rates"):
            reader.fail(key, "is not a known key (known: fulfilment, rates, zones)")
    zones = reader.zones(raw.get("zones", {}))
    return ShippingTable(reader.fulfilment(raw.get("fulfilment", {})), zones, reader.rates(raw.get("rates", []), zones))


def load_table(rates_file: str, regions: tuple[str, ...] | None = None,
               key: str = "plugins.shipping.rates_file") -> ShippingTable:
    path = resolve(rates_file, SHIPPED)
    raw = read_toml(path, key)
    return parse_table(raw, str(path), regions)
