"""Live order status for server-sent event streams. Every worker receives every OrderStatusChanged
(``ctx.events.listen``: MQTT fan-out, no shared subscription), so a stream works whichever worker holds
the shopper's connection. No aiohttp here: the route (stream.py) reads a watcher's queue.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Iterator

from .events import OrderStatusChanged

CLOSED = None  # put in every queue when the process shuts down


class LiveHub:
    def __init__(self) -> None:
        self._watchers: dict[str, set[asyncio.Queue]] = {}
        self.closed = False

    def publish(self, evt: OrderStatusChanged) -> None:
        """The ``listen`` callback: hand the event to everyone watching its order."""
        for queue in self._watchers.get(evt.order_id, ()):
            queue.put_nowait(evt)

    @contextlib.contextmanager
    def watch(self, order_id: str) -> Iterator[asyncio.Queue]:
        queue: asyncio.Queue = asyncio.Queue(maxsize=0)
        if self.closed:
            queue.put_nowait(CLOSED)
        self._watchers.setdefault(order_id, set()).add(queue)
        try:
            yield queue
        finally:
            watchers = self._watchers.get(order_id)
            if watchers is not None:
                watchers.discard(queue)
                if not watchers:
                    del self._watchers[order_id]

    @property
    def watching(self) -> int:
        return sum(len(w) for w in self._watchers.values())

    def close(self) -> None:
        """End every stream (shutdown)."""
        self.closed = True
        for watchers in self._watchers.values():
            for queue in watchers:
                queue.put_nowait(CLOSED)
