"""The reviews plugin in the real shop, installed only through its entry point: a customer who received a
product (checkout, payment through the broker, the seller's shipment delivered) reviews it once and edits
it; anyone else is refused; the seller (of that product only) and admins hide and show it; the stars reach
the product page and the catalog cards through the page slots; a broken reviews database leaves those
pages working. Uses ecom.testing's fixtures (ecom_shop, ecom_user) like any third-party plugin's tests."""
from __future__ import annotations

import logging
from pathlib import Path

from ecom.app import POOLS
from ecom.i18n.tools import check_catalogs, package_at, unmarked
from ecom.testing import log_in, wait_until

from reviews_shop import csrf_of, delivered, post_review, product, public, review_allowed, shop

PACKAGE = Path(__file__).resolve().parent.parent / "ecom_reviews"


async def test_a_verified_buyer_reviews_once_and_the_stars_show_through_the_slots(ecom_shop, ecom_user):
    client = await shop(ecom_shop)
    seller = await ecom_user(client, "seller", login=False)
    stranger = await ecom_user(client, "customer", login=False)
    buyer = await ecom_user(client, "customer")  # the client's session is the buyer's
    mug = await product(client, seller.token, name="Stoneware mug")
    assert (await post_review(client, buyer.token, mug, rating=5)).status == 403  # not received yet

    await delivered(client, buyer.token, seller.token, mug)
    form = f"/products/{mug}/review"
    page = await wait_until(lambda: client.get(form), lambda r: r.status == 200, "the review form for the buyer")
    assert "Your rating" in await page.text() and page.headers["Cache-Control"] == "no-store"
    token = await csrf_of(client, form)
    assert (await client.post(form, data={"rating": "4", "text": "Sturdy."})).status == 403  # no CSRF token
    resp = await client.post(form, data={"csrf_token": token, "rating": "4", "text": "Sturdy."},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/products/{mug}", await resp.text()

    resp = await post_review(client, buyer.token, mug, rating=6, text="x")
    assert resp.status == 422 and "rating" in (await resp.json())["errors"]
    resp = await post_review(client, buyer.token, mug, rating=5, text="Even better after a month.")
    assert resp.status == 200, await resp.text()  # an edit of the same review, not a second one
    listing = await public(client, mug)
    assert listing["summary"] == {"count": 1, "average": 5.0}
    assert [(r["rating"], r["text"], r["author"]) for r in listing["items"]] == [(5, "Even better after a month.",
                                                                                 "Tester")]

    assert (await post_review(client, stranger.token, mug, rating=1, text="Never bought it")).status == 403
    await log_in(client, stranger)
    refused = await client.get(form)
    assert refused.status == 403 and "Only customers who received this product can review it." in await refused.text()

    client.session.cookie_jar.clear()  # a guest: what the shared (cached) page parts show everyone
    page = await (await client.get(f"/products/{mug}")).text()
    assert "Customer reviews" in page and "5.0 of 5, 1 review" in page and "Even better after a month." in page
    assert f'href="/products/{mug}/review"' in page and "csrf_token" not in page.split("Customer reviews")[1]
    page = await (await client.get(f"/products/{mug}?lang=es")).text()
    assert "Opiniones de clientes" in page and "5,0 de 5, 1 reseña" in page
    catalog = await (await client.get("/products?q=Stoneware")).text()
    card = catalog.split("Stoneware mug", 1)[1].split("</article>", 1)[0]
    assert "5.0 of 5, 1 review" in card and "product-card-slots" in card


async def test_the_seller_of_the_product_and_admins_moderate(ecom_shop, ecom_user):
    client = await shop(ecom_shop)
    buyer = await ecom_user(client, "customer", login=False)
    other_seller = await ecom_user(client, "seller", login=False)
    admin = await ecom_user(client, "admin", login=False)
    seller = await ecom_user(client, "seller")
    lamp = await product(client, seller.token, name="Desk lamp")
    await delivered(client, buyer.token, seller.token, lamp)
    review = await (await review_allowed(client, buyer.token, lamp, rating=2, text="Flickers.")).json()
    path = f"/api/v1/reviews/{review['id']}"

    assert (await client.patch(path, json={"hidden": True}, headers=other_seller.auth)).status == 404
    assert (await client.patch(path, json={"hidden": True}, headers=buyer.auth)).status == 403
    assert (await public(client, lamp))["summary"]["count"] == 1
    mine = await (await client.get("/api/v1/reviews", headers=seller.auth)).json()
    assert [r["id"] for r in mine["items"]] == [review["id"]]
    assert (await (await client.get("/api/v1/reviews", headers=other_seller.auth)).json())["items"] == []

    dashboard = await (await client.get("/seller")).text()  # the seller.dashboard slot links the moderation page
    assert 'aria-labelledby="reviews-heading"' in dashboard and 'href="/seller/reviews"' in dashboard
    moderation = await client.get("/seller/reviews")  # the seller's page, with their session
    assert moderation.status == 200 and "Flickers." in await moderation.text()
    token = await csrf_of(client, "/seller/reviews")
    resp = await client.post(f"/reviews/{review['id']}/visibility", allow_redirects=False,
                             data={"csrf_token": token, "hidden": "1", "back": "/seller/reviews"})
    assert resp.status == 303, await resp.text()
    assert await public(client, lamp) == {"summary": {"count": 0, "average": None}, "items": []}
    client.session.cookie_jar.clear()
    page = await (await client.get(f"/products/{lamp}")).text()
    assert "No reviews yet." in page and "Flickers." not in page

    resp = await client.patch(path, json={"hidden": False}, headers=admin.auth)
    assert resp.status == 200 and (await resp.json())["hidden"] is False
    assert (await public(client, lamp))["summary"] == {"count": 1, "average": 2.0}
    hidden_only = await (await client.get("/api/v1/reviews?hidden=true", headers=admin.auth)).json()
    assert review["id"] not in [r["id"] for r in hidden_only["items"]]

    # the seller deletes the product: products' ProductDeleted takes its reviews and purchases away
    assert (await client.delete(f"/api/v1/products/{lamp}", headers=seller.auth)).status in (200, 204)
    pool = client.app[POOLS]["reviews"]

    async def left() -> tuple[int, int]:
        return (await pool.fetchval("SELECT count(*) FROM reviews WHERE product_id = $1", lamp),
                await pool.fetchval("SELECT count(*) FROM purchases WHERE product_id = $1", lamp))
    await wait_until(left, lambda counts: counts == (0, 0), "the deleted product's reviews to go")


async def test_a_broken_reviews_database_leaves_the_product_pages_working(ecom_shop, ecom_user, caplog):
    client = await shop(ecom_shop)
    seller = await ecom_user(client, "seller", login=False)
    kettle = await product(client, seller.token, name="Copper kettle")
    pool = client.app[POOLS]["reviews"]
    await pool.execute("ALTER TABLE reviews RENAME TO reviews_away")  # every read of the plugin now fails
    try:
        with caplog.at_level(logging.WARNING, logger="ecom.slots"):
            page = await client.get(f"/products/{kettle}")
            assert page.status == 200
            text = await page.text()
            assert "Copper kettle" in text and "Customer reviews" not in text
            catalog = await client.get("/products?q=Copper")
            assert catalog.status == 200 and "Copper kettle" in await catalog.text()
        failed = [r.getMessage() for r in caplog.records if r.name == "ecom.slots"]
        assert any("product.details" in line and "reviews" in line for line in failed), failed
        assert (await client.get(f"/api/v1/products/{kettle}/reviews")).status >= 500  # the API says so
    finally:
        await pool.execute("ALTER TABLE reviews_away RENAME TO reviews")
    assert (await client.get(f"/api/v1/products/{kettle}/reviews")).status == 200


async def test_the_api_is_in_the_openapi_document(ecom_shop):
    client = await shop(ecom_shop)
    paths = (await (await client.get("/api/v1/openapi.json")).json())["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/products/{id}/reviews"])
    assert "patch" in paths["/api/v1/reviews/{id}"] and "get" in paths["/api/v1/reviews"]


def test_every_text_is_marked_and_translated_to_spanish():
    package = package_at(PACKAGE)
    assert not check_catalogs(package, ("en", "es")) + unmarked(package)
