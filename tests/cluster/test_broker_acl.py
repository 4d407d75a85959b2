"""What the Mosquitto of tests/cluster promises (parts.Mosquitto: no anonymous clients, a password per
worker, each worker user under ``ecom/#`` only), probed from outside on the real broker the workers use.

docs/operations.md tells operators to set these; a typo in an ACL line or a forgotten
``allow_anonymous false`` would leave the shop working and the broker open, which no checkout notices.

"Refused" is shown by what arrives, because nothing else tells: MQTT 3.1.1 drops a refused PUBLISH
without a word (the publisher gets its PUBACK all the same), and Mosquitto 2.0's acl_file answers every
SUBSCRIBE with the QoS granted (its security_default.c: "FIXME - implement ACL subscription strings"),
then withholds each message the user may not read. So a worker subscribed to everything must receive
only ecom/ topics, and the prober (reads everything) must not receive what a worker published outside
ecom/, while the message the same worker published right after it, inside ecom/, comes. A few seconds."""
from __future__ import annotations

import asyncio
import time
import uuid

import aiomqtt
import pytest

QUIET = 2.0       # how long a message that must NOT come is waited for, after one sent after it came
DEADLINE = 20.0   # for anything that must come (a busy machine)
REFUSED_CONNACK = {4, 5, 134, 135}   # bad user name or password / not authorized (3.1.1 codes, paho's 5.0 names)


def _client(shop, username: str | None, password: str | None) -> aiomqtt.Client:
    return aiomqtt.Client(shop.net.gateway, shop.broker.port, identifier=f"acl-probe-{uuid.uuid4().hex[:8]}",
                          username=username, password=password, timeout=DEADLINE)


def _codes(granted) -> list[int]:
    return [getattr(code, "value", code) for code in granted]


async def _next(client: aiomqtt.Client, timeout: float) -> aiomqtt.Message | None:
    try:
        async with asyncio.timeout(timeout):
            return await anext(client.messages)
    except TimeoutError:
        return None


async def _topics_until(client: aiomqtt.Client, control: str) -> list[str]:
    """Topics received until ``control`` arrives (it must, within DEADLINE) and for QUIET seconds after it
    (a fixed window: a client subscribed to ``#`` also gets the shop's own heartbeats, which never stop)."""
    seen: list[str] = []
    async with asyncio.timeout(DEADLINE):
        while control not in seen:
            seen.append(str((await anext(client.messages)).topic))
    until = time.monotonic() + QUIET
    while (message := await _next(client, until - time.monotonic())) is not None:
        seen.append(str(message.topic))
    return seen


@pytest.mark.timeout(120)
async def test_mosquitto_refuses_anonymous_clients_and_wrong_passwords(shop):
    worker, password = next(iter(shop.broker.users.items()))
    for username, secret in ((None, None), (worker, password[::-1] + "x"), ("nobody", password)):
        with pytest.raises(aiomqtt.MqttCodeError) as refused:   # a CONNACK refusal, not a network error
            async with _client(shop, username, secret):
                pass
        assert getattr(refused.value.rc, "value", refused.value.rc) in REFUSED_CONNACK, (username, refused.value)
    async with _client(shop, worker, password):   # the control: the same user with its password gets in
        pass


@pytest.mark.timeout(120)
async def test_a_worker_user_publishes_and_reads_under_ecom_only(shop):
    run, broker = uuid.uuid4().hex[:10], shop.broker
    control = f"ecom/acl-probe/{run}"                      # no worker subscribes to it
    from_worker = f"{broker.PROBE_TOPICS}/{run}/from-worker"
    from_prober = f"{broker.PROBE_TOPICS}/{run}/from-prober"
    (publisher, publisher_password), (reader, reader_password) = list(broker.users.items())[:2]
    async with _client(shop, broker.PROBER, broker.prober_password) as prober, \
            _client(shop, reader, reader_password) as worker_in, \
            _client(shop, publisher, publisher_password) as worker_out:
        for topic in (control, f"{broker.PROBE_TOPICS}/{run}/#"):
            assert _codes(await prober.subscribe(topic, qos=1)) == [1]
        assert _codes(await worker_in.subscribe(control, qos=1)) == [1], "a worker user may subscribe under ecom/"
        for pattern in ("#", "$SYS/#", from_prober):
            # granted by Mosquitto 2.0 (filtered at delivery), or refused with 0x80 by a broker that checks
            assert _codes(await worker_in.subscribe(pattern, qos=1)) in ([1], [0x80]), pattern

        await prober.publish(from_prober, b"not for workers", qos=1)
        await worker_out.publish(from_worker, b"must go nowhere", qos=1)   # acknowledged, then dropped
        await worker_out.publish(control, b"control", qos=1)                # sent after it, allowed

        seen_by_prober, seen_by_worker = await asyncio.gather(_topics_until(prober, control),
                                                              _topics_until(worker_in, control))
    assert from_worker not in seen_by_prober, f"{publisher} published outside ecom/ and the broker passed it on"
    assert set(seen_by_prober) == {from_prober, control}, seen_by_prober   # the prober does read acl-probe/
    outside = [topic for topic in seen_by_worker if not topic.startswith("ecom/")]
    assert not outside, f"{reader}, subscribed to everything, received topics outside ecom/: {outside}"
    assert control in seen_by_worker
