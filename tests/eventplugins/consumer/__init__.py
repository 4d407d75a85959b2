"""Test-only plugin: consumes ``ecom/producer/thing_happened`` with an effect in its own database.

The handler, in the transaction that also records the inbox row, inserts one ``effects`` row and
increments ``counter``. ``effects`` deliberately has NO unique constraint on the event id: only the
inbox stands between a duplicate delivery and a second effect row.

A label starting with ``boom`` makes the handler raise after writing its effect (which must roll back).
Every copy of the event this process receives is also counted in ``ConsumerService.copies`` by a
``listen`` callback registered after the handler; listeners hear an event after its handlers, so when a copy is counted
the handler has finished with it.
"""
from __future__ import annotations

import asyncio
import collections
import uuid
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from ecom.events import current_envelope
from ecom.plugin import Plugin, PluginContext
from ..producer import ThingHappened


@dataclass(frozen=True)
class ConsumerConfig:
    startup_delay: float = 0.0  # seconds of start-up work before subscribing (like warming a cache)


class ConsumerService:
    def __init__(self, pool: asyncpg.Pool, worker: str):
        self.pool, self.worker = pool, worker
        self.copies: collections.Counter[uuid.UUID] = collections.Counter()

    async def on_thing(self, conn: asyncpg.Connection, ev: ThingHappened) -> None:
        env = current_envelope.get()
        await conn.execute("INSERT INTO effects (event_id, thing_id, label, worker) VALUES ($1, $2, $3, $4)",
                           env.id, ev.thing_id, ev.label, self.worker)
        await conn.execute("UPDATE counter SET n = n + 1 WHERE name = 'things'")
        if ev.label.startswith("boom"):
            raise RuntimeError(f"handler refuses {ev.label}")

    def on_copy(self, ev: ThingHappened) -> None:
        self.copies[current_envelope.get().id] += 1


CONSUMER = web.AppKey("eventplugins.consumer", ConsumerService)


async def lifespan(ctx: PluginContext):
    service = ConsumerService(ctx.pool, ctx.settings.broker.client_id)
    await asyncio.sleep(ctx.config.startup_delay)
    ctx.events.subscribe(ThingHappened, service.on_thing)
    unlisten = ctx.events.listen(ThingHappened, service.on_copy)  # after the handler: see module doc
    ctx.provide(CONSUMER, service)
    yield
    unlisten()


PLUGIN = Plugin(name="consumer", lifespan=lifespan, config=ConsumerConfig)
