"""amqtt's Broker with a gate in front of its session handling: a refused CONNECT changes nothing.

amqtt 0.12.1 ``Broker._initialize_client_session`` merges a new CONNECT into the stored session of the
same client id (copying its will, or deleting the session on ``clean_session=1``) *before*
``_handle_client_session`` checks the password, and then takes the live connection over. So a CONNECT with
a wrong password could forge a will on a payment topic or wipe the shop's subscriptions (issue 9,
findings 1 and 2). Rather than fork amqtt, :class:`HardenedBroker` overrides that one method: it reads the
raw CONNECT itself (within ``connect_timeout``, at most ``max_packet_bytes``), parses a private copy,
checks sizes, the credential and the will topic's ACL, and only then hands the same bytes to amqtt's own
method. A refused client gets its CONNACK and a closed socket; no broker structure ever saw it.

``stream_connected`` adds the connection cap (an over-cap socket is closed at once instead of waiting on
amqtt's semaphore while holding its descriptor) and a reader that refuses packets over
``max_packet_bytes`` before reading their body.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from amqtt.adapters import BufferReader, ReaderAdapter, StreamReaderAdapter, StreamWriterAdapter, WriterAdapter
from amqtt.broker import Broker
from amqtt.codecs_amqtt import read_or_raise
from amqtt.contexts import Action
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt.connack import BAD_USERNAME_PASSWORD, IDENTIFIER_REJECTED, NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.connect import ConnectPacket
from amqtt.session import Session

from .limits import MAX_CLIENT_ID_BYTES, MAX_TOPIC_BYTES, Limits

log = logging.getLogger("ecom.broker")
CONNECT_TYPE = 1


class Refused(AMQTTError):
    """A connection turned away before it touched broker state (amqtt's _client_connected catches it)."""


class PacketTooLarge(Exception):
    """Not an MQTTError on purpose: amqtt's reader loop discards those and reads on; this ends the loop."""


class BoundedReader(ReaderAdapter):
    """Follows MQTT framing and refuses a packet whose declared length is over the limit before its body.

    amqtt reads a fixed header one byte at a time, then the body in exact field reads, so the state is
    simple: either inside a body (``_left`` bytes to go) or reading a header (``_length`` digits so far).
    """

    def __init__(self, inner: ReaderAdapter, max_packet: int):
        self.inner, self.max_packet = inner, max_packet
        self._left = 0
        self._header: list[int] | None = None  # remaining-length bytes while a fixed header is read

    async def read(self, n: int = -1) -> bytes:
        data = await self.inner.read(n)
        if self._left > 0:
            self._left = max(0, self._left - len(data))
            return data
        if self._header is None:  # the first byte of a fixed header (packet type and flags)
            self._header = [] if data else None
            return data
        self._header.extend(data)
        if self._header and not self._header[-1] & 0x80:
            length = sum((b & 0x7F) << (7 * i) for i, b in enumerate(self._header))
            self._header = None
            if length > self.max_packet:
                raise PacketTooLarge(f"packet of {length} bytes (limit {self.max_packet})")
            self._left = length
        return data

    def feed_eof(self) -> None:
        self.inner.feed_eof()


class _Throttled:
    """One log line per interval for refusals, with a count: an attacker cannot flood the log."""

    def __init__(self, interval: float = 10.0):
        self.interval, self.count, self.last = interval, 0, 0.0

    def note(self, peer: Any, reason: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= self.interval:
            log.warning("MQTT: refused %d connection(s) since the last report (latest from %s: %s)",
                        self.count, peer, reason)
            self.count, self.last = 0, now


class HardenedBroker(Broker):
    def __init__(self, config: dict[str, Any], limits: Limits, **kwargs: Any):
        super().__init__(config, **kwargs)
        self.limits = limits
        self.cap = limits.connection_cap()
        self.open_connections = 0
        self.refusals = _Throttled()

    async def stream_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                               listener_name: str) -> None:
        if self.open_connections >= self.cap:
            writer.transport.abort()  # frees the descriptor now; a queued socket would hold it
            self.refusals.note(writer.get_extra_info("peername"), f"over the cap of {self.cap} connections")
            return
        self.open_connections += 1
        try:
            await self._client_connected(listener_name,
                                         BoundedReader(StreamReaderAdapter(reader), self.limits.max_packet_bytes),
                                         StreamWriterAdapter(writer))
        finally:
            self.open_connections -= 1
            if not writer.transport.is_closing():
                writer.transport.abort()

    async def _initialize_client_session(self, reader: ReaderAdapter, writer: WriterAdapter,
                                         remote_address: str, remote_port: int):
        peer = f"{remote_address}:{remote_port}"
        try:
            async with asyncio.timeout(self.limits.connect_timeout):
                raw = await self._read_connect(reader)
                code, reason = await self._refusal(raw)
                if code is not None:
                    await ConnackPacket.build(0, code).to_stream(writer)
        except TimeoutError:
            code, reason = -1, f"no CONNECT within {self.limits.connect_timeout:g} s"
        except (NoDataError, MQTTError, PacketTooLarge, ValueError, OSError) as err:
            code, reason = -1, f"bad CONNECT: {err}"
        if code is not None:
            self.refusals.note(peer, reason)
            await _close(writer)
            raise Refused(reason)
        return await super()._initialize_client_session(BufferReader(raw), writer, remote_address, remote_port)

    async def _read_connect(self, reader: ReaderAdapter) -> bytes:
        """The whole CONNECT packet, refusing anything else or anything over max_packet_bytes."""
        raw = bytearray(await read_or_raise(reader, 1))
        if raw[0] >> 4 != CONNECT_TYPE:
            raise MQTTError("the first packet is not a CONNECT")
        length = 0
        for shift in range(0, 28, 7):
            byte = (await read_or_raise(reader, 1))[0]
            raw.append(byte)
            length += (byte & 0x7F) << shift
            if not byte & 0x80:
                break
        else:
            raise MQTTError("malformed remaining length")
        if length > self.limits.max_packet_bytes:
            raise PacketTooLarge(f"CONNECT of {length} bytes")
        raw += await read_or_raise(reader, length) if length else b""
        return bytes(raw)

    async def _refusal(self, raw: bytes) -> tuple[int | None, str]:
        """(CONNACK code, reason) if this CONNECT must be refused, else (None, "")."""
        connect = await ConnectPacket.from_stream(BufferReader(raw))
        if connect.variable_header is None or connect.payload is None:
            return NOT_AUTHORIZED, "malformed CONNECT"
        client_id = connect.payload.client_id or ""
        if len(client_id.encode()) > MAX_CLIENT_ID_BYTES or connect.payload.client_id_is_random:
            return IDENTIFIER_REJECTED, "client id empty or longer than 128 bytes"
        session = Session()
        session.client_id, session.username, session.password = client_id, connect.username, connect.password
        if not connect.username_flag or not connect.password_flag:
            return BAD_USERNAME_PASSWORD, "no credentials"
        if not await self._authenticate(session, None):
            return NOT_AUTHORIZED, "bad credentials"
        if connect.will_flag:
            topic, message = connect.payload.will_topic or "", connect.payload.will_message or b""
            if len(topic.encode()) > MAX_TOPIC_BYTES or len(message) > self.limits.max_payload_bytes:
                return NOT_AUTHORIZED, "will over the size limit"
            if not topic or "#" in topic or "+" in topic or \
                    not await self._topic_filtering(session, topic, Action.PUBLISH):
                return NOT_AUTHORIZED, f"will on a topic this client may not publish: {topic[:80]!r}"
        return None, ""

    async def _handle_message_delivery(self, client_session, handler, wait_deliver) -> bool:
        """Drop (and disconnect) a PUBLISH over max_payload_bytes that slipped under the packet limit."""
        message = wait_deliver.result()
        if message is not None and len(message.data or b"") > self.limits.max_payload_bytes:
            self.refusals.note(client_session.client_id, "publish over the payload limit")
            return False
        return await super()._handle_message_delivery(client_session, handler, wait_deliver)


async def _close(writer: WriterAdapter) -> None:
    try:
        async with asyncio.timeout(2):
            await writer.close()
    except (TimeoutError, OSError):
        pass


def broker_config(host: str, port: int, secret: bytes, limits: Limits) -> dict[str, Any]:
    """amqtt's configuration: our auth and ACL plugins only (no $SYS, no anonymous), our own cap."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": -1}},
        "session_expiry_interval": limits.session_expiry_seconds,
        "plugins": {
            "ecom.broker.auth.DerivedPasswordAuthPlugin": {"secret": secret.hex()},
            "ecom.broker.acl.TopicAclPlugin": {},
        },
    }

