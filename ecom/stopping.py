"""Shutdown steps that end: every await on an app's way down is bounded by ``[server] shutdown_timeout``.

Why not ``asyncio.wait_for`` / ``asyncio.timeout``: on Python 3.11 both cancel the late awaitable and then
WAIT for it to finish unwinding. A step whose unwinding waits on a peer that stopped answering (a ROLLBACK
or UNLISTEN on a frozen PostgreSQL backend, a polite QUIT to an SMTP server that accepts and never
answers) or that swallows its cancellation keeps that wait going for as long as the peer is away: a test
teardown once hung 17 minutes in an app's shutdown. Here a late step is cancelled, given ``GRACE`` seconds
to unwind, and then left behind, never awaited again, with one log line naming it. What it held is
dropped by the next steps (a pool's connections are terminated when its polite close is late).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Iterable, TypeVar

log = logging.getLogger("ecom.shutdown")
T = TypeVar("T")
GRACE = 1.0  # seconds a cancelled step gets to unwind before it is left behind


class Late(Exception):
    """A bounded step did not finish in time (it was cancelled, or left running if that did not end it)."""


def stop_if_cancelled() -> None:
    """Raise CancelledError if the current task was asked to stop. Call it in a background loop right
    after catching an error and before its next wait. Why: a library can turn the cancellation into an
    ordinary error on its way out (aiomqtt's exit raises MqttError when the broker does not acknowledge
    the DISCONNECT within its timeout; a ROLLBACK on a frozen database raises TimeoutError instead), and a
    loop that catches that error to retry would then never end: the shutdown that awaits it hangs."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def within(step: Awaitable[T], seconds: float, who: str, job: str = "its shutdown") -> T:
    """The result of ``step`` if it ends within ``seconds``; else one error line
    ("<who> did not finish <job> within N s ...") and :class:`Late`. Its own exceptions go up as they are.
    If the caller is cancelled meanwhile, ``step`` is cancelled too (not waited for)."""
    task = asyncio.ensure_future(step)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if done:
        return task.result()
    ended = await _cancel(task)
    log.error("%s did not finish %s within %g s ([server] shutdown_timeout); going on without it%s",
              who, job, seconds, "" if ended else " (it did not end when cancelled: left running)")
    raise Late(f"{who}: {job}")


async def cancel_all(tasks: Iterable[asyncio.Task], seconds: float, who: str) -> None:
    """Cancel ``tasks`` and wait at most ``seconds`` for them to end; the ones still running then are
    named in one error line and left behind."""
    tasks = [t for t in tasks if not t.done()]
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in tasks:
        if task.done():
            _consume(task)
    if pending:
        for task in pending:
            task.add_done_callback(_consume)
        names = ", ".join(sorted(t.get_name() for t in pending))
        log.error("%s: %d task(s) did not end within %g s of being cancelled ([server] shutdown_timeout); "
                  "left running: %s", who, len(pending), seconds, names)


async def _cancel(task: asyncio.Task) -> bool:
    """Cancel ``task``, wait ``GRACE`` seconds at most; True if it ended."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=GRACE)
    if done:
        _consume(task)
        return True
    task.add_done_callback(_consume)
    return False


def _consume(task: asyncio.Task) -> None:
    """Read a finished task's outcome, so that asyncio does not log 'exception was never retrieved'."""
    if not task.cancelled():
        task.exception()
