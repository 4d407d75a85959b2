"""Sellers' display names for the product pages, remembered for a short while per process.

Every product page shows "Sold by <name>", and asking the users plugin for it was one more database round
trip (two with the pool's reset) on each page. A name changes rarely and a name stale by up to
``TTL_SECONDS`` is harmless on a page (it promises nothing: prices, stock and carts are never read from
here), so each worker keeps the names it has looked up for that long. A seller who is gone is remembered
as gone for as long. The users service stays the only source: this is a read-through cache of it."""
from __future__ import annotations

import time
import weakref
from typing import Any

from ecom.errors import NotFound

TTL_SECONDS = 60.0
MAX_NAMES = 10_000  # a bound on memory: the cache starts afresh when this many sellers were seen

_clock = time.monotonic  # replaceable in tests, without touching the event loop's clock
_caches: "weakref.WeakKeyDictionary[Any, dict[int, tuple[float, str | None]]]" = weakref.WeakKeyDictionary()


async def seller_names(users: Any, seller_ids: set[int]) -> dict[int, str]:
    """seller id -> display name (sellers that do not exist are left out), from ``users.get`` at most once
    per seller every TTL_SECONDS in this process."""
    if users is None:
        return {}
    known = _caches.setdefault(users, {})
    now = _clock()
    names: dict[int, str] = {}
    for seller_id in seller_ids:
        entry = known.get(seller_id)
        if entry is None or entry[0] <= now:
            try:
                name: str | None = (await users.get(seller_id)).name
            except NotFound:
                name = None
            if len(known) >= MAX_NAMES:
                known.clear()
            entry = known[seller_id] = (now + TTL_SECONDS, name)
        if entry[1] is not None:
            names[seller_id] = entry[1]
    return names
