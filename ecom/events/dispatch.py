"""Applying one event to its subscribers: verify, then handler + inbox row in one transaction.

A message from the broker is verified (see signing) before any handler or listener sees it; an
untrusted one is dead-lettered in every subscribed plugin's database, counted and logged (once a
minute per topic and reason). An event read by catch-up from a producer's outbox is trusted as is.

Failure policy of a handler:
* a connectivity failure (database away, pool exhausted, deadlock) is retried with back-off
  ``RETRIES`` times and then left alone ("deferred"): the producer's outbox still has the event and
  catch-up delivers it once the database answers. Nothing is dropped, nothing is parked.
* "busy": another transaction (the other worker's copy of the message, or catch-up) is applying the
  same event for the same consumer right now; this one leaves without waiting (see ``_INBOX``).
* :class:`EventRejected` is dead-lettered at once, never retried.
* any other exception is retried ``HANDLER_ATTEMPTS`` times with back-off, then dead-lettered.

Why the record is durable without deferred acks: aiomqtt 2.5 acknowledges a QoS 1 message when it is
queued, and offers no public way to defer that (paho 2.2's ``manual_ack`` is reachable only through
aiomqtt's private ``_client``, and aiomqtt's queue would still own the message). So the durable record
is the producer's outbox, and the consumer's inbox / dead-letter rows say what has been handled:
catch-up compares the two, which covers a message acked and then lost for any reason.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

import asyncpg

from .. import tracing
from ..metrics import EVENTS
from . import deadletter
from ..db import OUTAGES
from ..stopping import stop_if_cancelled
from .deadletter import FAILED, REJECTED, UNTRUSTED, EventRejected, QuietLog
from .envelope import Envelope, current_envelope
from .registry import EventError, owner_of
from .signing import MALFORMED, Signer, Untrusted

if TYPE_CHECKING:
    from .bus import _Subscription

log = logging.getLogger("ecom.events")

TRANSIENT = (*OUTAGES, asyncpg.SerializationError, asyncpg.DeadlockDetectedError)

# Every worker receives every event (no shared subscriptions), so two transactions race to record the
# same (event, consumer). A plain INSERT ... ON CONFLICT makes the loser wait on the winner's uncommitted
# row for the whole of the winner's handler: a pooled connection and a dispatch slot held per duplicate,
# which under checkout load queued payment results behind mails and invoices (issue 12). So the winner
# first takes a transaction advisory lock on (consumer, event) without waiting; a loser answers "busy" at
# once and leaves. Same single round trip. If the winner then fails, it retries or defers as before, and
# catch-up (which counts "busy" as not handled) delivers the event from the producer's outbox.
_INBOX = ("WITH lock AS (SELECT pg_try_advisory_xact_lock(hashtextextended($2::text || ':' || $1::uuid::text, 0)) AS got), "
          "added AS (INSERT INTO inbox (event_id, consumer, topic) SELECT $1::uuid, $2::text, $3::text FROM lock WHERE got "
          f"AND NOT EXISTS (SELECT 1 FROM dead_letter WHERE event_id = $1 AND consumer = $2 AND {deadletter.FINAL}) "
          "ON CONFLICT DO NOTHING RETURNING true) "
          "SELECT CASE WHEN NOT (SELECT got FROM lock) THEN 'busy' "
          "WHEN EXISTS (SELECT 1 FROM added) THEN 'applied' ELSE 'duplicate' END")


class Dispatcher:
    """Verifies and delivers events. Each consumer (a handler with a database) has a lane of its own:
    at most ``LANE`` of its deliveries at once, whatever the others do. With one limit for the whole
    process, first come first served, payment results queued behind a backlog of mails and invoices
    (slower handlers, one copy per worker) while payments' own database and the CPU had room (issue 12).
    The copies for a message's several consumers are delivered side by side for the same reason."""

    RETRIES = 5           # attempts on connectivity failures before leaving the event to catch-up
    HANDLER_ATTEMPTS = 3  # attempts on any other failure before dead-lettering
    BACKOFF = 0.1         # seconds, doubled per attempt, at most MAX_BACKOFF
    MAX_BACKOFF = 2.0
    LANE = 8              # deliveries at once per consumer (about a plugin pool: requests share it)

    def __init__(self, signer: Signer, quiet: QuietLog):
        self.signer, self.quiet = signer, quiet
        self._lanes: dict[str, asyncio.Semaphore] = {}

    def _lane(self, consumer: str) -> asyncio.Semaphore:
        lane = self._lanes.get(consumer)
        if lane is None:
            lane = self._lanes[consumer] = asyncio.Semaphore(self.LANE)
        return lane

    async def from_broker(self, topic: str, payload: bytes, subs: list["_Subscription"]) -> None:
        try:
            fields = self.signer.verify(payload, owner_of(topic))
            env = Envelope.from_fields(fields, fields["producer"])
            if env.type != topic:
                raise Untrusted(MALFORMED, f"its envelope says it is a {env.type}", fields)
        except EventError as err:
            await self._untrusted(topic, payload, subs, Untrusted(MALFORMED, str(err)))
            return
        except Untrusted as err:
            await self._untrusted(topic, payload, subs, err)
            return
        handlers = [sub for sub in subs if sub.pool is not None]
        if len(handlers) > 1:  # independent consumers (own inboxes, own databases): none waits for another
            await asyncio.gather(*(self.deliver(sub, env, payload) for sub in handlers))
        elif handlers:
            await self.deliver(handlers[0], env, payload)
        for sub in subs:  # then the listeners, in order: when one hears an event, its handlers are done
            if sub.pool is None:
                await self.deliver(sub, env, payload)

    async def _untrusted(self, topic: str, payload: bytes, subs: list["_Subscription"], err: Untrusted) -> None:
        self.quiet.warning(f"untrusted:{topic}:{err.reason}", "event on %s never applied: %s", topic, err)
        try:
            event_id = uuid.UUID(str(err.fields.get("id")))
        except ValueError:
            event_id = None
        producer = err.fields.get("producer")
        producer = producer[:100] if isinstance(producer, str) else None
        for sub in subs:
            EVENTS.labels(topic, sub.consumer, "untrusted").inc()
            if sub.pool is None:  # listeners keep no database: counted and logged only
                deadletter.DEAD_LETTERS.labels(topic, sub.consumer, err.reason).inc()
                continue
            try:
                await deadletter.record(sub.pool, event_id=event_id, topic=topic, consumer=sub.consumer,
                                        kind=UNTRUSTED, reason=str(err), payload=payload, producer=producer,
                                        label=err.reason)
            except Exception as exc:  # noqa: BLE001 - the message is refused either way
                self.quiet.warning(f"deadletter:{sub.consumer}", "could not store a dead letter in %s: %s",
                                   sub.consumer, exc)

    async def deliver(self, sub: "_Subscription", env: Envelope, payload: bytes | str) -> str:
        """Hand ``env`` to one subscriber; returns the outcome (also counted in ecom_events_handled_total)."""
        token = current_envelope.set(env)
        try:
            obj = env.payload_as(sub.cls)
            if sub.pool is None:
                outcome = "listened"
                try:
                    result = sub.handler(obj)
                    if asyncio.iscoroutine(result):
                        await result
                except Exception as err:  # noqa: BLE001 - one listener must not stop the others
                    outcome = "failed"
                    self.quiet.warning(f"listener:{sub.consumer}", "listener %s failed on %s: %r",
                                       sub.consumer, env.type, err)
            elif not sub.wanted():  # nothing to do: no transaction, no inbox row (subscribe(wants=))
                outcome = "skipped"
            else:
                async with self._lane(sub.consumer):
                    if tracing.on:  # a CONSUMER span under the producer's, when the envelope carries one
                        from ..tracing.spans import handling, outcome as traced
                        with handling(sub.consumer, env) as span:
                            traced(span, outcome := await self._apply(sub, env, obj, payload))
                    else:
                        outcome = await self._apply(sub, env, obj, payload)
        except EventError as err:  # authentic, but this consumer cannot read it: never will
            outcome = await self._dead(sub, env, payload, REJECTED, str(err))
        finally:
            current_envelope.reset(token)
        EVENTS.labels(env.type, sub.consumer, outcome).inc()
        return outcome

    async def _apply(self, sub: "_Subscription", env: Envelope, obj: Any, payload: bytes | str) -> str:
        transient = failures = 0
        while True:
            try:
                async with sub.pool.acquire() as conn, conn.transaction():
                    outcome = await conn.fetchval(_INBOX, env.id, sub.consumer, env.type)
                    if outcome == "applied":
                        await sub.handler(conn, obj)
                return outcome
            except EventRejected as err:
                return await self._dead(sub, env, payload, REJECTED, err.reason)
            except TRANSIENT as err:
                transient += 1
                if transient >= self.RETRIES:
                    self.quiet.warning(f"deferred:{sub.consumer}", "event %s for %s deferred to catch-up "
                                       "after %d attempts: %s: %s", env.id, sub.consumer, transient,
                                       type(err).__name__, err)
                    return "deferred"
                delay = self.BACKOFF * 2 ** (transient - 1)
            except Exception as err:  # noqa: BLE001 - a bug or bad data: retried, then parked
                failures += 1
                if failures >= self.HANDLER_ATTEMPTS:
                    log.error("event %s (%s) failed %d times in %s; dead-lettered: %r", env.id, env.type,
                              failures, sub.consumer, err)
                    return await self._dead(sub, env, payload, FAILED, f"{type(err).__name__}: {err}")
                delay = self.BACKOFF * 2 ** (failures - 1)
            stop_if_cancelled()  # shutdown: the event stays in the producer's outbox for catch-up
            await asyncio.sleep(min(delay, self.MAX_BACKOFF))

    async def _dead(self, sub: "_Subscription", env: Envelope, payload: bytes | str, kind: str, reason: str) -> str:
        if sub.pool is None:
            deadletter.DEAD_LETTERS.labels(env.type, sub.consumer, kind).inc()
            return kind
        self.quiet.warning(f"{kind}:{sub.consumer}", "event %s (%s) %s by %s: %s", env.id, env.type, kind,
                           sub.consumer, reason)
        try:
            await deadletter.record(sub.pool, event_id=env.id, topic=env.type, consumer=sub.consumer, kind=kind,
                                    reason=reason, payload=payload, producer=env.producer, label=kind)
        except TRANSIENT as err:  # not recorded: catch-up offers the event again later
            self.quiet.warning(f"deadletter:{sub.consumer}", "could not store a dead letter in %s: %s",
                               sub.consumer, err)
            return "deferred"
        return "dead_lettered" if kind == FAILED else "rejected"
