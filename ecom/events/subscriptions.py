"""What plugins hold: their view of the bus (emit into their outbox, subscribe with their inbox)."""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

import asyncpg

from .. import outbox
from .envelope import Envelope
from .registry import EventError, owner_of

if TYPE_CHECKING:
    from .bus import EventBus

E = TypeVar("E")


@dataclass
class _Subscription:
    cls: type
    consumer: str
    pool: asyncpg.Pool | None
    handler: Callable
    wants: Callable[[], bool] | None = None  # False: skip events now, no transaction, no inbox row

    def wanted(self) -> bool:
        return self.wants is None or self.wants()


class PluginEvents:
    """A plugin's view of the bus: emit into its own outbox, subscribe with its own inbox."""

    def __init__(self, bus: "EventBus", plugin: str, pool: asyncpg.Pool):
        self.bus, self.plugin, self.pool = bus, plugin, pool

    async def emit(self, conn: asyncpg.Connection, obj: Any) -> uuid.UUID:
        """Write ``obj`` to the outbox in ``conn``'s current transaction; published after commit."""
        if not conn.is_in_transaction():
            raise EventError("emit() must run inside the transaction of the change it announces")
        env = Envelope.wrap(obj)
        if owner_of(env.type) != self.plugin:  # consumers would dead-letter it: say so here, at the bug
            raise EventError(f"{self.plugin} may not emit {env.type}: its owner is {owner_of(env.type)}")
        await outbox.write(conn, env.id, env.type, env.to_json())
        return env.id

    def subscribe(self, cls: type[E], handler: Callable[[asyncpg.Connection, E], Awaitable[None]], *,
                  name: str | None = None, wants: Callable[[], bool] | None = None) -> None:
        """Run ``handler`` once per event id. Its inbox rows are keyed ``<plugin>:<name>`` (default: the
        handler's qualified name), which must be the same in every worker and across releases.

        ``wants``: for a consumer that often has nothing to do (webhooks with no endpoint for a type).
        While it returns False, events are skipped without a transaction and without an inbox row: the
        handler would have done nothing, and the inbox transaction was the whole cost (per worker: every
        worker receives every event). Catch-up treats a skipped event as handled, so it is neither
        replayed nor reported missing. It must be cheap and synchronous (called per event), and it may
        lag the truth only by less than a minute: catch-up delivers an event skipped while it lagged if
        ``wants`` turns True within ``settle`` (60 s) of the event (see catchup.py). When unsure, True."""
        consumer = f"{self.plugin}:{name or _handler_name(handler)}"
        self.bus.add(_Subscription(cls, consumer, self.pool, handler, wants))

    def listen(self, cls: type[E], callback: Callable[[E], Awaitable[None] | None]) -> Callable[[], None]:
        """Every verified copy this process receives, without database or dedupe (live views)."""
        sub = _Subscription(cls, f"{self.plugin}:listen", None, callback)
        self.bus.add(sub)
        return lambda: self.bus.remove(sub)


def _handler_name(handler: Callable) -> str:
    """A name that is the same in every process: never a repr with a memory address in it."""
    target = handler
    while isinstance(target, functools.partial):
        target = target.func
    return getattr(target, "__qualname__", None) or type(target).__qualname__
