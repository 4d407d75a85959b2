"""Helpers shared by the test modules: bounded polling, extra app instances ("workers"), accounts, and
the config.toml of a shop started as a real process."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

from ecom.app import EVENT_BUS, POOLS, create_app
from ecom.config import Config
from tests.conftest import free_port, free_ports

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


ROOT = Path(__file__).resolve().parent.parent


def write_config(folder: Path, enabled: Iterable[str] | None = ("users",),
                 paths: Iterable[str] = (str(ROOT / "plugins"),), extra: str = "", *, ports: int = 4,
                 rate_limits: bool = True) -> Path:
    """``folder``/config.toml for a shop run as a real process (``run.py``), its data in ``folder``/data.

    One writer for every such test, so that what makes a test shop safe to run next to others is said
    once: free loopback ports for HTTP (``ports`` in a row: ``--instances N`` puts its workers on port + 1..N),
    the embedded broker and the mail catcher; cheap argon2 (a real hash costs ~200 ms a log-in); the plugins
    of this checkout (a relative path would resolve against ``folder``). ``enabled=None`` keeps the shop's
    default plugins; ``rate_limits=False`` lifts the app's per-client limits (every test client is
    127.0.0.1); ``extra`` is more TOML, appended (whole sections)."""
    lines = ["", "[server]", f"port = {free_ports(ports)}", f'data_dir = "{folder / "data"}"', 'log_level = "warning"',
             "[broker]", f"embedded_port = {free_port()}", "[mail]", f"embedded_port = {free_port()}",
             "[security]", "argon2_time_cost = 1", "argon2_memory_kib = 8"]
    if not rate_limits:
        lines += ["rate_limit_per_minute = 0", "auth_rate_limit_per_minute = 0"]
    lines += ["[plugins]"] + ([f"enabled = {list(enabled)!r}".replace("'", '"')] if enabled is not None else [])
    lines += [f"paths = {list(paths)!r}".replace("'", '"'), extra, ""]
    path = folder / "config.toml"
    path.write_text("\n".join(lines))
    return path
