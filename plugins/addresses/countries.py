"""What we know about each supported country without a network: name, postal code pattern, phone rules.

Add a country by adding a row here; ``validate_address`` refuses any country without one, so a shopper
cannot enter an address the shop has never seen the shape of. Postal patterns match the *compact* form
(upper case, spaces and dashes removed); the groups are joined with ``sep`` to give the canonical form
("sw1a1aa" -> "SW1A 1AA", "1000001" -> "1000-001"). Pages name a country in the reader's language (CLDR's
names through Babel); a shipping label names it in English.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from babel import Locale, UnknownLocaleError

from ecom.i18n import N_, current_locale

US_STATES = frozenset((
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
    "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP AA AE AP").split())
CA_PROVINCES = frozenset("AB BC MB NB NL NS NT NU ON PE QC SK YT".split())
MX_STATES = frozenset((  # ISO 3166-2:MX
    "AGU BCN BCS CAM CHP CHH CMX COA COL DUR GUA GRO HID JAL MEX MIC MOR NAY NLE OAX PUE QUE ROO SLP SIN SON "
    "TAB TAM TLA VER YUC ZAC").split())


@dataclass(frozen=True)
class Country:
    code: str                    # ISO 3166-1 alpha-2
    name: str                    # English name (printed on labels; pages use the reader's language)
    postal: str                  # regex over the compact postal code, fully matched
    postal_example: str          # shown in the error message (translated when it has words)
    calling_code: str            # E.164 country calling code, digits only
    phone_digits: tuple[int, int]  # least and most digits of a national significant number
    trunk: str = "0"             # national prefix dropped in international form ("" = none, Italy keeps 0)
    sep: str = ""                # joins the postal pattern's groups
    postal_required: bool = True
    regions: frozenset[str] | None = None  # when set, region is required and must be one of these codes
    style: str = "eu"            # label layout: "eu" (postcode city), "na" (city, region postcode), "uk" (lines)

    def postal_code(self, raw: str) -> str | None:
        """The canonical postal code, or None when ``raw`` does not fit this country's pattern."""
        compact = re.sub(r"[\s-]+", "", raw.upper())
        match = re.fullmatch(self.postal, compact)
        if match is None:
            return None
        return self.sep.join(g for g in match.groups() if g)


COUNTRIES: dict[str, Country] = {c.code: c for c in (
    Country("ES", "Spain", r"(0[1-9]|[1-4]\d|5[0-2])(\d{3})", "28013", "34", (9, 9), trunk=""),
    Country("PT", "Portugal", r"([1-9]\d{3})(\d{3})", "1000-001", "351", (9, 9), trunk="", sep="-"),
    Country("FR", "France", r"(\d{5})", "75008", "33", (9, 9)),
    Country("DE", "Germany", r"(\d{5})", "10115", "49", (6, 13)),
    Country("IT", "Italy", r"(\d{5})", "00184", "39", (6, 11), trunk=""),
    Country("NL", "Netherlands", r"([1-9]\d{3})([A-Z]{2})", "1012 AB", "31", (9, 9), sep=" "),
    Country("BE", "Belgium", r"([1-9]\d{3})", "1000", "32", (8, 9)),
    Country("IE", "Ireland", r"([AC-FHKNPRTV-Y]\d{2}|D6W)([0-9AC-FHKNPRTV-Y]{4})", "D02 X285", "353", (7, 9),
            sep=" ", postal_required=False, style="uk"),
    Country("GB", "United Kingdom", r"([A-Z]{1,2}\d[A-Z\d]?)(\d[ABD-HJLNP-UW-Z]{2})", "SW1A 1AA", "44", (9, 10),
            sep=" ", style="uk"),
    Country("US", "United States", r"(\d{5})(\d{4})?", N_("94105 or 94105-1234"), "1", (10, 10), trunk="1", sep="-",
            regions=US_STATES, style="na"),
    Country("CA", "Canada", r"([ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z])(\d[ABCEGHJ-NPRSTV-Z]\d)", "K1A 0B1", "1",
            (10, 10), trunk="1", sep=" ", regions=CA_PROVINCES, style="na"),
    Country("MX", "Mexico", r"(\d{5})", "06600", "52", (10, 10), trunk="", regions=MX_STATES),
    Country("AT", "Austria", r"([1-9]\d{3})", "1010", "43", (4, 13)),
    Country("CH", "Switzerland", r"([1-9]\d{3})", "8001", "41", (9, 9)),
    Country("DK", "Denmark", r"([1-9]\d{3})", "1050", "45", (8, 8), trunk=""),
    Country("SE", "Sweden", r"([1-9]\d{2})(\d{2})", "114 55", "46", (7, 9), sep=" "),
    Country("PL", "Poland", r"(\d{2})(\d{3})", "00-950", "48", (9, 9), trunk="", sep="-"),
)}


def label_name(code: str) -> str:
    """The English name of a country code, as a shipping label prints it (the code for one we do not know)."""
    country = COUNTRIES.get(code)
    return country.name if country else code


def country_name(code: str) -> str:
    """The name of a country code in the reader's language ("Spain", "España"); English when the locale
    has no name for it, the code itself for a country we do not know."""
    if code not in COUNTRIES:
        return code
    try:
        names = Locale.parse(current_locale()).territories
    except (UnknownLocaleError, ValueError):
        names = {}
    return names.get(code) or COUNTRIES[code].name


def _sort_key(name: str) -> str:
    """Alphabetical as people expect it: accents do not move a name to the end ("Éire" near "Eire")."""
    return "".join(c for c in unicodedata.normalize("NFKD", name.casefold()) if not unicodedata.combining(c))


def choices() -> list[tuple[str, str]]:
    """(code, name in the reader's language) pairs sorted by name, for a country select."""
    return sorted(((code, country_name(code)) for code in COUNTRIES), key=lambda pair: _sort_key(pair[1]))
