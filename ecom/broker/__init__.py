"""The embedded MQTT broker (amqtt, hardened) and the credentials of its clients.

Two ways to run it: :class:`EmbeddedBroker` in the caller's event loop (the test fixture), and
:class:`ecom.broker.process.BrokerProcess`, a child process (``python -m ecom.broker``) that the shop and
the supervisor use so that sockets held open against the broker cannot starve the web process.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets

from .limits import Limits
from .names import APP_PREFIX, TOOL_PREFIX

log = logging.getLogger("ecom.broker")


def client_password(secret: bytes, client_id: str) -> str:
    """Each MQTT client gets its own password, derived from the shop's secret and its client id."""
    return hmac.new(secret, b"mqtt:" + client_id.encode(), hashlib.sha256).hexdigest()


def new_client_id(role: str = "app") -> str:
    """A client id nobody can guess (random per process and start): ``ecom-app-…`` or ``ecom-tool-…``."""
    return (TOOL_PREFIX if role == "tool" else APP_PREFIX) + secrets.token_hex(8)


class EmbeddedBroker:
    """A hardened amqtt broker on loopback in this event loop: auth on, ACLs, limits (see hardened.py)."""

    def __init__(self, host: str, port: int, secret: bytes, limits: Limits | None = None):
        self.host, self.port, self.secret = host, port, secret
        self.limits = limits or Limits()
        self._broker = None

    @property
    def running(self) -> bool:
        return self._broker is not None

    @property
    def broker(self):
        """The amqtt broker object (tests look at its session table)."""
        return self._broker

    async def start(self) -> None:
        from .hardened import HardenedBroker, broker_config

        broker = HardenedBroker(broker_config(self.host, self.port, self.secret, self.limits), self.limits,
                                loop=asyncio.get_running_loop())
        await broker.start()
        self._broker = broker
        log.info("MQTT broker listening on %s:%s (cap %d connections)", self.host, self.port, broker.cap)

    async def stop(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()
