"""The catalog in two languages over real HTTP and PostgreSQL: search stems Spanish as well as English
(migration 0004), English stop words stay stop words, and catalog responses vary by Accept-Language so
that nginx and browsers cache one copy per language."""
from __future__ import annotations

import pytest

from ecom.app import create_app

from .test_products import ENABLED, create, uniq, user
from .test_products_search import ids


@pytest.fixture
async def client(aiohttp_client, make_config):
    return await aiohttp_client(create_app(make_config(plugins=ENABLED)))


async def test_spanish_words_find_their_singular_and_other_forms(client):
    _, headers = await user(client)
    # 6 characters, not 10: a long random token in both query and names makes up most of a short query's
    # trigrams, so word similarity (typo search) matched every product of this test for "algodon <u>"
    u = uniq()[:6]
    trousers = await create(client, headers, name=f"Pantalón vaquero {u}", type="Ropa",
                            description="Tela resistente para correr por el monte.")
    shirt = await create(client, headers, name=f"Camiseta de algodón {u}", type="Ropa",
                         description="Lleva estampada una canción popular.")
    shoe = await create(client, headers, name=f"Zapato de cuero {u}", type="Calzado", description="Hecho a mano.")
    assert await ids(client, q=f"pantalones {u}") == {trousers["id"]}
    assert await ids(client, q=f"corriendo {u}") == {trousers["id"]}   # only the Spanish stem: corr
    assert await ids(client, q=f"canciones {u}") == {shirt["id"]}      # description, accent folded
    assert await ids(client, q=f"camisetas {u}") == {shirt["id"]}
    assert await ids(client, q=f"zapatos {u}") == {shoe["id"]}
    assert await ids(client, q=f"algodon {u}") == {shirt["id"]}       # typed without the accent
    found = await ids(client, q='"de cuero"')  # a phrase with a Spanish stop word
    assert shoe["id"] in found and trousers["id"] not in found and shirt["id"] not in found


async def test_english_stemming_and_stop_words_keep_working(client):
    _, headers = await user(client)
    u = uniq()
    boots = await create(client, headers, name=f"Trail Boot {u}", type="Footwear",
                         description="Built for running over the hills and the rocks of the coast.")
    assert await ids(client, q=f"boots {u}") == {boots["id"]}
    assert await ids(client, q=f"runs hill {u}") == {boots["id"]}
    assert boots["id"] not in await ids(client, q="the and of")  # English stop words match nothing


async def test_catalog_responses_vary_by_language(client):
    _, headers = await user(client)
    product = await create(client, headers)
    for path in ("/api/v1/products", f"/api/v1/products/{product['id']}", "/products", f"/products/{product['id']}"):
        resp = await client.get(path, headers={"Accept-Language": "es"})
        assert resp.status == 200, path
        vary = {v.strip().lower() for v in resp.headers["Vary"].split(",")}
        assert {"accept-language", "cookie", "authorization"} <= vary, (path, vary)
        again = await client.get(path, headers={"Accept-Language": "es", "If-None-Match": resp.headers["ETag"]})
        assert again.status == 304 and "accept-language" in again.headers["Vary"].lower(), path


async def test_pages_and_errors_speak_spanish(client):
    _, headers = await user(client)
    product = await create(client, headers, name=f"Lámpara {uniq()}", weight_grams=1250)
    es = {"Accept-Language": "es"}
    page = await (await client.get("/products", headers=es)).text()
    assert "Todos los productos" in page and "Mostrar productos" in page and "All products" not in page
    page = await (await client.get(f"/products/{product['id']}", headers=es)).text()
    assert "Inicia sesión para comprar" in page and "1,25 kg" in page and "Sobre este producto" in page
    bad = {"min_price": "500", "max_price": "100"}
    resp = await client.get("/api/v1/products", params=bad, headers=es)
    assert resp.status == 422 and (await resp.json())["errors"]["max_price"] == "No puede ser menor que min_price."
    resp = await client.get("/api/v1/products/999999999", headers=es)
    assert resp.status == 404 and (await resp.json())["detail"] == "No existe el producto 999999999."
    resp = await client.get("/api/v1/products", params=bad)  # no Accept-Language: English
    assert (await resp.json())["errors"]["max_price"] == "Must not be below min_price."
