"""The envelope every event travels in: ``{"id", "type", "version", "occurred_at", "data"}``.

On the wire (not in the outbox) the relay adds ``producer``, ``signed_at`` and ``sig`` (see signing).
``producer`` is kept on the parsed envelope so handlers and dead letters can tell who sent it.

``traceparent`` (optional, W3C trace context) is added only while tracing is on (ecom.tracing): the
emitting span's context, so the consumer's spans join the producer's trace. It is one more field under
the signature, like any other; an envelope without it (tracing off, an older producer) is read as before.
"""
from __future__ import annotations

import contextvars
import dataclasses
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from .. import tracing
from .registry import EventError

E = TypeVar("E")
current_envelope: contextvars.ContextVar["Envelope | None"] = contextvars.ContextVar("current_envelope", default=None)


@dataclass(frozen=True)
class Envelope:
    id: uuid.UUID
    type: str
    version: int
    occurred_at: datetime
    data: dict[str, Any]
    producer: str | None = None  # set from a verified signature, or from the outbox it was read from
    traceparent: str | None = None  # W3C trace context of the span that emitted it (tracing on only)

    @classmethod
    def wrap(cls, obj: Any) -> "Envelope":
        topic = getattr(type(obj), "TOPIC", None)
        if topic is None:
            raise EventError(f"{type(obj).__name__} is not declared with @event(topic)")
        data = dataclasses.asdict(obj)
        return cls(uuid.uuid4(), topic, type(obj).VERSION, datetime.now(timezone.utc), data,
                   traceparent=tracing.carry(data) if tracing.on else None)

    def to_json(self) -> str:
        """The unsigned form, as stored in the outbox."""
        fields = {"id": str(self.id), "type": self.type, "version": self.version,
                  "occurred_at": self.occurred_at.isoformat(), "data": self.data}
        if self.traceparent:
            fields["traceparent"] = self.traceparent
        return json.dumps(fields, default=str)

    @classmethod
    def from_fields(cls, raw: Any, producer: str | None = None) -> "Envelope":
        try:
            if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
                raise TypeError("an envelope is a JSON object whose data is an object")
            traceparent = raw.get("traceparent")
            return cls(uuid.UUID(raw["id"]), str(raw["type"]), int(raw["version"]),
                       datetime.fromisoformat(raw["occurred_at"]), raw["data"], producer,
                       traceparent if isinstance(traceparent, str) and len(traceparent) <= 128 else None)
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise EventError(f"malformed event envelope: {err}") from None

    @classmethod
    def from_json(cls, payload: bytes | str, producer: str | None = None) -> "Envelope":
        try:
            raw = json.loads(payload)
        except (ValueError, TypeError) as err:
            raise EventError(f"malformed event envelope: {err}") from None
        return cls.from_fields(raw, producer)

    def payload_as(self, cls: type[E]) -> E:
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in self.data.items() if k in names})  # unknown keys: newer producer
        except TypeError as err:
            raise EventError(f"{self.type}: payload does not fit {cls.__name__}: {err}") from None
