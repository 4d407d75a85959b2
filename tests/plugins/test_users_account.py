"""The account lifecycle over real HTTP, PostgreSQL and broker: email verification, password reset and
change, profile and email change, deletion, export, rate limits, Spanish pages.

Mails are the notifications plugin's job: here the links are read from the events the users plugin
writes to its outbox (the table a relay publishes from), which is exactly what a mailer receives."""
from __future__ import annotations

import json
import re
import uuid

import pytest
from yarl import URL

from ecom.app import POOLS, create_app
from plugins.users.tokens import digest

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
VERIFY_TOPIC, RESET_TOPIC = "ecom/users/verification_requested", "ecom/users/password_reset_requested"


@pytest.fixture
async def client(aiohttp_client, make_config):
    return await aiohttp_client(create_app(make_config(plugins={"enabled": ["users"]})))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def sign_up(client, name: str = "Ana") -> tuple[int, str, str]:
    """(id, email, token) of a new account."""
    email = f"u{uuid.uuid4().hex[:12]}@example.com"
    resp = await client.post("/api/v1/users", json={"email": email, "name": name, "password": PASSWORD})
    assert resp.status == 202, await resp.text()
    token = await log_in(client, email)
    me = await (await client.get("/api/v1/users/me", headers=bearer(token))).json()
    return me["id"], email, token


async def log_in(client, email: str, password: str = PASSWORD, status: int = 200) -> str | None:
    resp = await client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert resp.status == status, await resp.text()
    return (await resp.json())["token"] if status == 200 else None


async def events(client, topic: str, user_id: int) -> list[dict]:
    """The data of every ``topic`` event about ``user_id`` in the users outbox, oldest first."""
    rows = await client.app[POOLS]["users"].fetch("SELECT payload FROM outbox WHERE topic = $1 ORDER BY id", topic)
    found = [json.loads(r["payload"])["data"] for r in rows]
    return [d for d in found if d["user_id"] == user_id]


def token_of(data: dict) -> str:
    return URL(data["url"]).query["token"]


async def csrf_from(client, path: str, **kwargs) -> str:
    resp = await client.get(path, **kwargs)
    assert resp.status == 200, path
    return CSRF.search(await resp.text()).group(1)


async def me(client, token: str) -> dict:
    resp = await client.get("/api/v1/users/me", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def expire(client, secret: str) -> None:
    await client.app[POOLS]["users"].execute(
        "UPDATE user_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1", digest(secret))


# --- email verification ---

async def test_verification_link_is_single_use_and_expires(client):
    user_id, email, token = await sign_up(client)
    assert (await me(client, token))["email_verified"] is False
    [signup] = await events(client, VERIFY_TOPIC, user_id)
    assert signup["email"] == email and signup["purpose"] == "signup" and signup["url"].startswith("/account/verify?")
    stored = await client.app[POOLS]["users"].fetchval("SELECT count(*) FROM user_tokens WHERE token_hash = $1",
                                                       token_of(signup).encode())
    assert stored == 0  # only the SHA-256 is kept

    resp = await client.get(signup["url"], allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login?next=/account"
    assert (await me(client, token))["email_verified"] is True
    again = await client.get(signup["url"])
    assert again.status == 422 and "This link is invalid, has expired or was already used." in await again.text()

    other_id, other_email, other_token = await sign_up(client)
    [expired] = await events(client, VERIFY_TOPIC, other_id)
    await expire(client, token_of(expired))
    resp = await client.post("/api/v1/users/verify-email", json={"token": token_of(expired)})
    assert resp.status == 422 and "token" in (await resp.json())["errors"]
    assert (await me(client, other_token))["email_verified"] is False

    csrf = await csrf_from(client, "/login")
    await client.post("/login", data={"csrf_token": csrf, "email": other_email, "password": PASSWORD})
    page = await (await client.get("/account")).text()
    assert "is not verified yet" in page
    resp = await client.post("/account/verify/resend", data={"csrf_token": CSRF.search(page).group(1)})
    assert resp.status == 200 and resp.url.path == "/account"
    _, resent = await events(client, VERIFY_TOPIC, other_id)
    resp = await client.post("/api/v1/users/verify-email", json={"token": token_of(resent)})
    assert resp.status == 200 and (await resp.json())["email_verified"] is True


# --- password reset ---

async def test_password_reset_is_single_use_expires_and_ends_every_session(client):
    user_id, email, old_token = await sign_up(client)
    browser = await csrf_from(client, "/login")
    resp = await client.post("/login", data={"csrf_token": browser, "email": email, "password": PASSWORD})
    assert resp.status == 200 and resp.url.path == "/account"

    for _ in range(2):
        resp = await client.post("/api/v1/users/password-reset", json={"email": email.upper()})
        assert resp.status == 202
    earlier, link = await events(client, RESET_TOPIC, user_id)
    assert link["url"].startswith("/password/reset?token=") and link["email"] == email
    resp = await client.get(link["url"])
    assert resp.status == 200 and 'name="token"' in await resp.text()

    resp = await client.post("/api/v1/users/password-reset/confirm", json={"token": token_of(link), "password": "short"})
    assert resp.status == 422 and "password" in (await resp.json())["errors"]  # a refused password spends nothing
    resp = await client.post("/api/v1/users/password-reset/confirm",
                             json={"token": token_of(link), "password": NEW_PASSWORD})
    assert resp.status == 204, await resp.text()

    assert (await client.get("/api/v1/users/me", headers=bearer(old_token))).status == 401
    resp = await client.get("/account", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login")  # the browser's session died
    for used in (link, earlier):  # the link is used up, and the older one died with the reset
        resp = await client.post("/api/v1/users/password-reset/confirm",
                                 json={"token": token_of(used), "password": "yet another passphrase"})
        assert resp.status == 422, await resp.text()
    await log_in(client, email, PASSWORD, status=401)
    await log_in(client, email, NEW_PASSWORD)
    [changed] = await events(client, "ecom/users/password_changed", user_id)
    assert changed["how"] == "reset" and changed["email"] == email

    resp = await client.post("/api/v1/users/password-reset", json={"email": email})
    *_, late = await events(client, RESET_TOPIC, user_id)
    await expire(client, token_of(late))
    resp = await client.post("/api/v1/users/password-reset/confirm", json={"token": token_of(late), "password": PASSWORD})
    assert resp.status == 422
    assert (await client.get(late["url"])).status == 422  # the page says so as well


async def test_reset_through_the_pages(client):
    user_id, email, _ = await sign_up(client)
    csrf = await csrf_from(client, "/password/forgot")
    resp = await client.post("/password/forgot", data={"csrf_token": csrf, "email": email})
    assert resp.status == 200
    [link] = await events(client, RESET_TOPIC, user_id)
    page = await (await client.get(link["url"])).text()
    csrf = CSRF.search(page).group(1)
    resp = await client.post("/password/reset", allow_redirects=False,
                             data={"csrf_token": csrf, "token": token_of(link), "password": NEW_PASSWORD})
    assert resp.status == 303 and resp.headers["Location"] == "/login?next=/account"
    await log_in(client, email, NEW_PASSWORD)


async def test_reset_request_answers_identically_for_known_and_unknown_emails(client):
    user_id, email, _ = await sign_up(client)
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    answers = []
    for address in (email, unknown, email, unknown):
        resp = await client.post("/api/v1/users/password-reset", json={"email": address})
        answers.append((resp.status, resp.content_type, await resp.read()))
    assert answers[0][0] == 202 and len(set(answers)) == 1, answers

    csrf = await csrf_from(client, "/password/forgot")
    pages = []
    for address in (email, unknown, email, unknown):
        resp = await client.post("/password/forgot", data={"csrf_token": csrf, "email": address})
        pages.append((resp.status, await resp.read()))
    assert pages[0][0] == 200 and b"a link to choose a new password is on its way" in pages[0][1]
    assert len(set(pages)) == 1  # byte for byte
    assert len(await events(client, RESET_TOPIC, user_id)) == 4  # yet only the real account got links


# --- changes while signed in ---

async def test_change_password_needs_the_current_one_and_ends_other_sessions(client):
    user_id, email, kept = await sign_up(client)
    other = await log_in(client, email)
    resp = await client.post("/api/v1/users/me/password", headers=bearer(kept),
                             json={"current_password": "not my password", "new_password": NEW_PASSWORD})
    assert resp.status == 422 and set((await resp.json())["errors"]) == {"current_password"}
    assert (await client.get("/api/v1/users/me", headers=bearer(other))).status == 200

    resp = await client.post("/api/v1/users/me/password", headers=bearer(kept),
                             json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert resp.status == 204, await resp.text()
    assert (await client.get("/api/v1/users/me", headers=bearer(kept))).status == 200
    assert (await client.get("/api/v1/users/me", headers=bearer(other))).status == 401
    await log_in(client, email, PASSWORD, status=401)
    await log_in(client, email, NEW_PASSWORD)
    [changed] = await events(client, "ecom/users/password_changed", user_id)
    assert changed["how"] == "change"


async def test_change_password_page_keeps_this_browser_signed_in(client):
    _, email, other = await sign_up(client)
    csrf = await csrf_from(client, "/login")
    await client.post("/login", data={"csrf_token": csrf, "email": email, "password": PASSWORD})
    csrf = await csrf_from(client, "/account/password")
    resp = await client.post("/account/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                                       "new_password": NEW_PASSWORD})
    assert resp.status == 200 and resp.url.path == "/account" and "Your password is changed" in await resp.text()
    assert (await client.get("/api/v1/users/me", headers=bearer(other))).status == 401


async def test_email_change_is_verified_before_it_applies(client):
    user_id, email, token = await sign_up(client)
    new = f"new-{uuid.uuid4().hex[:8]}@example.com"
    resp = await client.patch("/api/v1/users/me", headers=bearer(token), json={"email": new.upper(), "name": "Ana B"})
    body = await resp.json()
    assert resp.status == 200 and body["email"] == email and body["pending_email"] == new and body["name"] == "Ana B"
    await log_in(client, new, status=401)  # not yet
    change = [e for e in await events(client, VERIFY_TOPIC, user_id) if e["purpose"] == "email_change"]
    assert [e["email"] for e in change] == [new]
    resp = await client.get(change[0]["url"], allow_redirects=False)
    assert resp.status == 303
    now = await me(client, token)
    assert now["email"] == new and now["email_verified"] is True
    await log_in(client, new)
    await log_in(client, email, status=401)


@pytest.mark.parametrize("changes, field", [({"locale": "xx"}, "locale"), ({"time_zone": "Mars/Base"}, "time_zone"),
                                            ({"name": ""}, "name"), ({"email": "no-at"}, "email"),
                                            ({"name": ["x"]}, "name")])
async def test_bad_profile_changes_are_422(client, changes, field):
    _, _, token = await sign_up(client)
    resp = await client.patch("/api/v1/users/me", headers=bearer(token), json=changes)
    assert resp.status == 422 and field in (await resp.json())["errors"]


async def test_language_and_time_zone_follow_the_account(client):
    _, _, token = await sign_up(client)
    resp = await client.patch("/api/v1/users/me", headers=bearer(token),
                              json={"locale": "es", "time_zone": "Europe/Madrid"})
    assert resp.status == 200 and (await resp.json())["locale"] == "es"
    page = await (await client.get("/account", headers=bearer(token))).text()  # no Accept-Language at all
    assert '<html lang="es">' in page and "Tu cuenta" in page and "Europe/Madrid" in page


async def test_the_navbar_switcher_saves_the_choice_on_the_account(client):
    _, email, token = await sign_up(client)
    csrf = await csrf_from(client, "/login")
    await client.post("/login", data={"csrf_token": csrf, "email": email, "password": PASSWORD})
    csrf = await csrf_from(client, "/account")
    resp = await client.post("/locale", data={"csrf_token": csrf, "locale": "es", "next": "/account"})
    assert resp.status == 200
    assert (await me(client, token))["locale"] == "es"


# --- delete and export ---

async def test_delete_account_kills_its_token_and_emits_user_deleted(client):
    user_id, email, token = await sign_up(client)
    resp = await client.delete("/api/v1/users/me", headers=bearer(token), json={"password": "wrong password"})
    assert resp.status == 422 and "password" in (await resp.json())["errors"]
    assert (await client.get("/api/v1/users/me", headers=bearer(token))).status == 200

    resp = await client.delete("/api/v1/users/me", headers=bearer(token), json={"password": PASSWORD})
    assert resp.status == 204
    assert (await client.get("/api/v1/users/me", headers=bearer(token))).status == 401
    await log_in(client, email, status=401)
    pool = client.app[POOLS]["users"]
    assert await pool.fetchval("SELECT count(*) FROM user_sessions WHERE user_id = $1", user_id) == 0
    [deleted] = await events(client, "ecom/users/deleted", user_id)
    assert deleted["at"]


async def test_delete_account_page(client):
    user_id, email, _ = await sign_up(client)
    csrf = await csrf_from(client, "/login")
    await client.post("/login", data={"csrf_token": csrf, "email": email, "password": PASSWORD})
    csrf = await csrf_from(client, "/account/delete")
    resp = await client.post("/account/delete", data={"csrf_token": csrf, "password": "nope nope"})
    assert resp.status == 422
    resp = await client.post("/account/delete", data={"csrf_token": csrf, "password": PASSWORD})
    assert resp.status == 200 and resp.url.path == "/" and "Your account is deleted" in await resp.text()
    assert (await client.get("/account", allow_redirects=False)).status == 303
    assert len(await events(client, "ecom/users/deleted", user_id)) == 1


async def test_export_contains_the_profile(client):
    user_id, email, token = await sign_up(client, "Eva Export")
    resp = await client.get("/api/v1/users/me/export", headers=bearer(token))
    assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
    data = json.loads(await resp.text())
    assert data["users"]["id"] == user_id and data["users"]["email"] == email and data["users"]["name"] == "Eva Export"
    assert "password" not in json.dumps(data) and "argon2" not in json.dumps(data)


# --- limits and language ---

async def test_forgot_password_is_rate_limited(aiohttp_client, make_config):
    config = make_config(plugins={"enabled": ["users"]}, security={"auth_rate_limit_per_minute": 4})
    client = await aiohttp_client(create_app(config))
    statuses = [(await client.post("/api/v1/users/password-reset", json={"email": "a@b.cd"})).status
                for _ in range(4)]
    assert statuses[0] == 202 and 429 in statuses, statuses
    resp = await client.post("/password/forgot", data={"email": "a@b.cd"}, headers={"Accept": "text/html"})
    assert resp.status == 429 and resp.headers["Retry-After"]


async def test_spanish_pages_render_with_accept_language(client):
    es = {"Accept-Language": "es-ES,es;q=0.9"}
    resp = await client.get("/password/forgot", headers=es)
    page = await resp.text()
    assert resp.status == 200 and '<html lang="es">' in page and "¿Has olvidado tu contraseña?" in page
    assert "Forgot your password?" not in page
    page = await (await client.get("/login", headers=es)).text()
    assert "Iniciar sesión" in page and "Crear una cuenta" in page
    resp = await client.post("/api/v1/users/password-reset", json={"email": "x@example.com"}, headers=es)
    assert "enlace" in (await resp.json())["detail"]
