"""Helpers shared by the test modules: extra app instances ("workers"), accounts, and the config.toml of
a shop started as a real process. Bounded polling and accounts live in ecom.testing (the kit plugin
authors use too); their old names stay importable from here."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ecom.app import EVENT_BUS, create_app
from ecom.config import Config
from ecom.testing import DEADLINE, PASSWORD, create_account, free_port, free_ports, wait_until  # noqa: F401


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
    user = await create_account(client, "admin" if admin else "seller" if seller else "customer")
    return user.id, user.email, user.token


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
