"""Counts that lock in the cuts of issue 12 on the catalog and product pages (never timings: those are in
bench/). Each test fails if a cut is undone: a filter that parses its locale again, a page that asks a
database or another plugin for what it already knows."""
from __future__ import annotations

import time

from babel import Locale

from ecom import i18n


def test_money_parses_each_locale_once_and_formats_each_price_once(monkeypatch):
    parsed: list[object] = []
    real_parse = Locale.parse.__func__

    def counting_parse(cls, identifier, *args, **kwargs):
        if not isinstance(identifier, Locale):  # a Locale object passes through: nothing is parsed
            parsed.append(identifier)
        return real_parse(cls, identifier, *args, **kwargs)

    monkeypatch.setattr(Locale, "parse", classmethod(counting_parse))
    i18n.babel_locale.cache_clear()
    i18n._money.cache_clear()
    with i18n.use_locale("es"):
        first = [i18n.money(cents, "EUR") for cents in range(1000, 1024)]  # a catalog page of 24 prices
        again = [i18n.money(cents, "eur ") for cents in range(1000, 1024)]
    with i18n.use_locale("en"):
        english = i18n.money(1000, "EUR")
    assert first == again and first[0] == "10,00\xa0€" and english == "€10.00"
    assert parsed.count("es") == 1 and parsed.count("en") == 1
    assert i18n._money.cache_info().misses == 25  # 24 prices in Spanish + 1 in English, each formatted once


# --- pages over real HTTP and PostgreSQL ---

async def _shop(aiohttp_client, make_config):
    from ecom.app import create_app
    return await aiohttp_client(create_app(make_config(plugins={"enabled": ["users", "products"]})))


async def test_product_page_asks_the_users_plugin_for_a_seller_name_once_a_minute(aiohttp_client, make_config,
                                                                                   monkeypatch):
    from plugins.products import sellers
    from plugins.users.keys import USERS
    from tests.plugins.test_products import create, user

    client = await _shop(aiohttp_client, make_config)
    seller, headers = await user(client)
    first, second = await create(client, headers), await create(client, headers)
    users = client.app[USERS]
    asked: list[int] = []
    real_get = users.get

    async def counting_get(user_id: int):
        asked.append(user_id)
        return await real_get(user_id)

    monkeypatch.setattr(users, "get", counting_get)
    for product in (first, second, first):
        page = await (await client.get(f"/products/{product['id']}")).text()
        assert seller["name"] in page
    assert asked == [seller["id"]]  # three pages of one seller: one look-up

    monkeypatch.setattr(sellers, "_clock", lambda: time.monotonic() + sellers.TTL_SECONDS + 1)
    await client.get(f"/products/{first['id']}")
    assert asked == [seller["id"]] * 2  # a minute later the name is read again


def test_template_gettext_is_one_call_and_means_what_jinjas_did():
    import jinja2

    env = jinja2.Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    i18n.install_jinja(env)
    assert env.globals["_"] is env.globals["gettext"]  # no alias resolving gettext through the context
    page = env.from_string('{{ _("Shop") }}|{{ _("Results for “%(q)s”", q=q) }}|{{ _("100%%") }}|'
                           '{% trans n=q %}Sold by <strong>{{ n }}</strong>{% endtrans %}')
    with i18n.use_locale("es"):
        assert page.render(q="<b>") == page.render(q="<b>")
        text, spanish_shop = page.render(q="<b>"), i18n.gettext("Shop")
    shop, results, percent, sold = text.split("|")
    assert shop == spanish_shop != "Shop"
    assert "&lt;b&gt;" in results and "<b>" not in results and percent == "100%"
    assert sold.endswith("<strong>&lt;b&gt;</strong>")
