"""Card tokens that die: crypto-shredding with one random data key per token (issue 9, finding 4).

A token is ``<key id>.<Fernet ciphertext of the card under that token's own data key>``. The data key
lives only in the payments database (``card_keys``), wrapped (AES-256-GCM, the key id as associated
data) with a key derived from the shop secret, and is DELETED in the transaction that processes the
payment, or by the sweep once it expires. Copies of the token elsewhere (the orders outbox, an inbox,
a backup, a log) then decrypt to nothing, whatever key the shop secret can derive: the key that opened
them no longer exists anywhere.

Why wrap the data key at all: a dump of the payments database alone (without ``secret.key``) then
opens no pending token either. Pure functions, no I/O: the service reads and deletes the keys.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .cards import CardDetails

NONCE_BYTES = 12
MAX_TOKEN = 2000  # a sealed card is ~250 characters; anything much longer is not ours


class TokenInvalid(Exception):
    """The token is malformed, forged, expired, already used, or its key is gone."""


class CardVault:
    """Makes per-token data keys (wrapped by ``kek``) and seals/opens card details with them."""

    def __init__(self, kek: bytes, ttl_seconds: int):
        if len(kek) != 32:
            raise ValueError("the card key-wrapping key must be 32 bytes")
        self._wrap = AESGCM(kek)
        self.ttl_seconds = ttl_seconds

    def new_key(self) -> tuple[uuid.UUID, bytes, bytes]:
        """(key id, data key, the data key wrapped for storage in ``card_keys``)."""
        key_id, data_key = uuid.uuid4(), secrets.token_bytes(32)
        nonce = os.urandom(NONCE_BYTES)
        return key_id, data_key, nonce + self._wrap.encrypt(nonce, data_key, key_id.bytes)

    def unwrap(self, key_id: uuid.UUID, wrapped: bytes) -> bytes:
        """The data key of a ``card_keys`` row (TokenInvalid if the row was tampered with or moved)."""
        try:
            return self._wrap.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], key_id.bytes)
        except (InvalidTag, ValueError, TypeError):
            raise TokenInvalid("the card key cannot be unwrapped") from None

    @staticmethod
    def seal(card: CardDetails, key_id: uuid.UUID, data_key: bytes) -> str:
        plain = json.dumps({"n": card.number, "m": card.exp_month, "y": card.exp_year, "c": card.cvc}).encode()
        return f"{key_id}.{Fernet(base64.urlsafe_b64encode(data_key)).encrypt(plain).decode('ascii')}"

    @staticmethod
    def key_id(token: object) -> uuid.UUID | None:
        """The id of the key that opens ``token``, or None for anything that is not one of our tokens."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN or "." not in token:
            return None
        head = token.split(".", 1)[0]
        try:
            return uuid.UUID(head) if len(head) == 36 else None
        except ValueError:
            return None

    def open(self, token: str, wrapped: bytes) -> CardDetails:
        """The card inside ``token``, given its key's ``card_keys`` row (already checked to be live)."""
        key_id = self.key_id(token)
        if key_id is None:
            raise TokenInvalid("not a card token")
        data_key = self.unwrap(key_id, wrapped)
        try:
            raw = json.loads(Fernet(base64.urlsafe_b64encode(data_key)).decrypt(token.split(".", 1)[1].encode("ascii")))
            return CardDetails(str(raw["n"]), int(raw["m"]), int(raw["y"]), str(raw["c"]))
        except (InvalidToken, UnicodeError, ValueError, KeyError, TypeError, AttributeError):
            raise TokenInvalid("the card token is invalid") from None
