"""Bounded polling: tests wait for an outcome with a generous deadline instead of sleeping a guess."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

DEADLINE = 30.0  # room for a busy machine: a passing test never waits this long


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
