"""How many sockets a server in this process can really hold: the file-descriptor limit.

Socket servers (the shop's listener, the embedded broker) lift the soft limit to the hard one, then keep
their connection caps below it with some descriptors in reserve. Without that a process started with a
low RLIMIT_NOFILE hits EMFILE in accept() (which asyncio answers by pausing the listener) before its
configured cap, and an attacker's idle sockets lock everyone out.
"""
from __future__ import annotations

import logging
import resource

log = logging.getLogger("ecom")


def raise_fd_limit() -> int | None:
    """Lift the soft file limit to the hard one; the soft limit now in force (None: unlimited)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return None if soft == resource.RLIM_INFINITY else soft


def fit_connections(wanted: int, reserve: int, what: str) -> int:
    """``wanted`` connections, lowered (with one warning naming ``what``) to leave ``reserve`` descriptors free."""
    soft = raise_fd_limit()
    if soft is None:
        return wanted
    cap = min(wanted, max(16, soft - reserve))  # never more than asked; 16 at least under a tiny file limit
    if cap < wanted:
        log.warning("%s lowered from %d to %d to stay under the file limit (%d)", what, wanted, cap, soft)
    return cap
