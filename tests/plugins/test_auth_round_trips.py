"""Authenticating a request costs ONE round trip to the users database: one query joins the session or
token to its user, and the pool does not reset a clean connection afterwards (ecom.db.PooledConnection).
A revoked session or token is refused at once, because nothing is cached between requests.

Round trips are counted with asyncpg's own per-connection query counter (``queries_count``, which the
pool itself uses for ``max_queries``), summed over the users pool's connections. Background work (the
outbox relay, catch-up) also queries that pool now and then, so a round is made again when something
else ran during it: the smallest of a few rounds is the requests' own cost.
"""
from __future__ import annotations

import re

from ecom.app import POOLS
from tests.helpers import PASSWORD, account

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REQUESTS, ROUNDS = 10, 6


def queries_sent(pool) -> int:
    return sum(h._con._protocol.queries_count for h in pool._holders if h._con is not None)


async def users_round_trips(client, path: str, headers: dict | None = None) -> int:
    """The fewest users-database queries that REQUESTS authenticated GETs of ``path`` cost in a round."""
    pool = client.app[POOLS]["users"]
    for _ in range(2):  # warm up: statements prepared, pool connections opened
        assert (await client.get(path, headers=headers)).status == 200
    fewest = None
    for _ in range(ROUNDS):
        before = queries_sent(pool)
        for _ in range(REQUESTS):
            resp = await client.get(path, headers=headers)
            assert resp.status == 200, await resp.text()
        spent = queries_sent(pool) - before
        fewest = spent if fewest is None else min(fewest, spent)
        if fewest == REQUESTS:
            break
    return fewest


async def log_in(client, email: str) -> None:
    page = await (await client.get("/login")).text()
    resp = await client.post("/login", data={"csrf_token": CSRF.search(page).group(1), "email": email,
                                             "password": PASSWORD})
    assert resp.status == 200 and resp.url.path != "/login"


async def test_a_bearer_request_costs_one_users_round_trip(client):
    _, _, token = await account(client)
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/users/me", headers=bearer)).status == 200  # the token works
    assert await users_round_trips(client, "/api/v1/products", bearer) == REQUESTS

    assert (await client.delete("/api/v1/auth/token", headers=bearer)).status == 204
    assert (await client.get("/api/v1/products", headers=bearer)).status == 401  # revoked: refused at once


async def test_a_session_page_costs_one_users_round_trip(client):
    _, email, _ = await account(client)
    await log_in(client, email)
    me = (await (await client.get("/account")).text())
    assert email in me
    assert await users_round_trips(client, "/products") == REQUESTS
    assert email in await (await client.get("/account")).text()  # still signed in: it was really counted

