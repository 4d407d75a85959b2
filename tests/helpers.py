"""Helpers shared by the test modules: bounded polling and extra app instances ("workers")."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from ecom.app import EVENT_BUS, create_app
from ecom.config import Config

DEADLINE = 15.0


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
