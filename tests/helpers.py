"""Helpers shared by the test modules: bounded polling, extra app instances ("workers"), accounts."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any, Awaitable, Callable

from ecom.app import EVENT_BUS, POOLS, create_app
from ecom.config import Config

DEADLINE = 30.0  # room for a busy machine: a passing test never waits this long
PASSWORD = "correct horse battery"


async def wait_until(probe: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], what: str,
                     timeout: float = DEADLINE) -> Any:
    """Poll ``probe`` until ``done(value)``; fail with the last value after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if done(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.05)


def worker(config: Config, name: str) -> Config:
    """Another process of the same deployment (databases, secret), with its own broker client id."""
    return config.replace(broker={"client_id": f"{config.broker.client_id}-{name}"})


async def start(aiohttp_client, config: Config):
    """A served app whose event bus is connected."""
    client = await aiohttp_client(create_app(config))
    assert client.app[EVENT_BUS].connected
    return client


async def account(client, *, seller: bool = False, admin: bool = False) -> tuple[int, str, str]:
    """(id, email, bearer token) of a new customer, seller or admin, made through the users API."""
    from plugins.users.admin import create_admin
    email = f"u{uuid.uuid4().hex[:12]}@example.com"
    resp = await client.post("/api/v1/users", json={"email": email, "name": "Tester", "password": PASSWORD,
                                                    "is_seller": seller})
    assert resp.status == 202, await resp.text()  # sign-up answers alike for new and known emails: no id
    if admin:
        await create_admin(client.app[POOLS]["users"], email, PASSWORD, time_cost=1, memory_kib=8)
    resp = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    token = (await resp.json())["token"]
    resp = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, await resp.text()
    return (await resp.json())["id"], email, token
