"""Events the inventory plugin publishes (a public API: change a payload only with a version bump)."""
from __future__ import annotations

from dataclasses import dataclass

from ecom.events import event


@event("ecom/inventory/import_queued")
@dataclass(frozen=True)
class ImportQueued:
    """A seller's stock CSV was accepted: the job and its good lines are stored and wait to be applied.

    Topic ``ecom/inventory/import_queued``, version 1, data ``{"import_id": 42}``. Emitted (outbox) in
    the transaction that stores the job. The inventory plugin itself consumes it (inbox) to wake an
    import processor in one of its workers; workers also poll, so a lost message only delays a job.
    """
    import_id: int
