"""Signed envelopes: the broker is not trusted, so a consumer believes only what the topic's owner signed.

The relay signs each envelope as it publishes it (never in the outbox: catch-up reads the producer's
database directly and needs no signature). The key is derived from the shop secret and the producing
plugin's name, ``HMAC(secret, "event-key:" + plugin)``, so a broker credential, or the key of another
plugin, cannot produce a payment result. ``sig`` is HMAC-SHA256 over the canonical JSON (sorted keys,
no spaces) of every other field, ``producer`` and ``signed_at`` included. ``signed_at`` bounds replays
of a captured message to :data:`REPLAY_WINDOW` (within it, the consumer's inbox dedupes by event id).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

REPLAY_WINDOW = timedelta(minutes=10)

# reasons (also the metric's label values: a fixed, small set)
MALFORMED, UNSIGNED, BAD_SIGNATURE, EXPIRED, WRONG_PRODUCER = (
    "malformed", "unsigned", "bad signature", "outside replay window", "producer does not own the topic")


class Untrusted(Exception):
    """A message that must never be applied; ``reason`` is one of the constants above."""

    def __init__(self, reason: str, detail: str = "", fields: dict | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.fields = reason, fields or {}


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Signer:
    """Signs for and verifies every plugin of one shop (keys derived once per plugin name)."""

    def __init__(self, secret: bytes, window: timedelta = REPLAY_WINDOW):
        self.secret, self.window = secret, window
        self._keys: dict[str, bytes] = {}

    def key(self, plugin: str) -> bytes:
        key = self._keys.get(plugin)
        if key is None:
            key = self._keys[plugin] = hmac.new(self.secret, b"event-key:" + plugin.encode(), hashlib.sha256).digest()
        return key

    def sign(self, plugin: str, payload: str, now: datetime | None = None) -> str:
        """The wire form of an outbox payload (unsigned envelope JSON), signed as ``plugin``."""
        fields = json.loads(payload)
        fields.pop("sig", None)
        fields["producer"] = plugin
        fields["signed_at"] = (now or datetime.now(timezone.utc)).isoformat()
        fields["sig"] = hmac.new(self.key(plugin), canonical(fields), hashlib.sha256).hexdigest()
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)

    def verify(self, payload: bytes | str, owner: str, now: datetime | None = None) -> dict[str, Any]:
        """The envelope's fields if ``payload`` was signed by ``owner`` within the window; else Untrusted."""
        try:
            fields = json.loads(payload)
        except (ValueError, TypeError) as err:
            raise Untrusted(MALFORMED, f"not JSON ({err})") from None
        if not isinstance(fields, dict):
            raise Untrusted(MALFORMED, "not a JSON object")
        sig, producer = fields.pop("sig", None), fields.get("producer")
        if not isinstance(sig, str) or not isinstance(producer, str) or not producer:
            raise Untrusted(UNSIGNED, fields=fields)
        expected = hmac.new(self.key(producer), canonical(fields), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig, expected):
            raise Untrusted(BAD_SIGNATURE, f"claims producer {producer!r}", fields)
        if producer != owner:
            raise Untrusted(WRONG_PRODUCER, f"signed by {producer!r}, owner is {owner!r}", fields)
        try:
            signed_at = datetime.fromisoformat(str(fields.get("signed_at")))
            if signed_at.tzinfo is None:
                raise ValueError("no time zone")
        except ValueError:
            raise Untrusted(MALFORMED, "bad signed_at", fields) from None
        age = (now or datetime.now(timezone.utc)) - signed_at
        if abs(age) > self.window:
            raise Untrusted(EXPIRED, f"signed {age.total_seconds():.0f} s ago", fields)
        return fields
