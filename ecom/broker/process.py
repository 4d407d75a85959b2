"""BrokerProcess: the hardened broker as a child process, started, watched, restarted and stopped.

Why a process of its own: every socket held open against the broker (a CONNECT that never comes, a cap
that is reached) costs a file descriptor of the process hosting it. In the web process those run out and
the shop stops answering (issue 9, finding 6); in a child they run out in the child, and the shop's
already-open broker connection and its HTTP listener are untouched.

The child dies with its parent (PR_SET_PDEATHSIG, SIGKILL: it holds no state worth a clean exit), gets the
secret through a pipe on stdin (never argv), and says ``ready`` on stdout once it listens. ``watch()``
restarts it with back-off if it dies. Tests use ``kill(signal.SIGKILL)`` / ``kill(signal.SIGSTOP)`` to
inject broker faults.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..aio import wait_event
from ..embedded import die_with_parent
from .limits import Limits

log = logging.getLogger("ecom.broker")
ROOT = Path(__file__).resolve().parent.parent.parent
MAX_BACKOFF = 30.0


class BrokerStartError(RuntimeError):
    pass


class BrokerProcess:
    def __init__(self, host: str, port: int, secret: bytes, limits: Limits | None = None, *,
                 ready_timeout: float = 15.0, log_level: str = "info", env: dict[str, str] | None = None):
        if not secret:
            raise ValueError("the broker needs the shop secret")
        self.host, self.port, self._secret = host, port, secret
        self.limits = limits or Limits()
        self.ready_timeout, self.log_level, self.env = ready_timeout, log_level, env
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self._buffer = b""
        self._stopping = False
        self._started_at = 0.0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _args(self) -> list[str]:
        lim = self.limits
        return [sys.executable, "-m", "ecom.broker", "--host", self.host, "--port", str(self.port),
                "--max-connections", str(lim.max_connections), "--connect-timeout", str(lim.connect_timeout),
                "--max-payload-bytes", str(lim.max_payload_bytes),
                "--session-expiry-seconds", str(lim.session_expiry_seconds), "--log-level", self.log_level]

    def _spawn(self) -> None:
        """Start the child (from the calling thread: the parent-death signal follows the spawning thread)."""
        self._stopping, self._buffer = False, b""
        self.proc = subprocess.Popen(self._args(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=str(ROOT),
                                     env=self.env, preexec_fn=lambda: die_with_parent(signal.SIGKILL))
        try:
            self.proc.stdin.write(self._secret.hex().encode() + b"\n")
            self.proc.stdin.close()
        except BrokenPipeError:
            pass  # it died at once; _poll_ready reports its status
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._started_at = time.monotonic()

    def _poll_ready(self) -> bool:
        """True once the child said ready; raises BrokerStartError if it exited first."""
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
            raise BrokerStartError(f"the MQTT broker on {self.host}:{self.port} exited with status {code}")
        return False

    def _timed_out(self) -> None:
        self.kill()
        self.proc.wait()
        raise BrokerStartError(f"the MQTT broker on {self.host}:{self.port} was not ready "
                               f"within {self.ready_timeout:g} s")

    def start(self) -> None:
        """Spawn and block until it listens (for tests and synchronous callers)."""
        self._spawn()
        deadline = time.monotonic() + self.ready_timeout
        while not self._poll_ready():
            if time.monotonic() > deadline:
                self._timed_out()
            time.sleep(0.02)
        log.info("MQTT broker process %s listening on %s:%s", self.pid, self.host, self.port)

    async def astart(self) -> None:
        """Spawn and wait (without blocking the loop) until it listens."""
        self._spawn()
        deadline = time.monotonic() + self.ready_timeout
        while not self._poll_ready():
            if time.monotonic() > deadline:
                self._timed_out()
            await asyncio.sleep(0.02)
        log.info("MQTT broker process %s listening on %s:%s", self.pid, self.host, self.port)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (SIGKILL by default; SIGSTOP/SIGCONT to freeze it) without waiting."""
        if self.running:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, SIGKILL if needed. watch() does not restart a broker stopped on purpose."""
        self._stopping = True
        if not self.running:
            return
        self.proc.send_signal(signal.SIGCONT)  # a frozen broker cannot handle SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    async def watch(self, stopping: asyncio.Event) -> None:
        """Restart the broker whenever it dies unexpectedly, with back-off (1 s doubling to 30 s)."""
        backoff = 1.0
        while not stopping.is_set() and not self._stopping:
            if self.running:
                await wait_event(stopping, 0.2)
                continue
            if time.monotonic() - self._started_at > 60:
                backoff = 1.0  # it ran fine for a while: a fresh failure
            log.warning("MQTT broker process %s exited with status %s; restarting in %.0f s",
                        self.pid, self.proc.returncode if self.proc else None, backoff)
            if await wait_event(stopping, backoff) or self._stopping:
                return
            backoff = min(backoff * 2, MAX_BACKOFF)
            try:
                await self.astart()
                self.restarts += 1
            except BrokerStartError as err:
                log.error("%s", err)
