"""The hardened MQTT broker (issue 9, findings 1, 2, 3 and 6): attacks as a local user would send them.

In-process tests use the session's EmbeddedBroker (tests/conftest.py) or one with small limits; the
resource tests use the broker as the shop runs it, a child process (BrokerProcess, `python run.py`).
"""
from __future__ import annotations

import asyncio
import hashlib
import resource
import subprocess
import sys
import time
import uuid

import aiohttp
import aiomqtt
import psutil
import pytest

from ecom.broker import EmbeddedBroker, client_password, new_client_id
from ecom.broker.acl import allowed
from ecom.broker.limits import Limits
from ecom.broker.process import BrokerProcess
from tests.conftest import TEST_SECRET_KEY, free_port
from tests.test_cli import ROOT, start, write_config

SECRET = hashlib.sha256(TEST_SECRET_KEY.encode()).digest()
PAY = "ecom/payments/completed"
QUIET = 1.5  # how long a message that must NOT come is waited for (after a control message came)


# ------------------------------------------------------------------ raw MQTT, as an attacker writes it
def _string(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(client_id: bytes, *, username: bytes | None = None, password: bytes | None = None,
                   will: tuple[bytes, bytes] | None = None, clean: bool = False) -> bytes:
    flags = (0x02 if clean else 0) | (0x04 | 0x08 if will else 0) | (0x80 if username is not None else 0) \
        | (0x40 if password is not None else 0)
    body = _string(b"MQTT") + bytes([4, flags]) + (30).to_bytes(2, "big") + _string(client_id)
    if will:
        body += _string(will[0]) + _string(will[1])
    body += (_string(username) if username is not None else b"") + (_string(password) if password is not None else b"")
    return b"\x10" + _length(len(body)) + body


async def raw_connect(port: int, packet: bytes) -> int | None:
    """The CONNACK return code, or None if the broker closed without one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(packet)
        await writer.drain()
        async with asyncio.timeout(15):
            connack = await reader.readexactly(4)
        return connack[3] if connack[0] == 0x20 else None
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    finally:
        writer.close()


def mqtt(port: int, client_id: str | None = None, *, role: str = "app", **kw) -> aiomqtt.Client:
    cid = client_id or new_client_id(role)
    return aiomqtt.Client("127.0.0.1", port, identifier=cid, username=kw.pop("username", cid),
                          password=kw.pop("password", client_password(SECRET, cid)), clean_session=False,
                          protocol=aiomqtt.ProtocolVersion.V311, timeout=10, **kw)


async def next_message(client: aiomqtt.Client, timeout: float) -> aiomqtt.Message | None:
    try:
        async with asyncio.timeout(timeout):
            return await anext(client.messages)
    except TimeoutError:
        return None


async def only_control_arrives(client: aiomqtt.Client, control: str) -> list[str]:
    """Topics received until the control message and QUIET seconds after it (the control must come)."""
    seen, deadline = [], time.monotonic() + 15
    while control not in seen:
        message = await next_message(client, max(0.1, deadline - time.monotonic()))
        assert message is not None, f"the control message on {control} never came (saw {seen})"
        seen.append(str(message.topic))
    while (message := await next_message(client, QUIET)) is not None:
        seen.append(str(message.topic))
    return seen


# ------------------------------------------------------------------ findings 1 and 2: refused CONNECTs
@pytest.mark.parametrize("clean", [False, True], ids=["will", "clean_session"])
async def test_refused_connect_with_the_live_client_id_changes_nothing(broker, clean):
    """A wrong password with the shop's client id and a will on a payment topic: no will is published, the
    live connection is not taken over, its subscriptions keep delivering, and no state of it remains."""
    live_id, mine = new_client_id(), f"ecom/tests/{uuid.uuid4().hex}"
    async with mqtt(broker.port, live_id) as live, mqtt(broker.port) as watcher, mqtt(broker.port) as sender:
        await live.subscribe(mine, qos=1)
        await watcher.subscribe(PAY, qos=1)
        await watcher.subscribe(mine, qos=1)
        forged = connect_packet(live_id.encode(), username=live_id.encode(), password=b"0" * 64,
                                will=(PAY.encode(), b'{"forged": true}'), clean=clean)
        assert await raw_connect(broker.port, forged) == 5  # not authorized
        session = broker.broker.sessions[live_id][0]
        assert session.will_topic is None and session.transitions.is_connected()
        await sender.publish(mine, b"after the attack", qos=1)
        assert await only_control_arrives(watcher, mine) == [mine]  # no forged payment result, before or after
        message = await next_message(live, 15)  # the live client is still connected and still subscribed
        assert message is not None and str(message.topic) == mine


async def test_refused_connects_leave_no_session_behind(broker):
    before = set(broker.broker.sessions)
    for clean in (False, True):
        cid = new_client_id()
        code = await raw_connect(broker.port, connect_packet(cid.encode(), username=cid.encode(), password=b"bad",
                                                             will=(PAY.encode(), b"x"), clean=clean))
        assert code == 5
    code = await raw_connect(broker.port, connect_packet(b"i" * 200, username=b"i" * 200, password=b"bad"))
    assert code == 2  # identifier rejected: over 128 bytes
    assert set(broker.broker.sessions) <= before


# ------------------------------------------------------------------ finding 3: credentials and ACLs
async def test_a_valid_credential_opens_only_its_own_client_id(broker):
    owner, target = new_client_id(), new_client_id()
    with pytest.raises(aiomqtt.MqttError):
        async with mqtt(broker.port, target, username=owner, password=client_password(SECRET, owner)):
            pass
    async with mqtt(broker.port, owner):  # the same credential for its own id works
        pass


async def test_an_app_client_may_not_subscribe_to_everything(broker):
    mine = f"ecom/tests/{uuid.uuid4().hex}"
    async with mqtt(broker.port) as nosy, mqtt(broker.port) as sender:
        for pattern in ("#", "$SYS/#", "+/payments/completed"):
            granted = await nosy.subscribe(pattern, qos=1)
            assert [g.value if hasattr(g, "value") else g for g in granted] == [0x80], pattern
        await nosy.subscribe(mine, qos=1)
        await sender.publish(f"ecom/other/{uuid.uuid4().hex}", b"not for you", qos=1)
        await sender.publish(mine, b"control", qos=1)
        assert await only_control_arrives(nosy, mine) == [mine]


async def test_a_tool_client_cannot_publish_or_will_payment_topics(broker):
    control = f"ecom/tests/{uuid.uuid4().hex}"
    async with mqtt(broker.port) as watcher, mqtt(broker.port, role="tool") as tool:
        await watcher.subscribe(PAY, qos=1)
        await watcher.subscribe(control, qos=1)
        await tool.publish(PAY, b'{"forged": true}', qos=1)  # acked, then dropped (MQTT 3.1.1 has no refusal)
        await tool.publish(control, b"control", qos=1)
        assert await only_control_arrives(watcher, control) == [control]
    tool_id = new_client_id("tool")
    code = await raw_connect(broker.port, connect_packet(tool_id.encode(), username=tool_id.encode(),
                                                         password=client_password(SECRET, tool_id).encode(),
                                                         will=(PAY.encode(), b"x")))
    assert code == 5  # a valid tool credential with a will on a payment topic is refused


def test_topic_rules():
    app, tool = "ecom-app-0123456789abcdef", "ecom-tool-0123456789abcdef"
    assert allowed(app, "ecom/payments/completed", "publish") and allowed(app, "ecom/#", "subscribe")
    assert allowed(app, "$share/g/ecom/orders/status", "subscribe")
    assert not allowed(app, "#", "subscribe") and not allowed(app, "$SYS/#", "subscribe")
    assert not allowed(app, "other/x", "publish") and not allowed(app, "ecom", "publish")
    assert allowed(tool, "ecom/products/changed", "publish")
    for topic in ("ecom/payments/completed", "ecom/+/completed", "ecom/#"):
        assert not allowed(tool, topic, "publish") and not allowed(tool, topic, "subscribe")


# ------------------------------------------------------------------ finding 6: limits
async def test_idle_sockets_time_out_and_over_cap_sockets_close_at_once():
    port = free_port()
    small = EmbeddedBroker("127.0.0.1", port, SECRET, Limits(max_connections=5, connect_timeout=6.0))
    await small.start()
    try:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)  # the sixth: over the cap
        async with asyncio.timeout(15):
            assert await reader.read(1) == b""
        # "at once": closed before the idle five, which wait their connect_timeout (an order, not a speed)
        assert not any(r.at_eof() for r, _ in idle)
        writer.close()
        async with asyncio.timeout(30):  # the idle five are closed after connect_timeout
            assert [await r.read(1) for r, _ in idle] == [b""] * 5
        for _, w in idle:
            w.close()
        async with mqtt(port):  # and a real client gets in again
            pass
    finally:
        await small.stop()


async def test_oversized_publish_closes_the_connection():
    port = free_port()
    small = EmbeddedBroker("127.0.0.1", port, SECRET, Limits(max_payload_bytes=4096))
    await small.start()
    try:
        with pytest.raises(aiomqtt.MqttError):
            async with mqtt(port) as client:
                await client.publish("ecom/tests/big", b"x" * 20_000, qos=1)
                await client.publish("ecom/tests/big", b"x", qos=1)
    finally:
        await small.stop()


async def test_refused_connects_with_huge_ids_and_wills_do_not_grow_the_broker_process():
    port = free_port()
    child = BrokerProcess("127.0.0.1", port, SECRET)
    child.start()
    try:
        proc = psutil.Process(child.pid)
        big = b"i" * 65_000

        async def attack(n: int) -> list[int | None]:
            codes: list[int | None] = []
            for start_at in range(0, n, 50):  # 50 at a time, 127.0.0.1 only
                packets = [connect_packet(big + str(i).encode(), username=b"u", password=b"p",
                                          will=(PAY.encode(), big)) for i in range(start_at, min(n, start_at + 50))]
                codes += await asyncio.gather(*(raw_connect(port, p) for p in packets))
            return codes
        await attack(100)  # warm the allocator up
        before = proc.memory_info().rss
        codes = await attack(1000)
        after = proc.memory_info().rss
        assert set(codes) <= {2, None} and codes.count(2) > 900, set(codes)
        assert after - before < 10 * 1024 * 1024, f"RSS grew by {(after - before) / 1e6:.1f} MB"
        print(f"broker RSS {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB after 1,000 refused 128 KB CONNECTs")
    finally:
        child.stop()


# ------------------------------------------------------------------ the real run.py
def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def _broker_child(shop: subprocess.Popen) -> psutil.Process:
    found = [p for p in psutil.Process(shop.pid).children(recursive=True) if "ecom.broker" in " ".join(p.cmdline())]
    assert len(found) == 1, found
    return found[0]


async def _get(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as resp:
        await resp.read()
        return resp.status


async def test_idle_broker_sockets_beyond_the_file_limit_leave_the_shop_answering(tmp_path):
    config = write_config(tmp_path, enabled=("users", "products"))
    text = config.read_text()
    port = int(text.split("port = ")[1].split()[0])
    broker_port = int(text.split("embedded_port = ")[1].split()[0])
    shop = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=_low_fd_limit)
    try:
        assert "ready at" in shop.stdout.readline()
        assert psutil.Process(shop.pid).rlimit(psutil.RLIMIT_NOFILE) == (256, 256)
        held = []
        for _ in range(400 // 50):  # 400 idle sockets, more than the shop's file limit, 50 at a time
            results = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", broker_port) for _ in range(50)),
                                           return_exceptions=True)
            held += [r for r in results if not isinstance(r, BaseException)]
        assert len(held) >= 300
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for path in ("/healthz", "/products", "/healthz"):
                began = time.monotonic()
                assert await _get(session, f"http://127.0.0.1:{port}{path}") == 200, path
                assert time.monotonic() - began < 5, path
            # the broker child is watched: a SIGKILLed broker comes back by itself (back-off starts at 1 s)
            first = _broker_child(shop)
            first.kill()
            deadline = time.monotonic() + 60  # the outcome, with room for a busy machine's slow start
            while time.monotonic() < deadline:
                try:
                    again = _broker_child(shop)
                    if again.pid != first.pid:
                        reader, writer = await asyncio.open_connection("127.0.0.1", broker_port)
                        writer.close()
                        break
                except (AssertionError, OSError, psutil.Error):
                    pass
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("the broker was not restarted within 60 s")
            assert await _get(session, f"http://127.0.0.1:{port}/healthz") == 200
        for _, writer in held:
            writer.close()
    finally:
        shop.terminate()
        shop.wait(30)


async def test_seed_beside_a_running_shop_leaves_payments_flowing(tmp_path):
    config = write_config(tmp_path, enabled=("users", "products", "inventory", "payments", "addresses", "shipping",
                                             "taxes", "vouchers", "orders"),
                          extra="[plugins.payments]\ndelay_seconds = 0.0\n")
    config.write_text(config.read_text().replace(
        "[security]\n", "[security]\nrate_limit_per_minute = 0\nauth_rate_limit_per_minute = 0\n"))
    url = f"http://127.0.0.1:{int(config.read_text().split('port = ')[1].split()[0])}"
    shop, _ = start(config)
    try:
        seeded = await asyncio.to_thread(subprocess.run, [sys.executable, str(ROOT / "run.py"), "seed", "--products",
                                                          "20", "--config", str(config)],
                                         cwd=ROOT, capture_output=True, text=True, timeout=180)
        assert seeded.returncode == 0, seeded.stderr[-2000:]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
            seller, customer = await _token(session, url, seller=True), await _token(session, url)
            auth = {"Authorization": f"Bearer {seller}"}
            async with session.post(url + "/api/v1/products", headers=auth, json={
                    "name": "Seed-side lamp", "description": "After the seed.", "price_cents": 1999,
                    "currency": "EUR", "type": "Home", "sku": f"LAMP-{uuid.uuid4().hex[:8]}"}) as resp:
                assert resp.status == 201, await resp.text()
                product = (await resp.json())["id"]
            async with session.put(f"{url}/api/v1/inventory/{product}/eu-west", headers=auth,
                                   json={"quantity": 3}) as resp:
                assert resp.status == 200, await resp.text()
            card = {"method": "card", "card_number": "4242 4242 4242 4242", "exp_month": 12,
                    "exp_year": time.gmtime().tm_year + 3, "cvc": "123"}
            auth = {"Authorization": f"Bearer {customer}"}
            async with session.post(url + "/api/v1/orders", headers=auth, json={
                    "items": [{"product_id": product, "quantity": 1}], "payment": card,
                    "ship_to": {"name": "Ana García", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES"}}) as resp:
                assert resp.status == 201, await resp.text()
                order = (await resp.json())["id"]
            status, deadline = None, time.monotonic() + 30
            while status != "paid" and time.monotonic() < deadline:
                async with session.get(f"{url}/api/v1/orders/{order}", headers=auth) as resp:
                    status = (await resp.json())["status"]
                await asyncio.sleep(0.2)
            assert status == "paid"
    finally:
        shop.terminate()
        shop.wait(30)


async def _token(session: aiohttp.ClientSession, url: str, *, seller: bool = False) -> str:
    email, password = f"u{uuid.uuid4().hex[:12]}@example.com", "a-good-password-9"
    async with session.post(url + "/api/v1/users", json={"email": email, "name": "Broker test", "password": password,
                                                         "is_seller": seller}) as resp:
        assert resp.status in (201, 202), await resp.text()
    async with session.post(url + "/api/v1/auth/token", json={"email": email, "password": password}) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["token"]


def test_an_app_process_never_loads_the_broker_library():
    """Workers only connect to a broker: importing amqtt (its own, for the embedded broker's child process)
    would cost every worker ~2.5 MB for nothing (issue 12, memory)."""
    code = ("import sys; from ecom.config import load_config; from ecom.app import create_app; "
            "create_app(load_config('config.toml'), secret=b'x' * 32); print('amqtt' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
