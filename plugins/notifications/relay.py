"""The relay: sends due messages by SMTP, each exactly once however many workers run one.

A relay claims a batch (``FOR UPDATE SKIP LOCKED``, so two relays never pick the same row) and leases
it (``lease_until``, a ``lease_token`` of its own) in a short committed transaction, then talks SMTP
outside any transaction, then marks each message sent only if it still holds the lease. A relay that
dies mid-send leaves the lease to expire, after which another relay retries the message.

A failed send is retried after ``retry_base * 2^(attempt-1)`` seconds (capped at one hour) times a
random jitter in [0.5, 1.0), so that many mails failing together do not retry in lockstep. After
``[mail] max_attempts`` attempts the message is ``failed`` and logged once, at warning level, with its
id, kind and the last error (never the SMTP credentials, never the body).
"""
from __future__ import annotations

import asyncio
import logging
import random
import uuid
from email.message import EmailMessage
from email.utils import formatdate

import asyncpg

from ecom.aio import wait_either
from ecom.stopping import stop_if_cancelled
from ecom.mail.sender import SendError, Session, SmtpTarget

from . import db

log = logging.getLogger("ecom.plugins.notifications")
MAX_DELAY = 3600.0
BATCH = 20


def backoff(attempt: int, base: float, rand: random.Random = random) -> float:  # type: ignore[assignment]
    return min(base * 2 ** max(attempt - 1, 0), MAX_DELAY) * (0.5 + rand.random() / 2)


def build(row: asyncpg.Record, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, row["recipient"], row["subject"]
    msg["Date"], msg["Message-ID"] = formatdate(localtime=False), row["message_id"]
    msg["Content-Language"] = row["locale"]
    msg.set_content(row["text_body"])
    msg.add_alternative(row["html_body"], subtype="html")
    return msg


class Relay:
    def __init__(self, pool: asyncpg.Pool, target: SmtpTarget, *, sender: str, timeout: float, max_attempts: int,
                 retry_base: float, lease_seconds: float, poll_seconds: float):
        self.pool, self.target, self.sender, self.timeout = pool, target, sender, timeout
        self.max_attempts, self.retry_base = max_attempts, retry_base
        self.lease_seconds, self.poll_seconds = lease_seconds, poll_seconds
        self.token = uuid.uuid4()
        self.wake = asyncio.Event()
        self.sent = 0

    async def run_once(self, stopping: asyncio.Event | None = None) -> int:
        """Claim and try one batch over one SMTP connection; the number of messages tried. A message is
        marked sent only after the server accepted it: the accepted ones are marked together (one
        UPDATE) before a failure is recorded and at the end of the batch. Once ``stopping`` is set the
        batch ends after the mail in hand (a batch against a server that never answers takes ``[mail]
        timeout`` per mail) and the untried ones are handed back, uncounted, for any relay to send."""
        rows = await db.claim(self.pool, self.token, BATCH, self.lease_seconds)
        if not rows:
            return 0
        accepted: list[int] = []
        async with Session(self.target, self.timeout) as smtp:
            for i, row in enumerate(rows):
                if stopping is not None and stopping.is_set():
                    await db.release(self.pool, [r["id"] for r in rows[i:]], self.token)
                    break
                try:
                    await smtp.send(build(row, self.sender))
                except SendError as err:
                    await self._mark_sent(accepted)
                    await self._failed(row, str(err))
                    continue
                accepted.append(row["id"])
        await self._mark_sent(accepted)
        return len(rows)

    async def _mark_sent(self, accepted: list[int]) -> None:
        if not accepted:
            return
        marked = await db.mark_sent_many(self.pool, accepted, self.token)
        self.sent += len(marked)
        for message_id in set(accepted) - marked:  # lease ran out mid-send: another relay may send it again
            log.warning("mail %s was sent after its lease had expired", message_id)
        accepted.clear()

    async def _failed(self, row: asyncpg.Record, error: str) -> None:
        if row["attempts"] >= self.max_attempts:
            if await db.mark_failed(self.pool, row["id"], self.token, error):
                log.warning("mail %s (%s) given up after %d attempts to %s: %s", row["id"], row["kind"],
                            row["attempts"], self.target.describe(), error)
            return
        delay = backoff(row["attempts"], self.retry_base)
        await db.mark_retry(self.pool, row["id"], self.token, delay, error)
        log.info("mail %s (%s) attempt %d failed (%s); next try in %.1f s", row["id"], row["kind"],
                 row["attempts"], error, delay)

    async def loop(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            self.wake.clear()
            try:
                busy = await self.run_once(stopping)
            except Exception:  # noqa: BLE001 - the relay outlives one bad round; the next poll retries
                log.exception("mail relay round failed")
                busy = 0
            stop_if_cancelled()
            if busy < BATCH:
                await wait_either(self.wake, stopping, self.poll_seconds)
