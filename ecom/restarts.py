"""How often something the shop runs may die before the shop gives up on it.

Why bounded: a part that dies again at once (a broken config, a port taken for good, a disk that is
full) restarted forever looks alive to systemd while the shop serves nothing. After ``limit`` restarts
within ``window`` seconds the owner gives up with one clear line and a non-zero exit, and systemd (or
the operator) takes over. Back-off between attempts: 1 s doubling to ``max_backoff``; a part that ran
``fresh_after`` seconds since its last start is a fresh failure and starts again from 1 s.
``ECOM_RESTART_LIMIT`` in the environment changes the limit (a test gives up after one restart).
"""
from __future__ import annotations

import os
import time
from collections import deque

LIMIT = int(os.environ.get("ECOM_RESTART_LIMIT", "5"))  # restarts ... (the variable: for tests and operators)
WINDOW = 120.0     # ... within this many seconds, then give up
MAX_BACKOFF = 30.0
FRESH_AFTER = 60.0


class GiveUp(RuntimeError):
    """Raised by :meth:`RestartBudget.next_delay`; the message is the one line to print."""


class RestartBudget:
    def __init__(self, what: str, *, limit: int = LIMIT, window: float = WINDOW,
                 max_backoff: float = MAX_BACKOFF, fresh_after: float = FRESH_AFTER):
        self.what, self.limit, self.window = what, limit, window
        self.max_backoff, self.fresh_after = max_backoff, fresh_after
        self.backoff = 1.0
        self.started_at = time.monotonic()
        self._restarts: deque[float] = deque()

    def started(self) -> None:
        """Note a (re)start, so a part that then runs a while counts as healthy again."""
        self.started_at = time.monotonic()

    def next_delay(self) -> float:
        """Seconds to wait before the next restart; GiveUp when the budget is spent."""
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > self.window:
            self._restarts.popleft()
        if len(self._restarts) >= self.limit:
            raise GiveUp(f"{self.what} died {len(self._restarts) + 1} times within {self.window:.0f} s; "
                         "giving up (see its log)")
        if now - self.started_at > self.fresh_after:
            self.backoff = 1.0
        delay, self.backoff = self.backoff, min(self.backoff * 2, self.max_backoff)
        self._restarts.append(now)
        return delay
