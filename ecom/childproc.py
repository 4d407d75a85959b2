"""ChildProcess: a helper server the shop runs as a child process (the embedded broker, the mail sink),
started, watched, restarted with back-off and stopped the same way.

The child dies with its parent (PR_SET_PDEATHSIG, SIGKILL: it holds no state worth a clean exit), may get
one secret line on stdin (never argv), and prints ``ready`` on stdout once it listens. ``watch()``
restarts it with back-off (ecom.restarts: 1 s doubling to 30 s; a child that ran a minute starts again
from 1 s) when it dies unexpectedly, never one stopped on purpose, and gives up after too many deaths.
Subclasses give the command and the name.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from .aio import wait_event
from .embedded import die_with_parent
from .restarts import GiveUp, RestartBudget

ROOT = Path(__file__).resolve().parent.parent


class ChildStartError(RuntimeError):
    """The child exited, or did not say ready in time; the message is one line naming it."""


class ChildProcess:
    what = "child process"        # how log lines and errors name it
    log = logging.getLogger("ecom")

    def __init__(self, host: str, port: int, *, ready_timeout: float = 15.0, env: dict[str, str] | None = None):
        self.host, self.port, self.ready_timeout, self.env = host, port, ready_timeout, env
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self._buffer = b""
        self._stopping = False
        self._started_at = 0.0

    # --- what a subclass says ---
    def command(self) -> list[str]:
        raise NotImplementedError

    def stdin_line(self) -> bytes | None:
        """One line written to the child's stdin at start (a secret), or None."""
        return None

    # --- state ---
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # --- starting ---
    def _spawn(self) -> None:
        """Start the child (from the calling thread: the parent-death signal follows the spawning thread)."""
        self._stopping, self._buffer = False, b""
        line = self.stdin_line()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.PIPE if line else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, cwd=str(ROOT), env=self.env,
                                     preexec_fn=lambda: die_with_parent(signal.SIGKILL))
        if line:
            try:
                self.proc.stdin.write(line + b"\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass  # it died at once; _poll_ready reports its status
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._started_at = time.monotonic()

    def _poll_ready(self) -> bool:
        """True once the child said ready; ChildStartError if it exited first."""
        try:
            chunk = self.proc.stdout.read()
        except (BlockingIOError, ValueError):
            chunk = None
        if chunk:
            self._buffer += chunk
        if b"ready" in self._buffer:
            self.proc.stdout.close()
            return True
        code = self.proc.poll()
        if code is not None:
            self.proc.stdout.close()
            raise self.start_error(f"the {self.what} on {self.host}:{self.port} exited with status {code}")
        return False

    def start_error(self, message: str) -> ChildStartError:
        return ChildStartError(message)

    def _timed_out(self) -> None:
        self.kill()
        self.proc.wait()
        raise self.start_error(f"the {self.what} on {self.host}:{self.port} was not ready "
                               f"within {self.ready_timeout:g} s")

    def start(self) -> None:
        """Spawn and block until it listens (for tests and synchronous callers)."""
        self._spawn()
        deadline = time.monotonic() + self.ready_timeout
        while not self._poll_ready():
            if time.monotonic() > deadline:
                self._timed_out()
            time.sleep(0.02)
        self.log.info("%s %s listening on %s:%s", self.what, self.pid, self.host, self.port)

    async def astart(self) -> None:
        """Spawn and wait (without blocking the loop) until it listens."""
        self._spawn()
        deadline = time.monotonic() + self.ready_timeout
        while not self._poll_ready():
            if time.monotonic() > deadline:
                self._timed_out()
            await asyncio.sleep(0.02)
        self.log.info("%s %s listening on %s:%s", self.what, self.pid, self.host, self.port)

    # --- stopping and faults ---
    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (SIGKILL by default; SIGSTOP/SIGCONT to freeze it) without waiting."""
        if self.running:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, SIGKILL if needed. watch() does not restart a child stopped on purpose."""
        self._stopping = True
        if not self.running:
            return
        self.proc.send_signal(signal.SIGCONT)  # a frozen child cannot handle SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    async def watch(self, stopping: asyncio.Event) -> str | None:
        """Restart the child whenever it dies unexpectedly, with back-off, also when a restart fails to
        start (a busy machine, a port still held a moment); returns None when stopped, or the one line
        saying why it gave up (ecom.restarts: too many deaths in a window) for the owner to exit on."""
        budget = RestartBudget(f"the {self.what} on {self.host}:{self.port}")
        budget.started_at = self._started_at
        while not stopping.is_set() and not self._stopping:
            if self.running:
                await wait_event(stopping, 0.2)
                continue
            try:
                delay = budget.next_delay()
            except GiveUp as err:
                self.log.error("%s", err)
                return str(err)
            self.log.warning("%s %s exited with status %s; restarting in %.0f s", self.what, self.pid,
                             self.proc.returncode if self.proc else None, delay)
            if await wait_event(stopping, delay) or self._stopping:
                return None
            try:
                await self.astart()
                self.restarts += 1
                budget.started()
            except ChildStartError as err:
                self.log.error("%s", err)  # counted as another death: the next turn backs off or gives up
        return None
