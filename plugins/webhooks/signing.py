"""Standard Webhooks signatures (https://www.standardwebhooks.com/), both ways, and secrets at rest.

A secret is ``whsec_`` + base64 of 32 random bytes; the HMAC key is those bytes. A message is signed as
``v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>`` in ``webhook-signature``;
``webhook-timestamp`` is integer Unix seconds. A receiver refuses a timestamp more than ``TOLERANCE``
seconds from its clock (replays). Secrets are kept encrypted (Fernet, key derived from the shop secret):
a copy of the database alone signs nothing.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "whsec_"
TOLERANCE = 300  # seconds, as the spec recommends


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def key_of(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key_of(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str, msg_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body), "Content-Type": "application/json"}


def verify(secret: str, msg_id: str, timestamp: str, signature: str, body: bytes, now: float | None = None) -> bool:
    """True when one of the space-separated ``v1,`` signatures matches and the timestamp is fresh."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if not msg_id or abs((time.time() if now is None else now) - stamp) > TOLERANCE:
        return False
    expected = sign(secret, msg_id, stamp, body)
    return any(hmac.compare_digest(expected, part) for part in signature.split())


class Vault:
    """Encrypts secrets for the database and opens them for signing."""

    def __init__(self, key: bytes):
        self.fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, secret: str) -> str:
        return self.fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str | None:
        try:
            return self.fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:  # the shop secret changed: this endpoint needs a new secret
            return None
