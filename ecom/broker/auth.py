"""amqtt authentication plugin: a client is let in only with its own derived password, for its own id.

The password of client id ``c`` is ``HMAC(secret, "mqtt:" + c)`` (see :func:`ecom.broker.client_password`),
so every process has its own credential and no password file has to be written or shared. The username
must *be* the client id: otherwise one valid credential would open any client id, including the shop's,
and with it the shop's session (issue 9, finding 3).
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass

from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session


class DerivedPasswordAuthPlugin(BaseAuthPlugin):
    @dataclass
    class Config:
        secret: str = ""  # hex of the shop secret

    async def authenticate(self, *, session: Session) -> bool | None:
        from ecom.broker import client_password

        if not self.config.secret or not session.username or session.password is None:
            return False
        if not session.client_id or session.username != session.client_id:
            return False
        password = session.password.decode() if isinstance(session.password, bytes) else session.password
        expected = client_password(bytes.fromhex(self.config.secret), session.client_id)
        return hmac.compare_digest(password.encode(), expected.encode())
