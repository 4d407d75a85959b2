"""Spanish and English: every text marked and translated, the language chosen per request, money and
times formatted for the reader."""
import re
from datetime import datetime, timezone

import pytest

from ecom import i18n
from ecom.i18n.tools import check_catalogs, conflicts, packages, unmarked
from ecom.i18n.web import accept_language

LOCALES = ("en", "es")


@pytest.mark.parametrize("package", packages(), ids=lambda p: p.name)
def test_every_text_is_marked_and_translated_to_spanish(package):
    problems = check_catalogs(package, LOCALES) + unmarked(package)
    assert not problems, "\n".join(problems[:40]) + (f"\n... and {len(problems) - 40} more" if len(problems) > 40 else "")


def test_no_text_is_translated_two_ways():
    assert not conflicts(packages(), "es")  # the merged catalog would show only one of them


def test_the_checker_finds_unmarked_text(tmp_path):
    from ecom.i18n.tools import unmarked_python_text, unmarked_template_text
    page = tmp_path / "page.html"
    page.write_text('<p>{{ _("Fine") }}</p><p>Not marked</p><input placeholder="Type here">'
                    '{% trans %}Also fine{% endtrans %}<meta name="viewport" content="width=device-width">')
    found = unmarked_template_text(page)
    assert [f.split(": ", 1)[1] for f in found] == ["Not marked", 'placeholder="Type here"']
    code = tmp_path / "code.py"
    code.write_text('raise NotFound(f"No product {pid}.")\nraise NotFound(_("No product {pid}.").format(pid=1))\n'
                    'errors["name"] = "Required."\nawait flash(request, "Saved.", "success")\n')
    assert [f.split(": ")[1] for f in unmarked_python_text(code)] == ["NotFound detail", "errors value",
                                                                     "flash message"]


@pytest.mark.parametrize("header, expected", [
    ("es-ES,es;q=0.9,en;q=0.8", "es"), ("en-US,en;q=0.9", "en"), ("fr-FR,fr;q=0.9,es;q=0.5", "es"),
    ("de", None), ("es;q=0.2, en;q=0.9", "en"), ("", None), ("*", None), ("es-MX", "es")])
def test_accept_language_picks_the_best_offered_language(header, expected):
    i18n.configure(LOCALES, "en", "UTC")
    assert accept_language(header) == expected


def test_money_numbers_and_times_follow_the_reader():
    i18n.configure(LOCALES, "en", "UTC")
    moment = datetime(2026, 1, 5, 23, 30, tzinfo=timezone.utc)
    with i18n.use_locale("en"):
        assert i18n.money(123450, "EUR") == "€1,234.50"
        assert i18n.money(-100, "USD") == "-$1.00"
        assert i18n.money(1234, "JPY") == "¥1,234"
        assert i18n.format_date(moment) == "Jan 5, 2026"
    with i18n.use_locale("es", "Europe/Madrid"):
        assert i18n.money(123450, "EUR") == "1234,50\xa0€".replace("1234", "1.234")
        assert i18n.format_date(moment) == "6 ene 2026"  # 00:30 in Madrid is the next day
        assert i18n.format_time(moment) == "0:30"
        assert i18n.number(1234567) == "1.234.567"
    with i18n.use_locale("xx"):  # not offered: the shop's default
        assert i18n.current_locale() == "en"


async def test_pages_speak_the_language_the_browser_asks_for(client):
    english = await client.get("/")
    assert english.headers["Content-Language"] == "en"
    assert '<html lang="en">' in await english.text()
    spanish = await client.get("/", headers={"Accept-Language": "es-ES,es;q=0.9"})
    body = await spanish.text()
    assert spanish.headers["Content-Language"] == "es"
    assert '<html lang="es">' in body and "Carrito" in body and "Iniciar sesión" in body
    assert "Log in" not in body


async def test_the_switcher_remembers_the_choice_over_the_browser(client):
    page = await client.get("/products?q=x", headers={"Accept-Language": "en"})
    body = await page.text()
    assert 'href="/locale?set=es&amp;next=/products%3Fq%3Dx"' in body
    assert "csrf_token" not in body and "Set-Cookie" not in page.headers  # a guest page stays cacheable
    switched = await client.get("/locale?set=es&next=/products%3Fq%3Dx%26lang%3Den", allow_redirects=False)
    assert switched.status == 303 and switched.headers["Location"] == "/products?q=x"
    again = await client.get("/", headers={"Accept-Language": "en"})  # the cookie wins over the browser
    assert again.headers["Content-Language"] == "es"
    assert (await client.get("/?lang=en")).headers["Content-Language"] == "en"  # a shared link names its own
    outside = await client.get("/locale?set=es&next=https://evil.example/", allow_redirects=False)
    assert outside.headers["Location"] == "/"


async def test_errors_are_translated_on_the_api_and_on_pages(client):
    api = await client.get("/api/v1/nope", headers={"Accept-Language": "es"})
    assert api.status == 404 and (await api.json())["title"] == "No encontrado"
    page = await client.get("/nope", headers={"Accept-Language": "es"})
    assert page.status == 404 and "No hemos encontrado esa página" in await page.text()
