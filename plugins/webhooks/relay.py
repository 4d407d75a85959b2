"""The delivery relay: POSTs due deliveries, each accepted once however many workers run one.

Same shape as the mail relay (plugins/notifications/relay.py): claim a batch with ``FOR UPDATE SKIP
LOCKED`` and a lease in a short committed transaction, call the endpoints outside any transaction, then
record each outcome only if the lease is still ours. A relay that dies mid-call leaves the lease to
expire; another relay then retries (receivers dedupe on ``webhook-id``, as the spec asks).

An attempt succeeds on any 2xx answer. Anything else (another status, a 3xx: no redirects are followed,
a refused address, a timeout) is logged in ``attempts`` and retried after
``min(retry_base * 2^(attempt-1), retry_max)`` seconds times a jitter in [0.5, 1.0) -- with the defaults
30 s, 1 min, 2 min ... then hourly -- until ``give_up_hours`` after the event (then ``failed``). An
endpoint that failed every attempt for ``disable_after_hours`` and at least ``disable_min_failures``
times in a row is disabled (logged at warning level, shown on its page; re-enabling resumes its queue).
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid

import aiohttp
import asyncpg

from ecom.aio import wait_either
from ecom.i18n import N_
from ecom.stopping import stop_if_cancelled

from . import db, signing
from .config import WebhooksConfig
from .guard import GuardedResolver, Refused, check_url

log = logging.getLogger("ecom.plugins.webhooks")
BATCH = 20
MAX_ERROR = 500
# Stored in English, shown translated on the endpoint's page (its template passes them through _()).
NO_ANSWER = N_("No answer in time.")
NO_SECRET = N_("The signing secret cannot be read (the shop secret changed): register the webhook again.")
REFUSED = N_("Refused: the URL is not https or its address is on a private or local network.")
KNOWN_ERRORS = frozenset({NO_ANSWER, NO_SECRET, REFUSED})


def backoff(attempt: int, config: WebhooksConfig, rand: random.Random = random) -> float:  # type: ignore[assignment]
    return min(config.retry_base_seconds * 2 ** max(attempt - 1, 0), config.retry_max_seconds) * (0.5 + rand.random() / 2)


class Relay:
    def __init__(self, pool: asyncpg.Pool, config: WebhooksConfig, vault: signing.Vault):
        self.pool, self.config, self.vault = pool, config, vault
        self.token = uuid.uuid4()
        self.wake = asyncio.Event()
        self.session: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.config), limit=50, limit_per_host=4)
            self.session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                                 timeout=aiohttp.ClientTimeout(total=self.config.timeout_seconds))
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def run_once(self) -> int:
        rows = await db.claim(self.pool, self.token, BATCH, self.config.lease_seconds)
        await asyncio.gather(*(self._one(row) for row in rows))
        return len(rows)

    async def _post(self, row: asyncpg.Record) -> tuple[int | None, str | None]:
        """(HTTP status, error text): status None when no answer came."""
        secret = self.vault.open(row["secret"])
        if secret is None:
            return None, NO_SECRET
        body = row["body"].encode()
        try:
            check_url(row["url"], self.config)  # an IP literal skips the resolver: checked here
            async with self._session().post(row["url"], data=body, allow_redirects=False,
                                            headers=signing.headers(secret, str(row["event_id"]), body)) as resp:
                await resp.read()
                return resp.status, None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
        except Refused:
            return None, REFUSED
        except asyncio.TimeoutError:
            return None, NO_ANSWER
        except (aiohttp.ClientError, OSError) as err:
            return None, f"{type(err).__name__}: {err}"[:MAX_ERROR]

    async def _one(self, row: asyncpg.Record) -> None:
        started = time.monotonic()
        status, error = await self._post(row)
        latency = int((time.monotonic() - started) * 1000)
        async with self.pool.acquire() as conn, conn.transaction():
            await db.log_attempt(conn, row["id"], status, latency, error, row["manual"])
            if error is None:
                if not await db.delivered(conn, row["id"], row["endpoint_id"], self.token, status):
                    log.warning("webhook delivery %s was accepted after its lease had expired", row["id"])
                return
            retry = None if row["expired"] else backoff(row["attempts"], self.config)
            await db.failed(conn, row["id"], self.token, status, error, retry)
            if retry is None:
                log.warning("webhook delivery %s to endpoint %s given up after %d attempts: %s", row["id"],
                            row["endpoint_id"], row["attempts"], error)
            if await db.endpoint_failed(conn, row["endpoint_id"], self.config.disable_after_hours * 3600,
                                        self.config.disable_min_failures, error):
                log.warning("webhook endpoint %s disabled: every attempt failed for %g h (last: %s)",
                            row["endpoint_id"], self.config.disable_after_hours, error)

    async def loop(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            self.wake.clear()
            try:
                busy = await self.run_once()
            except Exception:  # noqa: BLE001 - the relay outlives one bad round; the next poll retries
                log.exception("webhook relay round failed")
                stop_if_cancelled()  # a cancellation turned into another error (ecom/stopping.py) ends the loop
                busy = 0
            if busy < BATCH:
                await wait_either(self.wake, stopping, self.config.poll_seconds)
