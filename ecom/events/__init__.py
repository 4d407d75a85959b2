"""Events over MQTT: signed envelopes, a transactional outbox, a deduplicating inbox, dead letters and
catch-up from the producers' outboxes (DESIGN §5).

Declaring an event (next to its dataclass, documented like a public API)::

    @event("ecom/payments/requested", owner="orders")
    @dataclass(frozen=True)
    class PaymentRequested: ...

Modules: ``registry`` (topics and their owners), ``envelope`` (wire format), ``signing`` (HMAC per
producing plugin), ``dispatch`` (verify, apply, retry, dead-letter), ``deadletter``, ``catchup``
(the outbox as the mailbox), ``bus`` (the MQTT connection, relays, repairs).
"""
from .bus import EventBus, PluginEvents
from .deadletter import EventRejected
from .envelope import Envelope, current_envelope
from .registry import REGISTRY, SYSTEM, EventError, event, owner_of
from .signing import REPLAY_WINDOW, Signer, Untrusted

__all__ = ["EventBus", "PluginEvents", "EventRejected", "Envelope", "current_envelope", "REGISTRY", "SYSTEM",
           "EventError", "event", "owner_of", "REPLAY_WINDOW", "Signer", "Untrusted"]
