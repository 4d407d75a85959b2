"""A micro-cache of what the logged-in catalog and product pages show alike to every shopper.

Guests' catalog and product pages already come from nginx's page cache for ``catalog_cache_seconds``
(30 s by default): a guest may see a price or a stock figure that old. A logged-in shopper's page cannot be
cached whole (it carries their name, cart count, CSRF token, flash messages, language), so every one of
them was a search query, an inventory read and a full render per page: at a few hundred pages a second,
the same work a few hundred times for the same answer. Each worker now keeps, for ``page_cache_seconds``
(config; 10 s by default, never longer than ``catalog_cache_seconds``, 0 = off):

- the catalog's rendered main column (filters form, product grid, page links), per (language, query
  string): the same query in the same language renders the same HTML for everyone;
- a product page's product and its stock per region, per product id, for shoppers only: the product's own
  seller and admins (those who may edit it) always read it live, since they expect to see their change.

Everything personal stays live on every page: who is logged in, the cart count, the CSRF token, flashes.
Nothing that promises anything reads from here: the cart, checkout and the API read prices and stock live
(a checkout re-checks both in its own transaction), so an up to 10 s old figure on a page can only make a
shopper's add-to-cart or checkout be refused, never oversell or mis-charge. A product deleted or archived
disappears from shoppers' pages within the TTL; this worker's own changes drop its entries at once
(service.py), the other workers' entries age out.

Bounded: at most ``MAX_ENTRIES`` keys per cache, least recently used dropped first, so odd query strings
cannot grow a worker's memory.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Hashable

MAX_ENTRIES = 256

_clock = time.monotonic  # replaceable in tests, without touching the event loop's clock


class PageCache:
    """key -> value for ``ttl`` seconds, at most ``max_entries`` keys (LRU). ``ttl`` 0 keeps nothing."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES):
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        """The value stored under ``key`` less than ``ttl`` seconds ago, else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= _clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        if self.ttl <= 0:
            return
        self._entries[key] = (_clock() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
