"""Issue 9 for orders and payments: orders trust payments, not messages; card data has a short life;
sellers see no payment details. The whole shop runs (real PostgreSQL, real broker, real HTTP); payment
results travel through the real bus, signed by the shop's own keys, the way a forger holding a broker
credential, or a bug in payments, would deliver them.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import uuid
from pathlib import Path

import asyncpg
from cryptography.fernet import Fernet, InvalidToken

from ecom import db as core_db
from ecom.app import EVENT_BUS, POOLS
from ecom.events import Envelope
from plugins.payments.events import PaymentCompleted, PaymentFailed
from plugins.payments.keys import PAYMENTS
from plugins.payments.vault import TokenInvalid
from tests.conftest import ROOT, TEST_SECRET_KEY
from tests.helpers import start, wait_until
from tests.plugins.test_orders import (DECLINED, EU, PLUGINS, VISA, bearer, checkout, get_order, orders_config,
                                       product, user, wait_status)

SECRET = hashlib.sha256(TEST_SECRET_KEY.encode()).digest()  # what load_secret() derives from secret_key
CARD_NUMBERS = ("4242424242424242", "4000000000000002")
FERNET = re.compile(r"gAAAAA[A-Za-z0-9_\-]{40,}={0,2}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}(:\d{2})?)?")


# ============================================================================= orders trust payments

async def dead_letters(pool: asyncpg.Pool, order_id: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT event_id, topic, kind, reason FROM dead_letter WHERE payload LIKE $1 ORDER BY id",
                            f"%{order_id}%")


async def payment_of(pool: asyncpg.Pool, order_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM payments WHERE order_id = $1", order_id)


async def publish_signed(app, obj) -> Envelope:
    """``obj`` signed with the key of the topic's owner (payments) and published through the broker on
    the shop's own connection: everything a forger needs, except that payments knows nothing of it."""
    env = Envelope.wrap(obj)
    bus = app[EVENT_BUS]
    mqtt = await wait_until(lambda: asyncio.sleep(0, bus.live_client()), bool, "the shop's broker connection")
    await mqtt.publish(env.type, bus.sign("payments", env.to_json()), qos=1)
    return env


async def test_payment_results_that_payments_does_not_confirm_are_rejected(aiohttp_client, make_config):
    """Each result below is authentic on the wire (signed by payments' key) yet not backed by payments'
    own record: approved for 1 cent, approved in another currency, an unknown payment id, another
    order's payment, a payment still pending, a forged failure of a good order. Each is dead-lettered
    as rejected with its reason and the order stays unpaid; the sweep does not settle a mismatched
    payment either. The good order is then paid by its real payment."""
    client = await start(aiohttp_client, orders_config(make_config, payments={"delay_seconds": 3600}))
    app = client.app
    orders_pool, payments_pool = app[POOLS]["orders"], app[POOLS]["payments"]
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 20}, price_cents=1299)
    _, token = await user(client)
    placed = [await (await checkout(client, token, [(mug, 1)])).json() for _ in range(4)]
    cent, dollars, good, other = (o["id"] for o in placed)
    for o in placed:
        await wait_until(lambda o=o: payment_of(payments_pool, o["id"]), bool, f"payment of {o['id']} recorded")

    # payments' own record is wrong (as if a request for 1 cent or in USD had been recorded): its real,
    # signed PaymentCompleted must not pay the order
    await payments_pool.execute("UPDATE payments SET amount_cents = 1 WHERE order_id = $1", cent)
    await payments_pool.execute("UPDATE payments SET currency = 'USD' WHERE order_id = $1", dollars)
    await payments_pool.execute("UPDATE payments SET due_at = now() WHERE order_id = ANY($1::text[])",
                                [cent, dollars, other])
    await wait_status(client, token, other, "paid")
    for order_id, word in ((cent, "amount"), (dollars, "currency")):
        rows = await wait_until(lambda o=order_id: dead_letters(orders_pool, o), bool, f"{order_id} rejected")
        assert [(r["topic"], r["kind"]) for r in rows] == [(PaymentCompleted.TOPIC, "rejected")]
        assert word in rows[0]["reason"]
        assert (await payment_of(payments_pool, order_id))["status"] == "approved"

    good_payment = await payment_of(payments_pool, good)
    other_payment = await payment_of(payments_pool, other)
    forged = [
        PaymentCompleted(good, str(uuid.uuid4()), "txn_forged", 1299, "EUR", "visa", "4242"),          # unknown id
        PaymentCompleted(good, str(other_payment["id"]), other_payment["transaction_id"], 1299, "EUR",
                         "visa", "4242"),                                                              # other order's
        PaymentCompleted(good, str(good_payment["id"]), "txn_forged", 1299, "EUR", "visa", "4242"),   # still pending
        PaymentFailed(good, str(good_payment["id"]), "Card declined"),                               # not declined
        PaymentCompleted(good, str(good_payment["id"]), "txn_forged", 1, "EUR", "visa", "4242"),      # 1 cent
    ]
    sent = [await publish_signed(app, obj) for obj in forged]
    rows = await wait_until(lambda: dead_letters(orders_pool, good), lambda rs: len(rs) >= len(sent),
                            "every forged result rejected")
    assert {r["event_id"] for r in rows} == {env.id for env in sent}
    assert {r["kind"] for r in rows} == {"rejected"}
    reasons = {r["event_id"]: r["reason"] for r in rows}
    assert "another payment" in reasons[sent[0].id] and "another payment" in reasons[sent[1].id]
    assert "pending" in reasons[sent[2].id] and "pending" in reasons[sent[3].id]
    for order_id in (cent, dollars, good):
        order = await get_order(client, token, order_id)
        assert order["status"] == "pending_payment", order
        assert [h["status"] for h in order["history"]] == ["pending_payment"]
    assert await orders_pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1::uuid[])",
                                      [env.id for env in sent]) == 0  # rolled back: a real copy may still apply

    # the sweep asks payments too: an approved payment for the wrong amount does not pay the order
    await orders_pool.execute("UPDATE orders SET expires_at = now() WHERE id = $1", cent)
    assert (await wait_status(client, token, cent, "expired"))["history"][-1]["actor"] == "system:expiry"

    await payments_pool.execute("UPDATE payments SET due_at = now() WHERE order_id = $1", good)
    paid = await wait_status(client, token, good, "paid")
    assert paid["history"][-1]["reason"] == "Payment approved"


# ============================================================================= card data has a short life

def derivable_keys() -> dict[str, bytes]:
    """Every 32-byte key this code base derives from the shop secret (by name), plus the secret itself:
    plugin secrets for every purpose any plugin asks for (found in the source) and the old card-token
    purpose, the session key, the event signing keys."""
    purposes = {"card-token", "card-key-wrap"}
    for path in [*(ROOT / "plugins").rglob("*.py"), *(ROOT / "ecom").rglob("*.py")]:
        purposes |= set(re.findall(r"""\.secret\(\s*["']([^"']+)["']\s*\)""", Path(path).read_text()))
    keys = {"secret": SECRET, "sha256(secret)": hashlib.sha256(SECRET).digest(),
            "session": hmac.new(SECRET, b"session", hashlib.sha256).digest()}
    for plugin in [*PLUGINS, "core"]:
        keys[f"event-key:{plugin}"] = hmac.new(SECRET, f"event-key:{plugin}".encode(), hashlib.sha256).digest()
        for purpose in purposes:
            keys[f"{plugin}:{purpose}"] = hmac.new(SECRET, f"{plugin}:{purpose}".encode(), hashlib.sha256).digest()
    return keys


async def dump_shop(config) -> list[str]:
    """Every text, json and bytea value of every table of every database of this shop (all schemas)."""
    server = await asyncpg.connect(core_db.database_url(config.database.url, "postgres"))
    try:
        names = [r["datname"] for r in await server.fetch(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", f"{config.database.name_prefix}_")]
    finally:
        await server.close()
    assert {f"{config.database.name_prefix}_{p}" for p in PLUGINS if p != "taxes"} <= set(names)  # taxes: no database
    values: list[str] = []
    for name in names:
        conn = await asyncpg.connect(core_db.database_url(config.database.url, name))
        try:
            columns = await conn.fetch("""
                SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns
                WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
                  AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea')""")
            for c in columns:
                rows = await conn.fetch(f'SELECT "{c["column_name"]}" AS v FROM "{c["table_schema"]}".'
                                        f'"{c["table_name"]}" WHERE "{c["column_name"]}" IS NOT NULL')
                for r in rows:
                    v = r["v"]
                    values.append(v.decode("latin-1") if isinstance(v, bytes) else str(v))
        finally:
            await conn.close()
    return values


async def recover_cards(app, config) -> tuple[int, list[str]]:
    """(token-looking values found in the shop's databases, what every derivable key and every card key
    still stored (unwrapped as payments would) turns them into, when that holds a card number or CVC)."""
    values = await dump_shop(config)
    tokens = {m for v in values for m in FERNET.findall(v)}
    keys = list(derivable_keys().values())
    vault = app[PAYMENTS].vault
    for row in await app[POOLS]["payments"].fetch("SELECT id, key FROM card_keys"):
        try:
            keys.append(vault.unwrap(row["id"], row["key"]))
        except TokenInvalid:
            pass
    found = []
    for token in tokens:
        for key in keys:
            try:
                plain = Fernet(base64.urlsafe_b64encode(key)).decrypt(token.encode()).decode("utf-8", "replace")
            except InvalidToken:
                continue
            if any(number in plain for number in CARD_NUMBERS) or '"c"' in plain:
                found.append(plain)
    text = "\n".join(values)
    found += [number for number in CARD_NUMBERS if number in text]
    return len(tokens), found


async def test_no_card_number_can_be_recovered_after_payment(aiohttp_client, make_config):
    """After one payment approved and one declined, no value of any table of any database of the shop
    (the orders outbox still holds both PaymentRequested events, tokens and all) opens to a card number,
    with any key the shop secret derives or any card key still stored."""
    config = orders_config(make_config)
    client = await start(aiohttp_client, config)
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    _, token = await user(client)
    ok = await (await checkout(client, token, [(mug, 1)])).json()
    declined = await (await checkout(client, token, [(mug, 1)], number=DECLINED)).json()
    await wait_status(client, token, ok["id"], "paid")
    await wait_status(client, token, declined["id"], "payment_failed")
    # checkouts that place no order leave no card key behind: short stock, a replayed Idempotency-Key
    assert (await checkout(client, token, [(mug, 99)])).status == 409
    first = await checkout(client, token, [(mug, 1)], key="once")
    again = await checkout(client, token, [(mug, 1)], key="once")
    assert first.status == again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    await wait_status(client, token, (await first.json())["id"], "paid")
    outbox = await client.app[POOLS]["orders"].fetch(
        "SELECT payload FROM outbox WHERE topic = 'ecom/payments/requested'")
    assert len(outbox) == 3 and all(FERNET.search(r["payload"]) for r in outbox)  # the copies are there
    assert await client.app[POOLS]["payments"].fetchval("SELECT count(*) FROM card_keys") == 0
    tokens, recovered = await recover_cards(client.app, config)
    assert tokens >= 2 and recovered == []


async def test_an_unused_card_token_dies_with_its_key(aiohttp_client, make_config):
    """A payment that waits: while its key lives the shop can open its token (so the search below is
    able to find a card); once the token's TTL has passed the sweep deletes the key, every copy is
    noise, and the payment is declined "Card details expired" when it falls due."""
    config = orders_config(make_config, payments={"delay_seconds": 3600})
    client = await start(aiohttp_client, config)
    payments_pool = client.app[POOLS]["payments"]
    _, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 5})
    _, token = await user(client)
    order = await (await checkout(client, token, [(mug, 1)], number=VISA)).json()
    await wait_until(lambda: payment_of(payments_pool, order["id"]), bool, "the payment recorded")
    tokens, recovered = await recover_cards(client.app, config)
    assert tokens >= 1 and any("4242424242424242" in plain for plain in recovered)  # alive: it opens

    await payments_pool.execute("UPDATE card_keys SET expires_at = now() - interval '1 second'")  # time passes
    await wait_until(lambda: payments_pool.fetchval("SELECT count(*) FROM card_keys"), lambda n: n == 0,
                     "the expired key swept", timeout=30)
    tokens, recovered = await recover_cards(client.app, config)
    assert tokens >= 1 and recovered == []

    await payments_pool.execute("UPDATE payments SET due_at = now() WHERE order_id = $1", order["id"])
    failed = await wait_status(client, token, order["id"], "payment_failed")
    assert failed["failure_reason"] == "Card details expired"


# ============================================================================= sellers see no payment details

def without_timestamps(text: str) -> str:
    return TIMESTAMP.sub("", text)


async def test_sellers_never_see_payment_details(aiohttp_client, make_config):
    """The seller of a paid order sees its lines and status, never the card brand, its last 4 digits,
    the payment or the transaction id: not in the order API, the seller's order list, the history
    reasons, nor the order page. The customer and admins still see brand and last 4."""
    client = await start(aiohttp_client, orders_config(make_config))
    _, seller = await user(client, seller=True)
    _, admin = await user(client, admin=True)
    mug = await product(client, seller, stock={EU: 5})
    _, token = await user(client)
    order = await (await checkout(client, token, [(mug, 1)])).json()
    paid = await wait_status(client, token, order["id"], "paid")
    payment = await payment_of(client.app[POOLS]["payments"], order["id"])
    secrets_of_payment = ("4242", "visa", str(payment["id"]), payment["transaction_id"])

    assert paid["card"] == {"brand": "visa", "last4": "4242"}
    assert [h["reason"] for h in paid["history"]] == ["Order placed", "Payment approved"]
    seller_views = {
        "api": await (await client.get(f"/api/v1/orders/{order['id']}", headers=bearer(seller))).text(),
        "list": await (await client.get("/api/v1/orders", params={"as": "seller"}, headers=bearer(seller))).text(),
        "page": await (await client.get(f"/orders/{order['id']}", headers=bearer(seller))).text(),
        "list page": await (await client.get("/seller/orders", headers=bearer(seller))).text(),
    }
    assert json.loads(seller_views["api"])["view"] == "seller" and json.loads(seller_views["api"])["card"] is None
    for where, text in seller_views.items():
        assert order["id"] in text, where  # the seller does see the order
        for secret in secrets_of_payment:
            assert secret.lower() not in without_timestamps(text).lower(), (where, secret)
    for viewer in (token, admin):
        page = await (await client.get(f"/orders/{order['id']}", headers=bearer(viewer))).text()
        assert "Visa ending 4242" in page
