"""Accounts of each role, made the way a person gets one: through the users plugin's API.

Needs the ``users`` plugin enabled in the shop (every role is a users account). An admin is a customer
promoted with the same call as ``run.py create-admin``.
"""
from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass

PASSWORD = "correct horse battery"
ROLES = ("customer", "seller", "admin")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BUSY_DEADLINE = 60.0  # seconds a call may keep answering 503 before the account is given up


@dataclass(frozen=True)
class User:
    """A test account: ``token`` is a bearer for the API (``Authorization: Bearer <token>``)."""
    id: int
    email: str
    password: str
    token: str
    role: str

    @property
    def auth(self) -> dict[str, str]:
        """The headers of an API call as this user."""
        return {"Authorization": f"Bearer {self.token}"}


async def create_account(client, role: str = "customer") -> User:
    """A new account of ``role`` with a bearer token; the client's cookies are left as they were."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    from plugins.users.admin import create_admin  # the users plugin's own promotion (run.py create-admin)
    from ..app import POOLS  # here, not at the top: a pytest run that uses no fixture of ours imports no app
    email = f"u{uuid.uuid4().hex[:12]}@example.com"
    resp = await patiently(client.post, "/api/v1/users", json={"email": email, "name": "Tester",
                                                                "password": PASSWORD, "is_seller": role == "seller"})
    assert resp.status == 202, await resp.text()  # sign-up answers alike for new and known emails: no id
    if role == "admin":
        await create_admin(client.app[POOLS]["users"], email, PASSWORD, time_cost=1, memory_kib=8)
    resp = await patiently(client.post, "/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    token = (await resp.json())["token"]
    resp = await patiently(client.get, "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, await resp.text()
    return User((await resp.json())["id"], email, PASSWORD, token, role)


async def patiently(call, *args, **kwargs):
    """``await call(*args, **kwargs)`` (a TestClient's or ClientSession's request), made again after its
    Retry-After while the shop answers 503 (briefly out of database connections: many accounts or
    checkouts at once on a busy machine), as a real client does, for up to BUSY_DEADLINE seconds. For a
    test's setup, not what it tests (a test about overload calls the API itself), and only for calls safe
    to repeat: sign-up and log-in, or a checkout with an Idempotency-Key."""
    deadline = time.monotonic() + BUSY_DEADLINE
    while True:
        resp = await call(*args, **kwargs)
        if resp.status != 503 or time.monotonic() > deadline:
            return resp
        wait = resp.headers.get("Retry-After", "1")
        resp.release()
        await asyncio.sleep(min(5.0, float(wait)) if wait.isdigit() else 1.0)


async def log_in(client, user: User) -> None:
    """Log ``user`` in through the login form (CSRF token and all): the client's cookie jar then carries
    their session, so the client's page requests are theirs (one session per client: the last log-in)."""
    page = await (await client.get("/login")).text()
    match = _CSRF.search(page)
    assert match, "the login page has no CSRF token"
    resp = await client.post("/login", data={"csrf_token": match.group(1), "email": user.email,
                                             "password": user.password})
    assert resp.status == 200 and resp.url.path != "/login", f"log-in as {user.email} failed: {resp.status}"
