"""The addresses plugin and personal data: a deleted account's address book is erased (users' UserDeleted,
through the real broker into the addresses inbox), erasing is idempotent, and the owner's data export
(GET /api/v1/users/me/export) carries their book. Real PostgreSQL, broker and HTTP; no mocks."""
from __future__ import annotations

from datetime import datetime, timezone

from ecom.app import POOLS
from plugins.addresses.keys import ADDRESSES
from plugins.users.events import UserDeleted
from tests.helpers import PASSWORD, account, start, wait_until

MADRID = {"name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013",
          "country": "ES", "phone": "+34 911 23 45 67"}
LISBOA = {"name": "Ana García", "line1": "Rua Augusta 100", "city": "Lisboa", "postal_code": "1100-053",
          "country": "PT"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def book_rows(pool, user_id: int) -> tuple[int, int]:
    """(addresses, address_books rows) the addresses database keeps for ``user_id``."""
    row = await pool.fetchrow("SELECT (SELECT count(*) FROM addresses WHERE user_id = $1) AS addresses, "
                              "(SELECT count(*) FROM address_books WHERE user_id = $1) AS books", user_id)
    return row["addresses"], row["books"]


async def shop(aiohttp_client, make_config):
    return await start(aiohttp_client, make_config(fresh=True, plugins={"enabled": ["users", "addresses"]}))


async def test_export_has_the_book_and_deleting_the_account_erases_only_that_book(aiohttp_client, make_config):
    client = await shop(aiohttp_client, make_config)
    pool = client.app[POOLS]["addresses"]
    ana, _, ana_token = await account(client)
    bo, _, bo_token = await account(client)
    for body in (MADRID, LISBOA):
        resp = await client.post("/api/v1/addresses", json=body, headers=bearer(ana_token))
        assert resp.status == 201, await resp.text()
    resp = await client.post("/api/v1/addresses", json=MADRID, headers=bearer(bo_token))
    assert resp.status == 201

    resp = await client.get("/api/v1/users/me/export", headers=bearer(ana_token))
    assert resp.status == 200, await resp.text()
    exported = (await resp.json())["addresses"]
    assert [(a["city"], a["postal_code"], a["phone"], a["is_default_shipping"]) for a in exported] == [
        ("Madrid", "28013", "+34911234567", True), ("Lisboa", "1100-053", "", False)]
    assert all("user_id" not in a for a in exported)

    resp = await client.delete("/api/v1/users/me", json={"password": PASSWORD}, headers=bearer(ana_token))
    assert resp.status == 204, await resp.text()
    await wait_until(lambda: book_rows(pool, ana), lambda rows: rows == (0, 0), "Ana's address book erased")
    assert await book_rows(pool, bo) == (1, 1)  # someone else's book is untouched
    resp = await client.get("/api/v1/addresses", headers=bearer(bo_token))
    assert [a["city"] for a in (await resp.json())["items"]] == ["Madrid"]
    assert await client.app[ADDRESSES].export(ana) == []


async def test_erasing_a_book_twice_or_a_book_never_made_is_harmless(aiohttp_client, make_config):
    client = await shop(aiohttp_client, make_config)
    pool, service = client.app[POOLS]["addresses"], client.app[ADDRESSES]
    user_id, _, token = await account(client)
    for body in (MADRID, LISBOA):
        assert (await client.post("/api/v1/addresses", json=body, headers=bearer(token))).status == 201
    event = UserDeleted(user_id, datetime.now(timezone.utc).isoformat())
    for _ in range(2):  # the handler as the inbox runs it: in a transaction of the addresses database
        async with pool.acquire() as conn, conn.transaction():
            await service.on_user_deleted(conn, event)
        assert await book_rows(pool, user_id) == (0, 0)
    async with pool.acquire() as conn, conn.transaction():
        await service.on_user_deleted(conn, UserDeleted(10**12, event.at))  # no book at all
    # the same customer id may save again afterwards (a fresh book), and nothing is left half-deleted
    assert (await client.post("/api/v1/addresses", json=MADRID, headers=bearer(token))).status == 201
    assert await book_rows(pool, user_id) == (1, 1)
