"""The embedded MQTT broker (amqtt) and the credentials of its clients."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

log = logging.getLogger("ecom.broker")


def client_password(secret: bytes, client_id: str) -> str:
    """Each MQTT client gets its own password, derived from the shop's secret and its client id."""
    return hmac.new(secret, b"mqtt:" + client_id.encode(), hashlib.sha256).hexdigest()


class EmbeddedBroker:
    """An amqtt broker on loopback: authentication on, anonymous clients refused."""

    def __init__(self, host: str, port: int, secret: bytes):
        self.host, self.port, self.secret = host, port, secret
        self._broker = None

    @property
    def running(self) -> bool:
        return self._broker is not None

    async def start(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 0}},
            "plugins": {
                "ecom.broker.auth.DerivedPasswordAuthPlugin": {"secret": self.secret.hex()},
            },
        }
        self._broker = Broker(config, loop=asyncio.get_running_loop())
        await self._broker.start()
        log.info("MQTT broker listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()
