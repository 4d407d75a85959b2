"""Work the gateway no longer does on requests that do not need it (issue 12), counted rather than timed:
an API call with a bearer token decrypts no session cookie (not even one the browser sends along), and a
rate limiter that is off reads no client address. What those requests still get is checked too."""
from __future__ import annotations

import re

import pytest
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from ecom.gateway import ratelimit
from ecom.gateway.headers import SECURITY_HEADERS
from tests.helpers import PASSWORD, account

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def decrypted(monkeypatch) -> list[str]:
    """The paths of requests whose session cookie was decrypted (a counting wrapper: the real load runs)."""
    paths: list[str] = []
    load = EncryptedCookieStorage.load_session

    async def counting(self, request):
        if self.load_cookie(request) is not None:
            paths.append(request.path)
        return await load(self, request)
    monkeypatch.setattr(EncryptedCookieStorage, "load_session", counting)
    return paths


async def log_in(client, email: str) -> None:
    page = await (await client.get("/login")).text()
    resp = await client.post("/login", data={"csrf_token": CSRF.search(page).group(1), "email": email,
                                             "password": PASSWORD})
    assert resp.status == 200 and resp.url.path != "/login"


async def test_a_bearer_api_read_decrypts_no_session_cookie(client, decrypted):
    _, email, token = await account(client, seller=True)
    bearer = {"Authorization": f"Bearer {token}"}
    resp = await client.post("/api/v1/products", headers=bearer, json={
        "name": "Brass Lamp", "price_cents": 1999, "currency": "USD", "type": "Office", "sku": "BRASS-1"})
    assert resp.status == 201, await resp.text()
    product = await resp.json()
    await log_in(client, email)  # the client's cookie jar now sends a session cookie with every request
    assert client.session.cookie_jar.filter_cookies(client.make_url("/")).get("ecom_session") is not None

    decrypted.clear()
    resp = await client.get(f"/api/v1/products/{product['id']}", headers=bearer)
    assert resp.status == 200 and await resp.json() == product
    assert decrypted == []
    for name in SECURITY_HEADERS:
        assert name in resp.headers
    assert resp.headers["X-Request-Id"] and resp.headers["Content-Language"] == "en"
    assert resp.headers["ETag"] and "Authorization" in resp.headers["Vary"]
    assert resp.headers["Cache-Control"] == "private, no-cache"

    resp = await client.get("/api/v1/products/999999999", headers=bearer)  # errors skip it too
    assert resp.status == 404 and resp.content_type == "application/problem+json"
    assert (await resp.json())["request_id"] == resp.headers["X-Request-Id"]
    assert decrypted == []

    assert (await client.get("/products")).status == 200  # a page still reads the session (the spy works)
    assert "/products" in decrypted


async def test_a_rate_limit_that_is_off_reads_no_client_address(client, monkeypatch):
    calls: list[str] = []
    client_ip = ratelimit.client_ip

    def counting(request):
        calls.append(request.path)
        return client_ip(request)
    monkeypatch.setattr(ratelimit, "client_ip", counting)
    assert (await client.get("/api/v1/products")).status == 200  # make_config: both limits 0 (off)
    assert (await client.get("/products")).status == 200
    assert calls == []
