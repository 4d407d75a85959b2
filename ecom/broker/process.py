"""BrokerProcess: the hardened broker as a child process, started, watched, restarted and stopped
(ecom/childproc.py does the process work).

Why a process of its own: every socket held open against the broker (a CONNECT that never comes, a cap
that is reached) costs a file descriptor of the process hosting it. In the web process those run out and
the shop stops answering (issue 9, finding 6); in a child they run out in the child, and the shop's
already-open broker connection and its HTTP listener are untouched.

The secret reaches the child through a pipe on stdin (never argv). Tests use ``kill(signal.SIGKILL)`` /
``kill(signal.SIGSTOP)`` to inject broker faults.
"""
from __future__ import annotations

import logging
import sys

from ..childproc import ChildProcess, ChildStartError
from .limits import Limits


class BrokerStartError(ChildStartError):
    pass


class BrokerProcess(ChildProcess):
    what = "MQTT broker"
    log = logging.getLogger("ecom.broker")

    def __init__(self, host: str, port: int, secret: bytes, limits: Limits | None = None, *,
                 ready_timeout: float = 15.0, log_level: str = "info", env: dict[str, str] | None = None):
        if not secret:
            raise ValueError("the broker needs the shop secret")
        super().__init__(host, port, ready_timeout=ready_timeout, env=env)
        self._secret = secret
        self.limits = limits or Limits()
        self.log_level = log_level

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def command(self) -> list[str]:
        lim = self.limits
        return [sys.executable, "-m", "ecom.broker", "--host", self.host, "--port", str(self.port),
                "--max-connections", str(lim.max_connections), "--connect-timeout", str(lim.connect_timeout),
                "--max-payload-bytes", str(lim.max_payload_bytes),
                "--session-expiry-seconds", str(lim.session_expiry_seconds), "--log-level", self.log_level]

    def stdin_line(self) -> bytes:
        return self._secret.hex().encode()

    def start_error(self, message: str) -> BrokerStartError:
        return BrokerStartError(message)
