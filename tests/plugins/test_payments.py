"""The payments plugin end to end: real PostgreSQL, real broker, real HTTP, the normal plugin loader.

Payment requests reach the plugin the way orders will send them: as envelopes published on the broker
(a raw MQTT client with its own derived credentials, like tests/test_events.py). Results are observed
on the wire by a raw subscriber to ``ecom/payments/#`` and in the payments database (its rows and its
outbox, the source of every published event).
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import asyncpg
import pytest

from tests.helpers import start, wait_until, worker
from ecom.app import EVENT_BUS, POOLS, plugin_database_url
from ecom.config import Config, ConfigError, parse_section
from ecom.broker import client_password
from ecom.errors import ValidationFailed
from ecom.events import Envelope, PluginEvents, current_envelope
from plugins.payments.cards import CardDetails, decline_reason, parse_card
from plugins.payments.vault import CardVault, TokenInvalid
from plugins.payments import db as payments_db
from plugins.payments.config import PaymentsConfig
from plugins.payments.events import (PaymentCompleted, PaymentFailed, PaymentRefunded, PaymentRequested,
                                     RefundRequested)
from plugins.payments.keys import PAYMENTS
from plugins.payments.service import PaymentsService
from plugins.users.admin import create_admin
from tests.conftest import TEST_SECRET_KEY

SECRET = hashlib.sha256(TEST_SECRET_KEY.encode()).digest()  # what load_secret() derives from secret_key
DEADLINE = 15.0
PASSWORD = "correct horse battery"
VISA, DECLINED, AMEX = "4242 4242 4242 4242", "4000-0000-0000-0002", "3782 822463 10005"
CVC = "8317"
RESULT_TOPICS = (PaymentCompleted.TOPIC, PaymentFailed.TOPIC)


def card(number: str = VISA, month: Any = 12, year: Any = None, cvc: Any = CVC) -> dict[str, Any]:
    return {"card_number": number, "exp_month": month, "exp_year": year or datetime.now().year + 3, "cvc": cvc}


def payments_config(make_config, **payments: Any) -> Config:
    return make_config(fresh=True, plugins={"enabled": ["users", "payments"],
                                            "payments": {"delay_seconds": 0, **payments}})


# ----------------------------------------------------------------------------- the wire, as orders sees it

def envelope(obj: Any) -> Envelope:
    return Envelope.wrap(obj)


async def request_for(app, order_id: str, number: str = VISA, customer_id: int = 1, amount_cents: int = 2599,
                **card_fields: Any) -> Envelope:
    """A PaymentRequested envelope as orders emits it at checkout (card tokenized by the service)."""
    token = await app[PAYMENTS].tokenize(card(number, **card_fields))
    return envelope(PaymentRequested(order_id, customer_id, amount_cents, "EUR", token.token, token.brand,
                                     token.last4))


def _client_args(config: Config, role: str) -> dict[str, Any]:
    url = urlsplit(config.broker.url)
    client_id = f"test-{role}-{uuid.uuid4().hex[:8]}"
    return {"hostname": url.hostname, "port": url.port, "identifier": client_id, "username": client_id,
            "password": client_password(SECRET, client_id), "timeout": 5}


async def publish(config: Config, *envelopes: Envelope, times: int = 1) -> None:
    from ecom.events import Signer, owner_of  # consumers accept only what the topic's owner signed
    async with aiomqtt.Client(**_client_args(config, "orders")) as client:
        for _ in range(times):
            for env in envelopes:
                await client.publish(env.type, Signer(SECRET).sign(owner_of(env.type), env.to_json()), qos=1)


class Wire:
    """Every envelope published under ecom/payments/ while the context is open."""

    def __init__(self) -> None:
        self.seen: list[Envelope] = []

    def results(self, order_id: str, topics: tuple[str, ...] = RESULT_TOPICS) -> list[Envelope]:
        return [e for e in self.seen if e.type in topics and e.data.get("order_id") == order_id]

    async def one_result(self, order_id: str, topics: tuple[str, ...] = RESULT_TOPICS) -> Envelope:
        found = await wait_until(lambda: asyncio.sleep(0, self.results(order_id, topics)), bool,
                                 f"a result for {order_id}")
        return found[0]


@asynccontextmanager
async def wire(config: Config):
    collector = Wire()
    async with aiomqtt.Client(**_client_args(config, "wire")) as client:
        await client.subscribe("ecom/payments/#", qos=1)

        async def read():
            async for message in client.messages:
                collector.seen.append(Envelope.from_json(message.payload))
        task = asyncio.get_running_loop().create_task(read())
        try:
            yield collector
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def copies_received(app, cls: type) -> dict[uuid.UUID, int]:
    """Count every copy of ``cls`` this app dispatches (a listener after the plugin's handler: when it
    has counted a copy, the handler has run for it)."""
    counts: dict[uuid.UUID, int] = {}

    def count(_obj):
        env = current_envelope.get()
        counts[env.id] = counts.get(env.id, 0) + 1
    PluginEvents(app[EVENT_BUS], "test", None).listen(cls, count)
    return counts


# ----------------------------------------------------------------------------- database probes

async def payment_row(pool: asyncpg.Pool, order_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM payments WHERE order_id = $1", order_id)


async def outbox_for(pool: asyncpg.Pool, order_id: str, *topics: str) -> list[dict]:
    rows = await pool.fetch("SELECT topic, payload FROM outbox WHERE topic = ANY($1::text[]) "
                            "AND (payload::jsonb -> 'data' ->> 'order_id') = $2 ORDER BY id", list(topics), order_id)
    return [json.loads(r["payload"]) for r in rows]


async def processed(pool: asyncpg.Pool, order_id: str) -> asyncpg.Record | None:
    row = await payment_row(pool, order_id)
    return row if row is not None and row["status"] != "pending" else None


def order() -> str:
    return f"ord_{uuid.uuid4().hex[:16]}"


# ============================================================================= tokenize and card checks

def vault_service(ttl: int = 3600) -> PaymentsService:
    return PaymentsService(None, PaymentsConfig(), CardVault(hashlib.sha256(b"k").digest(), ttl))


def sealed(vault: CardVault, details: CardDetails) -> tuple[str, bytes]:
    """(a token, its wrapped key as card_keys holds it), without a database."""
    key_id, data_key, wrapped = vault.new_key()
    return vault.seal(details, key_id, data_key), wrapped


@pytest.mark.parametrize("number, brand", [
    (VISA, "visa"), ("5555 5555 5555 4444", "mastercard"), ("2223003122003222", "mastercard"),
    (AMEX, "amex"), ("6011111111111117", "discover"), ("3530111333300000", "other"), (4242424242424242, "visa")])
def test_cards_are_checked_sealed_and_hidden(number, brand):
    vault = vault_service().vault
    digits = re.sub(r"\D", "", str(number))
    details = parse_card(card(number, month="03", year=str(datetime.now().year + 2),
                              cvc="1234" if brand == "amex" else "567"))
    assert (details.brand, details.last4) == (brand, digits[-4:])
    token, wrapped = sealed(vault, details)
    assert digits not in token and token.isascii() and vault.key_id(token) is not None
    opened = vault.open(token, wrapped)
    assert (opened.number, opened.exp_month, opened.brand) == (digits, 3, brand)
    assert digits not in repr(opened) and digits not in repr(details) and digits not in wrapped.hex()


@pytest.mark.parametrize("changes, field", [
    ({"number": "4242 4242 4242 4241"}, "card_number"),          # Luhn
    ({"number": "4242 4242 424x 4242"}, "card_number"),          # letters
    ({"number": "42424242"}, "card_number"),                     # too short
    ({"number": "4" * 20}, "card_number"),                       # too long
    ({"number": None}, "card_number"),
    ({"year": 2001}, "exp_year"),                                # expired
    ({"month": 13}, "exp_month"), ({"month": "ab"}, "exp_month"), ({"month": True}, "exp_month"),
    ({"year": "20x9"}, "exp_year"), ({"year": 2999}, "exp_year"),
    ({"cvc": "12"}, "cvc"), ({"cvc": "12345"}, "cvc"), ({"cvc": "12a"}, "cvc"), ({"cvc": None}, "cvc"),
    ({"number": AMEX, "cvc": "123"}, "cvc"),                     # Amex needs 4 digits
])
async def test_tokenize_rejects_bad_cards_naming_the_field(changes, field):
    with pytest.raises(ValidationFailed) as err:  # before any key is made (the service has no database here)
        await vault_service().tokenize(card(**changes))
    assert set(err.value.errors) == {field}, err.value.errors
    assert err.value.status == 422


def test_expiry_this_year_and_month():
    now = datetime(2031, 6, 15, tzinfo=timezone.utc)
    assert parse_card(card(month=6, year=2031), today=now).exp_month == 6      # good through June
    assert parse_card(card(month=6, year=31), today=now).exp_year == 2031      # two-digit years
    with pytest.raises(ValidationFailed) as err:
        parse_card(card(month=5, year=2031), today=now)
    assert set(err.value.errors) == {"exp_month"}
    with pytest.raises(ValidationFailed) as err:
        parse_card("not a card")
    assert set(err.value.errors) == {"card_number", "exp_month", "exp_year", "cvc"}


def test_processing_rechecks_the_card():
    now = datetime(2031, 6, 15, tzinfo=timezone.utc)
    assert decline_reason(CardDetails("4242424242424242", 12, 2031, "123"), now) is None
    assert decline_reason(CardDetails("4111111111111111", 12, 2031, "123"), now) is None   # any Luhn-valid
    assert decline_reason(CardDetails("4000000000000002", 12, 2031, "123"), now) == "Card declined"
    assert decline_reason(CardDetails("4242424242424242", 5, 2031, "123"), now) == "Card expired"
    assert decline_reason(CardDetails("4242424242424241", 12, 2031, "123"), now) == "Invalid card number"
    assert decline_reason(CardDetails("378282246310005", 12, 2031, "123"), now) == "Invalid CVC"


def test_a_token_opens_only_with_its_own_key():
    """Each token has its own data key; a tampered token, another token's key, a key row moved to
    another id, or a key wrapped under another shop secret open nothing."""
    vault = vault_service().vault
    details = parse_card(card())
    token, wrapped = sealed(vault, details)
    other_token, other_wrapped = sealed(vault, details)
    assert vault.open(token, wrapped).number == "4242424242424242"
    assert token.split(".")[1] != other_token.split(".")[1]
    middle = len(token) // 2 + 20  # inside the Fernet part: its ciphertext
    tampered_token = token[:middle] + ("B" if token[middle] == "A" else "A") + token[middle + 1:]
    tampered_key = wrapped[:-1] + bytes([wrapped[-1] ^ 1])  # always differs (a fixed b"x" did not, 1 in 256)
    for bad, key in ((tampered_token, wrapped), (token, other_wrapped), (other_token, wrapped),
                     ("", wrapped), ("not a token", wrapped), ("é", wrapped), (token, tampered_key)):
        with pytest.raises(TokenInvalid):
            vault.open(bad, key)
    with pytest.raises(TokenInvalid):
        CardVault(hashlib.sha256(b"other").digest(), 60).open(token, wrapped)
    assert [vault.key_id(t) for t in (None, 5, "x" * 3000, "abc.def", "gAAAAAB.x")] == [None] * 5


def test_config_section_is_validated():
    assert parse_section(PaymentsConfig, {}, "plugins.payments") == PaymentsConfig(30.0, 3600, 50)
    assert parse_section(PaymentsConfig, {"delay_seconds": 0}, "plugins.payments").delay_seconds == 0.0
    for bad in ({"delay_seconds": -1}, {"delay_seconds": "soon"}, {"scheduler_batch": 0},
                {"card_token_ttl_seconds": 0}, {"delay": 3}):
        with pytest.raises(ConfigError, match="plugins.payments"):
            parse_section(PaymentsConfig, bad, "plugins.payments")


# ============================================================================= processing

async def test_approved_declined_and_unusable_requests(aiohttp_client, make_config, caplog):
    """4242 is approved with a transaction id, 4000..0002 declined "Card declined", a token past its
    TTL "Card details expired", a malformed request "Invalid payment request". Only brand and last 4
    stay; the token column is NULL once processed; logs never show the number, CVC or token."""
    caplog.set_level("DEBUG", logger="ecom")
    config = payments_config(make_config)
    app = (await start(aiohttp_client, config)).app
    pool, svc = app[POOLS]["payments"], app[PAYMENTS]
    ok, declined, stale, malformed = order(), order(), order(), order()
    stale_token = (await svc.tokenize(card())).token
    await pool.execute("UPDATE card_keys SET expires_at = now() - interval '1 second' WHERE id = $1",
                       svc.vault.key_id(stale_token))  # its TTL has passed
    requests = [await request_for(app, ok, customer_id=7), await request_for(app, declined, DECLINED),
                envelope(PaymentRequested(stale, 7, 100, "EUR", stale_token, "visa", "4242")),
                envelope(PaymentRequested(malformed, 7, -5, "EUR", "x", "visa", "4242"))]
    async with wire(config) as seen:
        await publish(config, *requests)
        completed = await seen.one_result(ok)
        assert completed.type == PaymentCompleted.TOPIC
        data = completed.data
        assert re.fullmatch(r"txn_[0-9a-f]{24}", data["transaction_id"])
        assert (data["amount_cents"], data["currency"], data["brand"], data["last4"]) == (2599, "EUR", "visa", "4242")
        reasons = {o: (await seen.one_result(o)).data["reason"] for o in (declined, stale, malformed)}
    assert reasons == {declined: "Card declined", stale: "Card details expired", malformed: "Invalid payment request"}

    row = await payment_row(pool, ok)
    assert (row["status"], row["brand"], row["last4"], row["card_token"]) == ("approved", "visa", "4242", None)
    assert str(row["id"]) == data["payment_id"] and row["transaction_id"] == data["transaction_id"]
    assert row["customer_id"] == 7 and row["payment_method"] == "card" and row["processed_at"] >= row["due_at"]
    row = await payment_row(pool, declined)
    assert (row["status"], row["failure_reason"], row["last4"], row["card_token"], row["transaction_id"]) == \
        ("declined", "Card declined", "0002", None, None)
    assert await pool.fetchval("SELECT count(*) FROM payments WHERE card_token IS NOT NULL") == 0
    assert await pool.fetchval("SELECT count(*) FROM card_keys") == 0  # used, or expired: shredded

    text = caplog.text
    assert ok in text and "approved" in text and "Card declined" in text
    for secret in ("4242424242424242", "4000000000000002", CVC, stale_token, requests[0].data["card_token"]):
        assert secret not in text


async def test_same_request_three_times_to_two_workers_gives_one_payment(aiohttp_client, make_config):
    """One envelope published 3 times, received by 2 workers (6 deliveries), plus a second request for
    the same order with a new event id: one payment, one result event, one transaction."""
    config = payments_config(make_config)
    a = (await start(aiohttp_client, config)).app
    b = (await start(aiohttp_client, worker(config, "b"))).app
    counts = [copies_received(a, PaymentRequested), copies_received(b, PaymentRequested)]
    pool = a[POOLS]["payments"]
    order_id = order()
    env = await request_for(a, order_id)
    again = await request_for(b, order_id)  # orders retrying with a new event id
    async with wire(config) as seen:
        await publish(config, env, times=3)
        await publish(config, again)
        await wait_until(lambda: asyncio.sleep(0, counts),
                         lambda cs: all(c.get(env.id) == 3 and c.get(again.id) == 1 for c in cs),
                         "every copy handled by both workers")
        await seen.one_result(order_id)
        await wait_until(lambda: pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"),
                         lambda n: n == 0, "an empty outbox")
        assert len(seen.results(order_id)) == 1
    assert await pool.fetchval("SELECT count(*) FROM payments WHERE order_id = $1", order_id) == 1
    assert len(await outbox_for(pool, order_id, *RESULT_TOPICS)) == 1
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1::uuid[])",
                               [env.id, again.id]) == 2
    assert await pool.fetchval("SELECT count(*) FROM card_keys") == 0  # the repeat's token was shredded too


async def test_delay_is_durable_across_a_restart(aiohttp_client, make_config):
    """A payment recorded by an app that is shut down before the payment is due is processed, once,
    by the next app to start: the due time lives in the database."""
    config = payments_config(make_config, delay_seconds=2)
    first = await start(aiohttp_client, config)
    order_id = order()
    env = await request_for(first.app, order_id)
    async with wire(config) as seen:
        await publish(config, env)
        pool = first.app[POOLS]["payments"]
        recorded = await wait_until(lambda: payment_row(pool, order_id), bool, "the payment to be recorded")
        await first.close()  # the worker goes away mid-delay
        check = await asyncpg.connect(plugin_database_url(config, "payments"))
        try:
            row = await check.fetchrow("SELECT status, card_token IS NOT NULL AS has_token, due_at > now() AS later "
                                       "FROM payments WHERE order_id = $1", order_id)
            assert (row["status"], row["has_token"], row["later"]) == ("pending", True, True)
            assert seen.results(order_id) == []

            second = (await start(aiohttp_client, worker(config, "restarted"))).app
            result = await seen.one_result(order_id)
            assert result.type == PaymentCompleted.TOPIC
            done = await payment_row(second[POOLS]["payments"], order_id)
            assert done["status"] == "approved" and done["processed_at"] >= recorded["due_at"]
            assert done["card_token"] is None
            await wait_until(lambda: check.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"),
                             lambda n: n == 0, "an empty outbox")
            assert len(seen.results(order_id)) == 1
            assert len(await outbox_for(second[POOLS]["payments"], order_id, *RESULT_TOPICS)) == 1
        finally:
            await check.close()


async def test_racing_schedulers_process_each_payment_once(aiohttp_client, make_config):
    """Two workers' schedulers, plus extra process_due() calls from both racing them, over 30 payments
    that fall due together: every payment gets exactly one result."""
    config = payments_config(make_config, delay_seconds=1, scheduler_batch=3)
    a = (await start(aiohttp_client, config)).app
    b = (await start(aiohttp_client, worker(config, "b"))).app
    pool = a[POOLS]["payments"]
    orders = [order() for _ in range(30)]
    await publish(config, *[await request_for(a, o, DECLINED if i % 3 == 0 else VISA) for i, o in enumerate(orders)])
    await wait_until(lambda: pool.fetchval("SELECT count(*) FROM payments WHERE order_id = ANY($1)", orders),
                     lambda n: n == 30, "30 payments recorded")

    async def race() -> int:
        total = 0
        while await pool.fetchval("SELECT count(*) FROM payments WHERE status = 'pending'"):
            counts = await asyncio.gather(*(app[PAYMENTS].process_due() for app in (a, b, a, b)))
            total += sum(counts)
            await asyncio.sleep(0.01)
        return total
    await race()
    rows = await pool.fetch("SELECT (payload::jsonb -> 'data' ->> 'order_id') AS order_id, count(*) AS n "
                            "FROM outbox WHERE topic = ANY($1::text[]) GROUP BY 1", list(RESULT_TOPICS))
    assert {r["order_id"]: r["n"] for r in rows} == {o: 1 for o in orders}
    statuses = await pool.fetch("SELECT status, count(*) AS n FROM payments GROUP BY 1")
    assert {r["status"]: r["n"] for r in statuses} == {"approved": 20, "declined": 10}


async def test_a_payment_that_hits_an_error_does_not_hold_up_the_others(aiohttp_client, make_config,
                                                                         monkeypatch, caplog):
    """A payment whose processing fails is put back (due a few seconds later) while the rest of its
    batch is processed; once the fault is gone it is processed, once."""
    config = payments_config(make_config, delay_seconds=3600)
    app = (await start(aiohttp_client, config)).app
    pool = app[POOLS]["payments"]
    first, broken, last = order(), order(), order()
    await publish(config, *[await request_for(app, o) for o in (first, broken, last)])
    await wait_until(lambda: pool.fetchval("SELECT count(*) FROM payments"), lambda n: n == 3, "3 payments")
    broken_id = (await payment_row(pool, broken))["id"]
    approve = payments_db.approve

    async def faulty(conn, payment_id, *args):
        if payment_id == broken_id:
            raise asyncpg.DataError("disk on fire")
        await approve(conn, payment_id, *args)
    monkeypatch.setattr(payments_db, "approve", faulty)
    await pool.execute("UPDATE payments SET due_at = now()")
    for o in (first, last):
        await wait_until(lambda o=o: processed(pool, o), bool, f"{o} processed")
    row = await wait_until(lambda: pool.fetchrow("SELECT status, due_at > now() AS later FROM payments "
                                                 "WHERE order_id = $1", broken), lambda r: r["later"], "postponed")
    assert row["status"] == "pending" and "disk on fire" in caplog.text

    monkeypatch.undo()
    await pool.execute("UPDATE payments SET due_at = now() WHERE order_id = $1", broken)
    assert (await wait_until(lambda: processed(pool, broken), bool, "the retry"))["status"] == "approved"
    for o in (first, broken, last):
        assert len(await outbox_for(pool, o, *RESULT_TOPICS)) == 1


async def test_an_idle_scheduler_sleeps(aiohttp_client, make_config, monkeypatch):
    """With nothing pending the scheduler looks once a MAX_SLEEP (it used to read "due now" from SQL's
    GREATEST, which ignores NULLs, and poll 50 times a second per worker); a pending payment says when."""
    config = payments_config(make_config, delay_seconds=3600)
    app = (await start(aiohttp_client, config)).app
    service = app[PAYMENTS]
    assert await service.seconds_until_due() is None
    calls = []
    process_due = service.process_due

    async def counted() -> int:
        calls.append(1)
        return await process_due()
    monkeypatch.setattr(service, "process_due", counted)
    await asyncio.sleep(2.5)
    assert len(calls) <= 5, f"{len(calls)} scheduler rounds in 2.5 s with nothing pending"
    await publish(config, await request_for(app, order()))
    pool = app[POOLS]["payments"]
    await wait_until(lambda: pool.fetchval("SELECT count(*) FROM payments"), lambda n: n == 1, "1 payment")
    assert 3000 < await service.seconds_until_due() <= 3600


# ============================================================================= refunds

async def test_refund_once_and_reject_what_cannot_be_refunded(aiohttp_client, make_config):
    config = payments_config(make_config)
    app = (await start(aiohttp_client, config)).app
    pool = app[POOLS]["payments"]
    paid, unpaid, unknown = order(), order(), order()
    async with wire(config) as seen:
        await publish(config, await request_for(app, paid), await request_for(app, unpaid, DECLINED))
        completed = await seen.one_result(paid)
        await seen.one_result(unpaid)

        refund = envelope(RefundRequested(paid, 2599, "EUR", "Cancelled by customer"))
        repeat = envelope(RefundRequested(paid, 2599, "EUR", "Cancelled by customer"))
        await publish(config, refund, times=2)
        await publish(config, repeat, envelope(RefundRequested(unpaid, 2599, "EUR", "Cancelled")),
                      envelope(RefundRequested(unknown, 100, "EUR", "Cancelled")))
        refunded = await seen.one_result(paid, (PaymentRefunded.TOPIC,))
        assert refunded.data["payment_id"] == completed.data["payment_id"] and refunded.data["amount_cents"] == 2599
        await wait_until(lambda: pool.fetchval("SELECT count(*) FROM refunds"), lambda n: n == 3,
                         "the refund and the two rejections")
        rows = await pool.fetch("SELECT order_id, status, rejection, id FROM refunds ORDER BY created_at")
        assert {r["order_id"]: r["status"] for r in rows} == {paid: "completed", unpaid: "rejected",
                                                              unknown: "rejected"}
        assert str(next(r["id"] for r in rows if r["order_id"] == paid)) == refunded.data["refund_id"]
        row = await payment_row(pool, paid)
        assert row["status"] == "refunded" and row["refunded_at"] is not None
        assert (await payment_row(pool, unpaid))["status"] == "declined"
        assert len(await outbox_for(pool, paid, PaymentRefunded.TOPIC)) == 1
        assert await outbox_for(pool, unpaid, PaymentRefunded.TOPIC) == []
        await wait_until(lambda: pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"),
                         lambda n: n == 0, "an empty outbox")
        assert len(seen.results(paid, (PaymentRefunded.TOPIC,))) == 1


# ============================================================================= API and pages

async def user(client, *, admin: bool = False) -> tuple[int, str]:
    email = f"u{uuid.uuid4().hex[:12]}@example.com"
    resp = await client.post("/api/v1/users", json={"email": email, "name": "Tester", "password": PASSWORD})
    assert resp.status == 202, await resp.text()  # no id: sign-up answers alike for new and known emails
    if admin:
        await create_admin(client.app[POOLS]["users"], email, PASSWORD, time_cost=1, memory_kib=8)
    resp = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    token = (await resp.json())["token"]
    resp = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    return (await resp.json())["id"], token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_customers_see_their_own_payments_admins_all(aiohttp_client, make_config):
    config = payments_config(make_config)
    client = await start(aiohttp_client, config)
    pool = client.app[POOLS]["payments"]
    (ana, ana_token), (bo, bo_token), (_, admin_token) = [await user(client), await user(client),
                                                          await user(client, admin=True)]
    ana_ok, ana_declined, bo_order = order(), order(), order()
    await publish(config, await request_for(client.app, ana_ok, customer_id=ana),
                  await request_for(client.app, ana_declined, DECLINED, customer_id=ana),
                  await request_for(client.app, bo_order, customer_id=bo, amount_cents=990))
    for o in (ana_ok, ana_declined, bo_order):
        await wait_until(lambda o=o: processed(pool, o), bool, f"{o} processed")

    resp = await client.get("/api/v1/payments", headers=bearer(ana_token))
    mine = await resp.json()
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    assert {p["order_id"]: p["status"] for p in mine} == {ana_ok: "approved", ana_declined: "declined"}
    first = next(p for p in mine if p["order_id"] == ana_ok)
    assert set(first) >= {"id", "order_id", "status", "amount_cents", "currency", "brand", "last4",
                          "transaction_id", "created_at", "processed_at"}
    assert (first["brand"], first["last4"], first["amount_cents"]) == ("visa", "4242", 2599)
    assert "card_token" not in json.dumps(mine) and "token" not in first
    resp = await client.get("/api/v1/payments", params={"order_id": ana_ok}, headers=bearer(ana_token))
    assert [p["order_id"] for p in await resp.json()] == [ana_ok]
    resp = await client.get("/api/v1/payments", params={"order_id": bo_order}, headers=bearer(ana_token))
    assert await resp.json() == []  # someone else's order: nothing, not a 403 that confirms it exists

    resp = await client.get("/api/v1/payments", headers=bearer(admin_token))
    assert {p["order_id"] for p in await resp.json()} == {ana_ok, ana_declined, bo_order}
    resp = await client.get("/api/v1/payments", params={"status": "declined"}, headers=bearer(admin_token))
    assert [p["order_id"] for p in await resp.json()] == [ana_declined]
    resp = await client.get("/api/v1/payments/summary", headers=bearer(admin_token))
    summary = await resp.json()
    assert resp.status == 200 and len(summary) == 1 and (summary[0]["approved"], summary[0]["declined"]) == (2, 1)

    resp = await client.get("/api/v1/payments")
    assert resp.status == 401 and resp.content_type == "application/problem+json"
    assert (await client.get("/api/v1/payments/summary", headers=bearer(bo_token))).status == 403
    for params in ({"limit": "ten"}, {"limit": "0"}, {"offset": "-1"}, {"status": "paid"},
                   {"order_id": "x" * 101}, {"limit": "9" * 30}):
        resp = await client.get("/api/v1/payments", params=params, headers=bearer(ana_token))
        assert resp.status == 422 and resp.content_type == "application/problem+json", params
    assert (await client.get("/api/v1/payments/summary", params={"days": "x"},
                             headers=bearer(admin_token))).status == 422

    resp = await client.get("/account/payments", headers=bearer(ana_token))
    page = await resp.text()
    assert resp.status == 200 and ana_ok in page and ana_declined in page and bo_order not in page
    assert "Card declined" in page and "4242" in page
    resp = await client.get("/account/payments", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login")
    assert (await client.get("/admin/payments", headers=bearer(bo_token))).status == 403
    resp = await client.get("/admin/payments", params={"status": "approved"}, headers=bearer(admin_token))
    page = await resp.text()
    assert resp.status == 200 and ana_ok in page and bo_order in page and ana_declined not in page
    assert 'id="payments-summary"' in page
    for params in ({"page": "abc"}, {"status": "<script>"}):
        resp = await client.get("/admin/payments", params=params, headers=bearer(admin_token))
        assert resp.status == 422 and "<script>" not in await resp.text()


# ============================================================================= no card data at rest

UUID_OR_HEX = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-fA-F]{16,}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}(:\d{2})?)?")


async def test_database_holds_no_card_number_or_cvc(aiohttp_client, make_config):
    """Dump every table of the payments database as text after payments were approved, declined and
    refunded: neither full card number appears, nor the CVC (looked for once the random ids and
    timestamps, which could contain the 4 digits by chance, are taken out)."""
    config = payments_config(make_config)
    app = (await start(aiohttp_client, config)).app
    pool = app[POOLS]["payments"]
    ok, declined = order(), order()
    await publish(config, await request_for(app, ok), await request_for(app, declined, DECLINED))
    for o in (ok, declined):
        await wait_until(lambda o=o: processed(pool, o), bool, f"{o} processed")
    await publish(config, envelope(RefundRequested(ok, 2599, "EUR", "Cancelled")))
    await wait_until(lambda: pool.fetchval("SELECT count(*) FROM refunds"), lambda n: n == 1, "the refund")

    tables = [r["tablename"] for r in await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert {"payments", "refunds", "outbox", "inbox"} <= set(tables)
    dump = "\n".join([r["t"] for table in tables for r in await pool.fetch(f'SELECT t::text AS t FROM "{table}" t')])
    assert ok in dump and declined in dump and "4242" in dump  # the dump is real: it has the orders, the last 4
    for number in ("4242424242424242", "4000000000000002", "4242 4242 4242 4242"):
        assert number not in dump
    assert CVC not in TIMESTAMP.sub("", UUID_OR_HEX.sub("", dump))
