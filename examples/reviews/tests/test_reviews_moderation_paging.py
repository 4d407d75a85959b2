"""The moderation page pages through the reviews like the shop's other lists (templates/lists.html):
newest first, older ones on the next page, none twice, the status filter kept, a hide/show button
coming back to the page it was pressed on. ``moderation_page = 2`` so that three reviews make two pages."""
from __future__ import annotations

import re

from reviews_shop import checkout, shop, csrf_of, deliver, post_review, product, review_allowed

ROW = re.compile(r'<tr id="review-(\d+)">')


async def page_ids(client, path: str) -> tuple[list[int], str]:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    html = await resp.text()
    return [int(i) for i in ROW.findall(html)], html


async def test_the_moderation_page_shows_older_reviews_on_page_two_and_none_twice(ecom_shop, ecom_user):
    client = await shop(ecom_shop, reviews={"moderation_page": 2})
    buyer = await ecom_user(client, "customer", login=False)
    seller = await ecom_user(client, "seller")  # the client's session is the seller's
    bowls = [await product(client, seller.token, name=f"Paging bowl {n}") for n in range(3)]
    await deliver(client, seller.token, await checkout(client, buyer.token, bowls))  # one shipment of three
    written = [(await (await review_allowed(client, buyer.token, bowls[0], rating=3, text="First.")).json())["id"]]
    for n, bowl in enumerate(bowls[1:], start=2):  # the same delivery: allowed at once
        resp = await post_review(client, buyer.token, bowl, rating=4, text=f"Review {n}.")
        assert resp.status == 201, await resp.text()
        written.append((await resp.json())["id"])
    newest_first = written[::-1]

    first, html = await page_ids(client, "/seller/reviews")
    assert first == newest_first[:2]
    assert 'href="?page=2"' in html and 'href="?page=1"' not in html and 'aria-label="Review pages"' in html
    second, html = await page_ids(client, "/seller/reviews?page=2")
    assert second == newest_first[2:] == [written[0]] and "First." in html  # the oldest, on page two
    assert 'href="?page=1"' in html and 'href="?page=3"' not in html
    assert not set(first) & set(second) and sorted(first + second) == sorted(written)
    empty, html = await page_ids(client, "/seller/reviews?page=3")
    assert empty == [] and "No more reviews." in html
    _, html = await page_ids(client, "/seller/reviews?page=2&lang=es")
    assert "Anterior" in html and "Páginas de reseñas" in html
    assert (await client.get("/seller/reviews?page=0")).status == 422

    # hiding the oldest from page two comes back to page two; the filter's pages keep the filter
    token = await csrf_of(client, "/seller/reviews?page=2")
    resp = await client.post(f"/reviews/{written[0]}/visibility", allow_redirects=False,
                             data={"csrf_token": token, "hidden": "1", "back": "/seller/reviews?page=2"})
    assert resp.status == 303 and resp.headers["Location"] == "/seller/reviews?page=2", await resp.text()
    shown, html = await page_ids(client, "/seller/reviews?status=shown")
    assert shown == newest_first[:2] and "page=2" not in html  # two shown reviews: one page
    hidden, _ = await page_ids(client, "/seller/reviews?status=hidden")
    assert hidden == [written[0]]
