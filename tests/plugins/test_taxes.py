"""The taxes plugin: tax per line by the documented rounding rule, the shipped rates file, a bad file
stopping start-up with one line, and the service reached through a real app (the normal loader)."""
from __future__ import annotations

from fractions import Fraction

import pytest

from ecom.config import ConfigError
from ecom.errors import ValidationFailed
from ecom.plugin import load_plugins
from plugins.taxes.config import TaxesConfig
from plugins.taxes.keys import TAXES, TaxableLine
from plugins.taxes.service import TaxesService, percent, round_half_up
from plugins.taxes.table import load_table

TABLE = load_table("")


def service(inclusive: bool = True) -> TaxesService:
    return TaxesService(TABLE, inclusive)


def exact_half_up(value: Fraction) -> int:
    """The reference: round half up with exact rationals (what the integer code must equal)."""
    floor = value.numerator // value.denominator
    return floor + (1 if value - floor >= Fraction(1, 2) else 0)


def assert_adds_up(result) -> None:
    lines = result.lines.values()
    assert result.net_cents == sum(t.net_cents for t in lines)
    assert result.tax_cents == sum(t.tax_cents for t in lines)
    assert result.gross_cents == sum(t.gross_cents for t in lines) == result.net_cents + result.tax_cents
    for t in lines:
        assert t.net_cents + t.tax_cents == t.gross_cents
    taxed = [t for t in lines if t.rate_name]
    assert sum(r.tax_cents for r in result.by_rate) == sum(t.tax_cents for t in taxed)
    assert sum(r.base_cents for r in result.by_rate) == sum(t.net_cents for t in taxed)


def test_inclusive_rounding_over_several_lines_and_rates():
    lines = [TaxableLine("p:1", 1000, "standard"), TaxableLine("p:2", 999, "reduced"),
             TaxableLine("p:3", 1, "standard"), TaxableLine("p:4", 605, "standard"),
             TaxableLine("shipping:1", 490, "standard")]
    result = service().compute(lines, "ES")
    # 1000 * 2100 / 12100 = 173.55 -> 174; 999 * 1000 / 11000 = 90.8 -> 91; 1 * 21/121 = 0.17 -> 0;
    # 605 * 2100 / 12100 = 105 exactly; 490 * 2100 / 12100 = 85.04 -> 85
    assert [result.lines[r].tax_cents for r in ("p:1", "p:2", "p:3", "p:4", "shipping:1")] == [174, 91, 0, 105, 85]
    assert result.lines["p:1"].net_cents == 826 and result.lines["p:1"].gross_cents == 1000
    assert result.lines["p:2"].rate_name == "IVA 10%" and result.lines["p:1"].rate_bp == 2100
    assert [(r.name, r.base_cents, r.tax_cents) for r in result.by_rate] == [
        ("IVA 21%", 826 + 1 + 500 + 405, 174 + 0 + 105 + 85), ("IVA 10%", 908, 91)]
    assert result.gross_cents == 3095 and result.tax_cents == 455 and result.prices_include_tax
    assert_adds_up(result)


def test_exclusive_rounding_half_up_and_us_state_rates():
    lines = [TaxableLine("a", 1000, "standard"), TaxableLine("b", 2000, "reduced"), TaxableLine("c", 333, "zero")]
    ca = service(False).compute(lines, "US", "CA")
    # 1000 * 7.25 % = 72.5 -> 73 (half up); 2000 * 7.25 % = 145; zero class -> 0
    assert [ca.lines[r].tax_cents for r in "abc"] == [73, 145, 0]
    assert ca.lines["a"].gross_cents == 1073 and ca.lines["a"].net_cents == 1000
    assert ca.lines["a"].rate_name == "CA sales tax 7.25%"
    assert [(r.name, r.rate_bp) for r in ca.by_rate] == [("CA sales tax 7.25%", 725), ("CA sales tax 0%", 0)]
    ny = service(False).compute(lines, "us", " ny ")
    assert [ny.lines[r].tax_cents for r in "abc"] == [40, 0, 0]
    unlisted = service(False).compute(lines, "US", "WY")  # a state the file does not list: no tax
    assert unlisted.tax_cents == 0 and unlisted.by_rate == [] and unlisted.gross_cents == 3333
    for result in (ca, ny, unlisted):
        assert_adds_up(result)


def test_discount_already_in_line_amounts_lowers_the_tax():
    """Orders passes each line after its share of a voucher: tax follows the discounted amount."""
    full = service().compute([TaxableLine("a", 2000, "standard"), TaxableLine("b", 1000, "reduced")], "DE")
    discounted = service().compute([TaxableLine("a", 1667, "standard"), TaxableLine("b", 833, "reduced")], "DE")
    assert full.tax_cents == 319 + 65  # 2000*19/119 = 319.33; 1000*7/107 = 65.42
    assert [discounted.lines[r].tax_cents for r in "ab"] == [266, 54]  # 1667*19/119 = 266.16; 833*7/107 = 54.49
    assert discounted.gross_cents == 2500
    assert_adds_up(discounted)


def test_rounding_matches_exact_rationals_on_many_amounts():
    """The integer formula equals exact round-half-up for every amount 0..3000 at every shipped rate."""
    rates = {bp for c in TABLE.countries.values() for r in [c.rates, *c.regions.values()] if r for bp in r.bp.values()}
    for bp in rates:
        for amount in range(0, 3001):
            assert round_half_up(amount * bp, 10_000 + bp) == exact_half_up(Fraction(amount * bp, 10_000 + bp))
            assert round_half_up(amount * bp, 10_000) == exact_half_up(Fraction(amount * bp, 10_000))


def test_zero_rate_class_and_country_without_rates():
    zero = service().compute([TaxableLine("book", 1500, "zero")], "GB")
    assert zero.lines["book"].tax_cents == 0 and zero.lines["book"].net_cents == 1500
    assert zero.by_rate[0].name == "VAT 0%" and zero.by_rate[0].base_cents == 1500
    nowhere = service().compute([TaxableLine("x", 1234, "standard")], "JP")
    assert nowhere.lines["x"].rate_name == "" and nowhere.tax_cents == 0 and nowhere.by_rate == []
    assert nowhere.net_cents == nowhere.gross_cents == 1234


def test_shipping_class_classes_and_percent_labels():
    svc = service()
    assert svc.shipping_class("es") == "standard" and svc.shipping_class("JP") == "standard"
    assert svc.classes() == ("standard", "reduced", "zero")
    assert [percent(bp) for bp in (2100, 725, 550, 0, 10000)] == ["21%", "7.25%", "5.5%", "0%", "100%"]


@pytest.mark.parametrize("lines, country, field", [
    ([TaxableLine("a", 100, "luxury")], "ES", "lines[0].tax_class"),
    ([TaxableLine("a", -1, "standard")], "ES", "lines[0].amount_cents"),
    ([TaxableLine("a", 1, "standard"), TaxableLine("a", 2, "zero")], "ES", "lines[1].ref"),
    ([TaxableLine("a", 1, "standard")], "Spain", "country"),
])
def test_bad_input_is_a_validation_error_naming_the_field(lines, country, field):
    with pytest.raises(ValidationFailed) as err:
        service().compute(lines, country)
    assert field in err.value.errors


@pytest.mark.parametrize("text, key", [
    ("[countries.ES]\nlabel = 'IVA'\nstandard = 2100\nreduced = 1000\n", "countries.ES.zero"),
    ("[countries.ES]\nlabel = 'IVA'\nstandard = 21.0\nreduced = 1000\nzero = 0\n", "countries.ES.standard"),
    ("[countries.ES]\nstandard = 2100\nreduced = 1000\nzero = 0\n", "countries.ES.label"),
    ("[countries.es]\nlabel = 'IVA'\n", "countries.es"),
    ("[countries.ES]\nlabel = 'IVA'\nshipping_class = 'cheap'\n", "countries.ES.shipping_class"),
    ("[countries.ES]\nlabel = 'IVA'\nstandrd = 1\n", "countries.ES.standrd"),
    ("[countries.US.regions.CA]\nlabel = 'x'\nstandard = 99999\nreduced = 0\nzero = 0\n",
     "countries.US.regions.CA.standard"),
    ("[rates]\n", "rates"),
    ("[countries\n", "not valid TOML"),
])
def test_a_bad_rates_file_stops_start_up_with_one_line_naming_the_key(tmp_path, make_config, text, key):
    path = tmp_path / "rates.toml"
    path.write_text(text)
    config = make_config(plugins={"enabled": ["taxes"], "taxes": {"rates_file": str(path)}})
    with pytest.raises(ConfigError) as err:
        load_plugins(config)
    assert key in str(err.value) and "\n" not in str(err.value) and str(path) in str(err.value)


def test_a_missing_rates_file_names_the_config_key(make_config):
    config = make_config(plugins={"enabled": ["taxes"], "taxes": {"rates_file": "/nonexistent/rates.toml"}})
    with pytest.raises(ConfigError, match="plugins.taxes.rates_file"):
        load_plugins(config)


def test_shipped_file_covers_the_countries_of_the_design():
    for code in ("ES", "PT", "FR", "DE", "IT", "NL", "GB"):
        assert TABLE.rates_for(code) is not None, code
    assert TABLE.rates_for("US") is None and {"CA", "NY", "TX"} <= set(TABLE.countries["US"].regions)
    assert TaxesConfig().prices_include_tax is True


async def test_the_app_provides_the_service_with_the_operators_file(aiohttp_client, make_config, tmp_path):
    path = tmp_path / "rates.toml"
    path.write_text("[countries.ES]\nlabel = 'IVA'\nstandard = 1000\nreduced = 500\nzero = 0\n")
    from ecom.app import create_app
    config = make_config(plugins={"enabled": ["users", "taxes"],
                                  "taxes": {"rates_file": str(path), "prices_include_tax": False}})
    client = await aiohttp_client(create_app(config))
    try:
        result = client.app[TAXES].compute([TaxableLine("a", 1005, "standard")], "ES")
        assert result.lines["a"].tax_cents == 101 and result.lines["a"].rate_name == "IVA 10%"  # 100.5 -> 101
        assert not result.prices_include_tax
    finally:
        await client.close()  # before the session's broker stops (a fixture teardown left late hangs)
