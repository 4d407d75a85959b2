"""Shoppers who keep checking out through nginx, the way a careful client does: one Idempotency-Key per
intended order, retried on a timeout, a connection error or a 5xx until the shop answers 201 (the key
makes a retry return the first order instead of placing a second one)."""
from __future__ import annotations

import asyncio
import collections
import time
import uuid
from dataclasses import dataclass, field

import aiohttp

CARD = {"method": "card", "card_number": "4242 4242 4242 4242", "exp_month": 12,
        "exp_year": time.gmtime().tm_year + 3, "cvc": "123"}
SHIP_TO = {"name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013",
           "country": "ES", "phone": "+34 911 234 567"}
ATTEMPT_SECONDS = 5.0    # a request that hangs (its host cut off under it) is abandoned and retried
GIVE_UP_SECONDS = 90.0   # an order not accepted within this is counted as refused, never as placed


@dataclass
class Tally:
    accepted: dict[str, str] = field(default_factory=dict)       # idempotency key -> order id
    accepted_at: list[float] = field(default_factory=list)         # monotonic time of each 201
    refused: list[str] = field(default_factory=list)              # keys given up on
    answers: collections.Counter = field(default_factory=collections.Counter)  # per phase and outcome
    served: collections.Counter = field(default_factory=collections.Counter)  # (phase, X-Served-By) of 201s
    phase: str = "quiet"
    slowest: float = 0.0


async def place(session: aiohttp.ClientSession, url: str, token: str, product: int, tally: Tally) -> None:
    key, began = uuid.uuid4().hex, time.monotonic()
    while time.monotonic() - began < GIVE_UP_SECONDS:
        phase = tally.phase
        try:
            async with session.post(url + "/api/v1/orders", timeout=aiohttp.ClientTimeout(total=ATTEMPT_SECONDS),
                                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                                    json={"items": [{"product_id": product, "quantity": 1}], "ship_to": SHIP_TO,
                                          "payment": CARD}) as resp:
                tally.answers[(phase, str(resp.status))] += 1
                if resp.status in (200, 201):
                    tally.served[(phase, resp.headers.get("X-Served-By", "?"))] += 1
                    tally.accepted[key] = (await resp.json())["id"]
                    tally.accepted_at.append(time.monotonic())
                    tally.slowest = max(tally.slowest, time.monotonic() - began)
                    return
                if resp.status < 500 and resp.status != 429:
                    raise AssertionError(f"checkout refused with {resp.status}: {await resp.text()}")
        except (asyncio.TimeoutError, aiohttp.ClientError):
            tally.answers[(phase, "timeout or connection error")] += 1
        await asyncio.sleep(0.3)
    tally.refused.append(key)


async def shoppers(session: aiohttp.ClientSession, url: str, tokens: list[str], product: int, tally: Tally,
                   stop: asyncio.Event) -> None:
    """One loop per token, each placing orders one after another until ``stop``."""
    async def one(token: str) -> None:
        while not stop.is_set():
            await place(session, url, token, product, tally)
            await asyncio.sleep(0.1)
    await asyncio.gather(*(one(t) for t in tokens))
