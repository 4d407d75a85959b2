"""Test-only plugin: owns ``things`` and announces each new thing with ``ecom/producer/thing_happened``.

The change (a ``things`` row) and the event (an ``outbox`` row) are written in ONE transaction.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from ecom.events import PluginEvents, event
from ecom.plugin import Plugin, PluginContext


@event("ecom/producer/thing_happened")
@dataclass(frozen=True)
class ThingHappened:
    """Topic ``ecom/producer/thing_happened``; data ``{"thing_id": int, "label": str}``.

    Sent after a row was committed to the producer's ``things`` table."""
    thing_id: int
    label: str


class Rollback(Exception):
    """Raised by make_thing(fail_after_emit=True) to roll the transaction back after the emit."""


class ProducerService:
    def __init__(self, pool: asyncpg.Pool, events: PluginEvents):
        self.pool, self.events = pool, events

    async def make_thing(self, label: str, *, fail_after_emit: bool = False) -> tuple[int, uuid.UUID]:
        """Insert a thing and emit ThingHappened in the same transaction; return (thing id, event id)."""
        async with self.pool.acquire() as conn, conn.transaction():
            thing_id = await conn.fetchval("INSERT INTO things (label) VALUES ($1) RETURNING id", label)
            event_id = await self.events.emit(conn, ThingHappened(thing_id, label))
            if fail_after_emit:
                raise Rollback(label)
        return thing_id, event_id


PRODUCER = web.AppKey("eventplugins.producer", ProducerService)


async def lifespan(ctx: PluginContext):
    ctx.provide(PRODUCER, ProducerService(ctx.pool, ctx.events))
    yield


PLUGIN = Plugin(name="producer", lifespan=lifespan)
