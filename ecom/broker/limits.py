"""The broker's resource limits, in one frozen value shared by the in-process broker and the child process.

Why limits at all: the broker port is reachable by anyone on the host before they authenticate, so every
resource a connection can take before its CONNECT is refused (a file descriptor, memory for a huge client
id or will, a slot in the session table) must be bounded, or an attacker takes the shop down without a
password (issue 9, finding 6).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..fdlimit import fit_connections

MAX_CLIENT_ID_BYTES = 128   # MQTT requires servers to accept 23; ours are "ecom-app-" + 16 hex
MAX_TOPIC_BYTES = 1024      # our topics are ~30 bytes; a longer will topic is refused
FD_RESERVE = 48             # descriptors kept free for the listener, logs and the broker's own needs


@dataclass(frozen=True)
class Limits:
    max_connections: int = 1000        # concurrent sockets; one more is closed at once, never queued
    connect_timeout: float = 10.0      # seconds from accept to a complete CONNECT packet
    max_payload_bytes: int = 256 * 1024  # any PUBLISH payload and any will payload
    session_expiry_seconds: int = 600  # a disconnected persistent session (random ids: ghosts) is dropped

    @property
    def max_packet_bytes(self) -> int:
        """The largest packet read at all (its declared length is checked before the body is read).

        Room for a payload of max_payload_bytes plus a topic of MAX_TOPIC_BYTES, or a CONNECT with a will
        of that size, a client id and username of MAX_CLIENT_ID_BYTES and a password.
        """
        return self.max_payload_bytes + 2048

    def connection_cap(self) -> int:
        """max_connections, lowered to what this process's file limit can really hold."""
        return fit_connections(self.max_connections, FD_RESERVE, "broker.max_connections")

    @classmethod
    def from_config(cls, broker_config) -> "Limits":
        """From ``[broker]`` of config.toml (ecom.config.BrokerConfig)."""
        return cls(max_connections=broker_config.max_connections, connect_timeout=broker_config.connect_timeout,
                   max_payload_bytes=broker_config.max_payload_bytes,
                   session_expiry_seconds=broker_config.session_expiry_seconds)
