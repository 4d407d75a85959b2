"""NotificationsService: turn "write this to that person" into a rendered, deduplicated message row.

Messages are written in the caller's transaction (an event handler's inbox transaction), so a mail
exists if and only if its event was applied; the relay sends it after commit. The dedupe key is
``<event id>:<kind>:<recipient>``: an event replayed from an outbox, or handled by a second consumer
path, never makes a second mail to the same person.
"""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from ecom.events import current_envelope

from . import db
from .compose import Composer


@dataclass(frozen=True)
class Person:
    """Who a mail goes to: their address, name and how they read (language, time zone)."""
    user_id: int | None
    email: str
    name: str
    locale: str | None = None
    time_zone: str | None = None


class NotificationsService:
    def __init__(self, pool: asyncpg.Pool, composer: Composer, wake: asyncio.Event | None = None):
        self.pool, self.composer, self.wake = pool, composer, wake

    async def queue(self, conn: asyncpg.Connection, kind: str, to: Person, **context: Any) -> int | None:
        """The new message's id, or None if this event already wrote ``kind`` to ``to``."""
        env = current_envelope.get()
        event_id = str(env.id) if env is not None else str(uuid.uuid4())
        mail = self.composer.render(kind, to.locale, to.time_zone, name=to.name, **context)
        new_id = await db.enqueue(conn, db.Draft(
            f"{event_id}:{kind}:{to.email.lower()}", kind, to.user_id, to.email, mail.locale, mail.subject,
            mail.text, mail.html, self.composer.message_id()))
        if new_id is not None and self.wake is not None:
            self.wake.set()  # this worker's relay looks soon (after commit, at its next claim)
        return new_id

    async def for_user(self, user_id: int) -> list[asyncpg.Record]:
        return await db.for_user(self.pool, user_id)

    async def one_for_user(self, user_id: int, message_id: int) -> asyncpg.Record | None:
        return await db.one_for_user(self.pool, user_id, message_id)
