"""Webhooks end to end: real checkouts (real payments over the broker) reach a real HTTP receiver on
127.0.0.1, each event once, signed per Standard Webhooks (checked here with the spec's own algorithm);
a receiver that fails its first 5 calls gets everything after it comes back; "Send again" on the admin
page delivers again; a seller's endpoint never gets another seller's data; a failing endpoint is
disabled; URLs on private networks are refused; the inbound stock webhook needs a right signature and
then sets stock through inventory's CSV import path."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
import uuid

import pytest
from aiohttp import web

from plugins.webhooks.config import WebhooksConfig
from plugins.webhooks.guard import Refused, check_url
from tests.conftest import free_port
from tests.helpers import start, wait_until
from tests.plugins.test_orders import EU, PLUGINS, bearer, orders_config, product, stock, user, wait_status
from tests.plugins.test_shipments import move, place
from tests.plugins.test_vouchers import log_in

FAST = {"allow_loopback_http": True, "poll_seconds": 0.1, "retry_base_seconds": 0.1, "retry_max_seconds": 0.5}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def spec_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """Standard Webhooks, written from the spec: base64 HMAC-SHA256 of "id.timestamp.body" with the
    base64-decoded part of the secret after "whsec_", prefixed "v1,"."""
    key = base64.b64decode(secret.split("_", 1)[1])
    return "v1," + base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()


class Receiver:
    """An HTTP server on 127.0.0.1 that records every call; answers 500 to the first ``fail_first``."""

    def __init__(self, fail_first: int = 0):
        self.calls: list[tuple[dict, bytes, int]] = []
        self.fail_first = fail_first
        self.port = free_port()

    async def handle(self, request: web.Request) -> web.Response:
        status = 500 if len(self.calls) < self.fail_first else 200
        self.calls.append((dict(request.headers), await request.read(), status))
        return web.Response(status=status)

    async def __aenter__(self) -> "Receiver":
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def accepted(self, secret: str) -> list[dict]:
        """Bodies of the calls answered 200, after checking each one's signature and timestamp."""
        out = []
        for headers, body, status in self.calls:
            assert headers["webhook-signature"] == spec_signature(secret, headers["webhook-id"],
                                                                  headers["webhook-timestamp"], body)
            assert abs(time.time() - int(headers["webhook-timestamp"])) < 300
            event = json.loads(body)
            assert event["id"] == headers["webhook-id"]
            if status == 200:
                out.append(event)
        return out


def hooks_config(make_config, **webhooks):
    config = orders_config(make_config)
    return config.replace(plugins={"enabled": (*PLUGINS, "webhooks"),
                                   "settings": {**config.plugins.settings, "webhooks": {**FAST, **webhooks}}})


async def register(client, token: str, url: str, types: list[str]) -> dict:
    resp = await client.post("/api/v1/webhooks", headers=bearer(token), json={"url": url, "event_types": types})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["secret"].startswith("whsec_")
    return body


async def test_order_events_arrive_once_signed_even_after_five_failures(aiohttp_client, make_config):
    client = await start(aiohttp_client, hooks_config(make_config))
    _, admin = await user(client, admin=True)
    _, seller = await user(client, seller=True)
    _, shopper = await user(client)
    mug = await product(client, seller, stock={EU: 10})
    async with Receiver() as good, Receiver(fail_first=5) as flaky:
        types = ["orders.status", "payments.completed"]
        hook = await register(client, admin, good.url, types)
        flaky_hook = await register(client, admin, flaky.url, types)
        orders = [await place(client, shopper, [(mug, 1)]) for _ in range(2)]
        for order_id in orders:
            await wait_status(client, shopper, order_id, "paid")
        want = {(o, t) for o in orders for t in ("orders.status:pending_payment", "orders.status:paid",
                                                  "payments.completed")}

        def seen(events):
            return [(e["data"]["order_id"], e["type"] + (":" + e["data"]["status"] if "status" in e["data"] else ""))
                    for e in events]
        for receiver, secret in ((good, hook["secret"]), (flaky, flaky_hook["secret"])):
            events = await wait_until(lambda: _async(receiver.accepted(secret)), lambda ev: want <= set(seen(ev)),
                                      "every order event accepted")
            mine = [e for e in seen(events) if e[0] in orders]
            assert sorted(mine) == sorted(want)  # each exactly once
            assert len({e["id"] for e in events}) == len(events)
        assert [s for _, _, s in flaky.calls[:5]] == [500] * 5

        async def delivery_log():
            resp = await client.get(f"/api/v1/webhooks/{flaky_hook['id']}/deliveries", headers=bearer(admin))
            return await resp.json()
        log = await wait_until(delivery_log, lambda ds: all(d["status"] == "delivered" for d in ds), "all marked delivered")
        assert len(log) == len(want)
        failures = [a for d in log for a in d["log"] if a["status_code"] == 500]
        assert len(failures) == 5 and all(a["error"] == "HTTP 500" and a["latency_ms"] >= 0 for a in failures)


async def _async(value):
    return value


async def test_send_again_from_the_admin_page(aiohttp_client, make_config):
    client = await start(aiohttp_client, hooks_config(make_config))
    admin_id, admin = await user(client, admin=True)
    _, seller = await user(client, seller=True)
    _, shopper = await user(client)
    mug = await product(client, seller, stock={EU: 5})
    async with Receiver() as receiver:
        hook = await register(client, admin, receiver.url, ["orders.status"])
        order_id = await place(client, shopper, [(mug, 1)])
        await wait_until(lambda: _async(receiver.accepted(hook["secret"])), lambda ev: len(ev) >= 1, "a delivery")
        email = (await (await client.get("/api/v1/users/me", headers=bearer(admin))).json())["email"]
        await log_in(client, email)
        page = await client.get(f"/admin/webhooks/{hook['id']}")
        assert page.status == 200
        text = await page.text()
        first = receiver.accepted(hook["secret"])[0]
        assert first["data"]["order_id"] == order_id
        log = await (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=bearer(admin))).json()
        delivery_id = next(d["id"] for d in log if d["event_id"] == first["id"])
        assert f"/admin/webhooks/deliveries/{delivery_id}/redeliver" in text
        before = len(receiver.calls)
        resp = await client.post(f"/admin/webhooks/deliveries/{delivery_id}/redeliver",
                                 data={"csrf_token": CSRF.search(text).group(1)}, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == f"/admin/webhooks/{hook['id']}"

        def again(calls):
            return [json.loads(b) for h, b, _ in calls[before:] if h["webhook-id"] == first["id"]]
        resent = await wait_until(lambda: _async(receiver.calls), again, "the delivery sent again")
        assert again(resent)[0] == first  # the same message (same id, same bytes), signed afresh
        page = await (await client.get(f"/admin/webhooks/{hook['id']}")).text()
        assert "sent again by hand" in page
        # without the form's CSRF token nothing is sent
        assert (await client.post(f"/admin/webhooks/deliveries/{delivery_id}/redeliver", data={})).status == 403


async def test_a_sellers_endpoint_gets_only_that_sellers_data(aiohttp_client, make_config):
    client = await start(aiohttp_client, hooks_config(make_config))
    ana_id, ana = await user(client, seller=True)
    bo_id, bo = await user(client, seller=True)
    _, shopper = await user(client)
    resp = await client.post("/api/v1/webhooks", headers=bearer(ana),
                             json={"url": "http://127.0.0.1:1/x", "event_types": ["orders.status"]})
    assert resp.status == 422  # orders.status names no seller: admins only
    types = (await (await client.get("/api/v1/webhooks/event-types", headers=bearer(ana))).json())
    assert "orders.shipment" in types and "orders.status" not in types and "payments.completed" not in types
    mug = await product(client, ana, stock={EU: 10})
    pen = await product(client, bo, stock={EU: 10})
    async with Receiver() as ana_rx, Receiver() as bo_rx:
        ana_hook = await register(client, ana, ana_rx.url, ["orders.shipment"])
        bo_hook = await register(client, bo, bo_rx.url, ["orders.shipment"])
        order_id = await place(client, shopper, [(mug, 1), (pen, 1)])
        await wait_status(client, shopper, order_id, "paid")
        assert (await move(client, ana, order_id, 1, "fulfilled")).status == 200
        assert (await move(client, bo, order_id, 2, "fulfilled")).status == 200
        for rx, hook, me in ((ana_rx, ana_hook, ana_id), (bo_rx, bo_hook, bo_id)):
            events = await wait_until(lambda: _async(rx.accepted(hook["secret"])),
                                      lambda ev: any(e["data"]["status"] == "fulfilled" for e in ev), "the shipment")
            assert events and {e["data"]["seller_id"] for e in events} == {me}
        # the other seller's endpoint is not even visible
        assert (await client.get(f"/api/v1/webhooks/{bo_hook['id']}/deliveries", headers=bearer(ana))).status == 404
        assert [h["id"] for h in await (await client.get("/api/v1/webhooks", headers=bearer(ana))).json()] == [ana_hook["id"]]


async def test_an_endpoint_that_keeps_failing_is_disabled_and_can_be_enabled(aiohttp_client, make_config):
    client = await start(aiohttp_client, hooks_config(make_config, disable_after_hours=0.0002, disable_min_failures=3))
    _, admin = await user(client, admin=True)
    _, seller = await user(client, seller=True)
    _, shopper = await user(client)
    mug = await product(client, seller, stock={EU: 5})
    async with Receiver(fail_first=10**6) as down:
        hook = await register(client, admin, down.url, ["orders.status"])
        await place(client, shopper, [(mug, 1)])

        async def state():
            return {h["id"]: h for h in await (await client.get("/api/v1/webhooks", headers=bearer(admin))).json()}
        hooks = await wait_until(state, lambda s: not s[hook["id"]]["enabled"], "the endpoint disabled")
        assert hooks[hook["id"]]["disabled_reason"] == "HTTP 500" and hooks[hook["id"]]["consecutive_failures"] >= 3
        calls = len(down.calls)
        down.fail_first = 0
        assert (await client.post(f"/api/v1/webhooks/{hook['id']}/enable", headers=bearer(admin))).status == 204
        await wait_until(lambda: _async(down.calls), lambda c: len(c) > calls and c[-1][2] == 200, "delivery after enabling")


async def test_urls_the_shop_must_not_call_are_refused(aiohttp_client, make_config):
    strict = WebhooksConfig()
    for url in ("http://erp.example.com/x", "https://10.1.2.3/x", "https://127.0.0.1/x", "https://[::1]/x",
                "https://169.254.169.254/latest", "https://localhost/x", "ftp://erp.example.com/", "https://user:pw@erp.example.com/"):
        with pytest.raises(Refused):
            check_url(url, strict)
    assert check_url("https://erp.example.com/hooks", strict)
    with pytest.raises(Refused):
        check_url("http://127.0.0.1:9/x", strict)  # loopback http only with allow_loopback_http
    client = await start(aiohttp_client, hooks_config(make_config))
    _, seller = await user(client, seller=True)
    resp = await client.post("/api/v1/webhooks", headers=bearer(seller),
                             json={"url": "https://192.168.1.10/x", "event_types": ["orders.shipment"]})
    assert resp.status == 422 and "url" in (await resp.json())["errors"]


async def test_inbound_stock_webhook_needs_the_signature_and_sets_stock(aiohttp_client, make_config):
    client = await start(aiohttp_client, hooks_config(make_config))
    _, admin = await user(client, admin=True)
    seller_id, seller = await user(client, seller=True)
    mug = await product(client, seller, stock={EU: 3})
    sku = (await (await client.get(f"/api/v1/products/{mug}")).json())["sku"]
    resp = await client.post("/api/v1/webhooks/inbound-secrets", headers=bearer(admin), json={"seller_id": seller_id})
    assert resp.status == 201, await resp.text()
    secret = (await resp.json())["secret"]
    body = json.dumps({"items": [{"sku": sku, "region": EU, "quantity": 42}]}).encode()

    def signed(key: str, stamp: int | None = None) -> dict:
        msg_id, ts = f"msg_{uuid.uuid4().hex}", str(stamp or int(time.time()))
        return {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": spec_signature(key, msg_id, ts, body),
                "Content-Type": "application/json"}
    wrong = "whsec_" + base64.b64encode(b"x" * 32).decode()
    for headers in (signed(wrong), signed(secret, int(time.time()) - 3600), {"Content-Type": "application/json"}):
        resp = await client.post("/api/v1/inventory/stock-webhook", data=body, headers=headers)
        assert resp.status == 401, await resp.text()
    assert (await stock(client, mug))["quantity"] == 3
    resp = await client.post("/api/v1/inventory/stock-webhook", data=body, headers=signed(secret))
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["total"] == 1
    await wait_until(lambda: stock(client, mug), lambda s: s["quantity"] == 42, "the pushed stock applied")


def test_signature_matches_the_reference_libraries_vector():
    """The Standard Webhooks reference libraries' own test vector."""
    from plugins.webhooks import signing
    secret, msg_id, stamp, body = ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                   1614265330, b'{"test": 2432232314}')
    assert signing.sign(secret, msg_id, stamp, body) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signing.verify(secret, msg_id, str(stamp), "v1,bad v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", body,
                          now=stamp + 10)
    assert not signing.verify(secret, msg_id, str(stamp), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", body,
                              now=stamp + 301)  # stale: a replay


async def test_product_and_stock_events_reach_their_sellers_endpoint_once(aiohttp_client, make_config):
    client = await start(aiohttp_client, hooks_config(make_config))
    ana_id, ana = await user(client, seller=True)
    _, bo = await user(client, seller=True)
    wanted = ["products.created", "products.updated", "inventory.stock_changed"]
    offered = await (await client.get("/api/v1/webhooks/event-types", headers=bearer(ana))).json()
    assert set(wanted) <= set(offered), offered
    async with Receiver() as rx:
        hook = await register(client, ana, rx.url, wanted)
        mug = await product(client, ana, stock={EU: 7})
        resp = await client.patch(f"/api/v1/products/{mug}", headers=bearer(ana), json={"price_cents": 1500})
        assert resp.status == 200, await resp.text()
        await product(client, bo, stock={EU: 3})  # another seller's: never sent to ana

        def kinds(events):
            return sorted(e["type"] for e in events)
        events = await wait_until(lambda: _async(rx.accepted(hook["secret"])),
                                  lambda ev: kinds(ev) == sorted(wanted), "ana's product and stock events")
        assert len({e["id"] for e in events}) == 3
        created = next(e for e in events if e["type"] == "products.created")
        assert created["data"]["product"]["seller_id"] == ana_id and created["data"]["product_id"] == mug
        stock_event = next(e for e in events if e["type"] == "inventory.stock_changed")
        assert stock_event["data"]["seller_id"] == ana_id and stock_event["data"]["product_id"] == mug
        await asyncio.sleep(1)  # nothing more arrives (bo's product, a second copy)
        assert kinds(rx.accepted(hook["secret"])) == sorted(wanted)


async def webhooks_inbox(client, consumer_like: str = "webhooks:%") -> int:
    from ecom.app import POOLS
    return await client.app[POOLS]["webhooks"].fetchval("SELECT count(*) FROM inbox WHERE consumer LIKE $1",
                                                        consumer_like)


async def test_an_event_type_no_endpoint_wants_costs_no_inbox_row(aiohttp_client, make_config):
    """With no endpoint, the catalog, stock and order events of a product and a paid order leave no
    inbox row in the webhooks database, live or through catch-up (before wanted.py: one per event and
    type); the same event type gets its inbox row and its call once an endpoint wants it."""
    from ecom.app import EVENT_BUS
    client = await start(aiohttp_client, hooks_config(make_config))
    _, admin = await user(client, admin=True)
    _, seller = await user(client, seller=True)
    _, shopper = await user(client)
    mug = await product(client, seller, stock={EU: 5})
    await wait_status(client, shopper, await place(client, shopper, [(mug, 1)]), "paid")
    catch_up = client.app[EVENT_BUS].catch_up
    await asyncio.sleep(catch_up.GRACE.total_seconds() + catch_up.EVERY + 1)  # a catch-up round has seen them
    await catch_up.round()
    assert await webhooks_inbox(client) == 0
    async with Receiver() as rx:
        hook = await register(client, admin, rx.url, ["products.created"])
        cup = await product(client, seller, name="Cup")
        events = await wait_until(lambda: _async(rx.accepted(hook["secret"])), lambda ev: len(ev) >= 1,
                                  "the new product's event")
        assert [e["data"]["product_id"] for e in events] == [cup]
        assert await webhooks_inbox(client, "webhooks:deliver:products.created") == 1
        assert await webhooks_inbox(client) == 1  # the other types still cost nothing


async def test_an_endpoint_saved_in_another_worker_gets_its_events_within_seconds(aiohttp_client, make_config):
    """An endpoint written by another worker (straight into the database: this worker's wanted types
    are not told) receives an event made right after it, once, within the promised time: live after
    wanted.py's next read (2 s), or through catch-up if this worker skipped it meanwhile."""
    from ecom.app import POOLS
    from plugins.webhooks import db, signing
    from plugins.webhooks.keys import WEBHOOKS
    client = await start(aiohttp_client, hooks_config(make_config))
    admin_id, _ = await user(client, admin=True)
    _, seller = await user(client, seller=True)
    async with Receiver() as rx:
        secret = signing.new_secret()
        await db.add_endpoint(client.app[POOLS]["webhooks"], admin_id, "admin", rx.url, "",
                              ["products.created"], client.app[WEBHOOKS].vault.seal(secret))
        started = time.monotonic()
        mug = await product(client, seller)
        events = await wait_until(lambda: _async(rx.accepted(secret)), lambda ev: len(ev) >= 1,
                                  "the event of an endpoint saved elsewhere", 30)  # the bound (busy machine)
        print(f"\ndelivered {time.monotonic() - started:.1f} s after the product was made")
        assert [e["data"]["product_id"] for e in events] == [mug]
        await asyncio.sleep(1)
        assert len(rx.accepted(secret)) == 1
