"""Small asyncio helpers.

Python 3.11's ``asyncio.wait_for`` returns the result instead of raising when a cancellation arrives
just as the awaited thing completes (fixed in 3.12). In a ``while True`` loop that swallowed
cancellation keeps a background task alive forever and hangs shutdown, so loops here use these.
"""
from __future__ import annotations

import asyncio
from typing import Any


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; True if it was set."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
        return True
    except TimeoutError:
        return False


async def wait_either(wake: asyncio.Event, stopping: asyncio.Event, timeout: float) -> None:
    """Wait until ``wake`` or ``stopping`` is set, or ``timeout`` seconds pass (a relay's idle wait: new work
    wakes it, shutdown ends it, the timeout is its poll)."""
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopping.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def get_or_none(queue: asyncio.Queue, timeout: float) -> Any:
    """The next item of ``queue``, or None after ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            return await queue.get()
    except TimeoutError:
        return None
