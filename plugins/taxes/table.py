"""The tax rates data file (TOML): read and checked once, at start-up.

A mistake stops start-up with a :class:`ecom.config.ConfigError` whose one line names the file and the
key (``countries.ES.standard``), like every other config error. See rates.toml for the format.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ecom.datafile import Checker, read_toml, resolve

CLASSES = ("standard", "reduced", "zero")
COUNTRY = re.compile(r"[A-Z]{2}")
REGION = re.compile(r"[A-Z0-9]{1,3}")
MAX_BP = 10_000  # 100 %
SHIPPED = Path(__file__).with_name("rates.toml")


@dataclass(frozen=True)
class Rates:
    """One place's rates: basis points per tax class, and the label printed before the percentage."""
    label: str
    bp: Mapping[str, int]


@dataclass(frozen=True)
class CountryTaxes:
    shipping_class: str
    rates: Rates | None                # None: the country itself has no rates (only per region, or none)
    regions: Mapping[str, Rates]


@dataclass(frozen=True)
class TaxTable:
    countries: Mapping[str, CountryTaxes]

    def rates_for(self, country: str, region: str = "") -> Rates | None:
        """The region's rates, else the country's, else None (a destination without rates pays no tax)."""
        entry = self.countries.get(country)
        if entry is None:
            return None
        return entry.regions.get(region) or entry.rates


class _Reader(Checker):
    """Checks the tax rates file."""

    def label(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not 1 <= len(value.strip()) <= 40:
            self.fail(key, "must be a text of 1 to 40 characters")
        return value.strip()

    def rates(self, raw: Mapping[str, Any], key: str, default_label: str | None) -> Rates | None:
        present = [c for c in CLASSES if c in raw]
        if not present:
            return None
        bp = {}
        for cls in CLASSES:
            value = raw.get(cls)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_BP:
                self.fail(f"{key}.{cls}", f"must be an integer between 0 and {MAX_BP} (basis points: 2100 = 21 %)")
            bp[cls] = value
        label = self.label(raw["label"], f"{key}.label") if "label" in raw else default_label
        if label is None:
            self.fail(f"{key}.label", "is missing (the name of the tax on receipts, e.g. \"VAT\")")
        return Rates(label, bp)

    def country(self, raw: Any, key: str) -> CountryTaxes:
        raw = self.table(raw, key)
        self.known(raw, key, {"label", "shipping_class", "regions", *CLASSES})
        label = self.label(raw["label"], f"{key}.label") if "label" in raw else None
        shipping_class = raw.get("shipping_class", "standard")
        if shipping_class not in CLASSES:
            self.fail(f"{key}.shipping_class", f"must be one of {', '.join(CLASSES)}")
        regions = {}
        for code, region in self.table(raw.get("regions", {}), f"{key}.regions").items():
            rkey = f"{key}.regions.{code}"
            if not REGION.fullmatch(code):
                self.fail(rkey, "must be a region code of 1 to 3 upper-case letters or digits (e.g. CA)")
            region = self.table(region, rkey)
            self.known(region, rkey, {"label", *CLASSES})
            rates = self.rates(region, rkey, label)
            if rates is None:
                self.fail(rkey, f"must give the rates of {', '.join(CLASSES)}")
            regions[code] = rates
        return CountryTaxes(shipping_class, self.rates(raw, key, label), regions)


def parse_table(raw: Mapping[str, Any], where: str) -> TaxTable:
    reader = _Reader(where)
    reader.known(raw, "", {"countries"})
    countries = {}
    for code, entry in reader.table(raw.get("countries", {}), "countries").items():
        if not COUNTRY.fullmatch(code):
            reader.fail(f"countries.{code}", "must be an ISO 3166-1 alpha-2 code in upper case (e.g. ES)")
        countries[code] = reader.country(entry, f"countries.{code}")
    return TaxTable(countries)


def load_table(rates_file: str, key: str = "plugins.taxes.rates_file") -> TaxTable:
    path = resolve(rates_file, SHIPPED)
    raw = read_toml(path, key)
    return parse_table(raw, str(path))
