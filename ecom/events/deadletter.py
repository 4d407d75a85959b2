"""Dead letters: events a consumer will never apply, kept with the reason for an operator.

Three kinds land in the consumer plugin's ``dead_letter`` table:

* ``untrusted`` -- unsigned, mis-signed, replayed outside the window, or signed by a plugin that does not
  own the topic. Such a row does NOT block the event id: a forger may reuse a real event's id, and the
  real, signed event must still be applied.
* ``rejected`` -- a handler raised :class:`EventRejected` (the event is authentic but must not be applied,
  e.g. orders finds that payments does not know the payment). Never retried.
* ``failed`` -- a handler kept failing for a reason that is not connectivity (a bug, bad data). Not
  retried by redelivery or catch-up either; deleting the row lets catch-up deliver it again.

Rejected and failed rows are final for (event id, consumer): the inbox insert checks them.
Secret-looking data fields (card tokens, ...) are redacted before a payload is stored.
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import asyncpg
from prometheus_client import Counter

from ..logs import QuietLog  # noqa: F401  (re-exported: the bus and dispatch use it)

UNTRUSTED, REJECTED, FAILED = "untrusted", "rejected", "failed"
FINAL = "kind <> 'untrusted'"  # SQL: a dead letter that settles its (event, consumer) for good
MAX_PAYLOAD = 16384
_SECRET_WORDS = ("token", "card_number", "cvc", "password", "secret")

DEAD_LETTERS = Counter("ecom_events_dead_lettered_total", "Event copies never applied, by reason",
                       ["topic", "consumer", "reason"])

log = logging.getLogger("ecom.events")


class EventRejected(Exception):
    """Raised by a handler when an authentic event must not be applied. The handler's transaction
    (inbox row included) rolls back, the event is dead-lettered with ``reason`` and never retried."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def redact(payload: bytes | str) -> str:
    """The payload as text, with secret-looking data fields replaced and the size capped."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    try:
        raw = json.loads(text)
        data = raw.get("data") if isinstance(raw, dict) else None
        if isinstance(data, dict):
            for key in data:
                if any(word in key.lower() for word in _SECRET_WORDS):
                    data[key] = "[redacted]"
            text = json.dumps(raw, separators=(",", ":"))
    except ValueError:
        pass
    return text[:MAX_PAYLOAD]


async def record(pool_or_conn: asyncpg.Pool | asyncpg.Connection, *, event_id: uuid.UUID | None, topic: str,
                 consumer: str, kind: str, reason: str, payload: bytes | str, producer: str | None,
                 label: str) -> None:
    """Store one dead letter (a copy the same consumer already stored is skipped) and count it."""
    DEAD_LETTERS.labels(topic, consumer, label).inc()
    await pool_or_conn.execute(
        "INSERT INTO dead_letter (event_id, topic, consumer, kind, reason, payload, producer) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        event_id, topic, consumer, kind, reason[:500], redact(payload), producer)


async def summary(pool: asyncpg.Pool, newest: int = 5) -> dict[str, Any]:
    """Count and the newest few dead letters of one plugin database (the admin health panel)."""
    count = await pool.fetchval("SELECT count(*) FROM dead_letter")
    rows = await pool.fetch("SELECT event_id, topic, consumer, kind, reason, producer, received_at "
                            "FROM dead_letter ORDER BY id DESC LIMIT $1", newest)
    return {"count": count, "newest": [dict(r) for r in rows]}


async def purge(pool: asyncpg.Pool, keep) -> int:
    done = await pool.execute("DELETE FROM dead_letter WHERE received_at < now() - $1::interval", keep)
    return int(done.split()[-1])
