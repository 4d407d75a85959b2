"""SinkProcess: the embedded SMTP sink as a child process of run.py (and of the --instances supervisor).

Like the broker (ecom/broker/process.py) it lives in a child so that sockets held open against it cost
the child's file descriptors, not the web shop's; it dies with its parent (PR_SET_PDEATHSIG). Unlike the
broker the shop can run without it: a busy port is one line on stderr (the child's own) and the shop
starts anyway; the mail relay keeps the mails queued and retries them with back-off.
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
from ..config import Config
from ..embedded import die_with_parent

log = logging.getLogger("ecom.mail")
ROOT = Path(__file__).resolve().parent.parent.parent
READY_TIMEOUT = 15.0
MAX_BACKOFF = 30.0


def mail_folder(config: Config) -> Path:
    """The Maildir the embedded sink writes and /admin/mail reads."""
    return config.data_dir / "mail"


class SinkProcess:
    def __init__(self, host: str, port: int, folder: Path):
        self.host, self.port, self.folder = host, port, Path(folder)
        self.proc: subprocess.Popen | None = None
        self._stopping = False
        self._started_at = 0.0

    @classmethod
    def from_config(cls, config: Config) -> "SinkProcess":
        return cls(config.mail.embedded_host, config.mail.embedded_port, mail_folder(config))

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def astart(self) -> bool:
        """Spawn and wait until it listens; False (it said why on stderr) if it could not."""
        self._stopping = False
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ecom.mail", "--host", self.host, "--port", str(self.port),
             "--folder", str(self.folder)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, cwd=str(ROOT),
            preexec_fn=lambda: die_with_parent(signal.SIGKILL))
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._started_at = time.monotonic()
        buffer, deadline = b"", time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                buffer += self.proc.stdout.read() or b""
            except (BlockingIOError, ValueError):
                pass
            if b"ready" in buffer:
                self.proc.stdout.close()
                log.info("mail sink process %s listening on %s:%s", self.proc.pid, self.host, self.port)
                return True
            if self.proc.poll() is not None:
                self.proc.stdout.close()
                return False
            await asyncio.sleep(0.02)
        self.stop()
        print(f"ecom: the embedded mail sink on {self.host}:{self.port} was not ready within "
              f"{READY_TIMEOUT:g} s; running without it", file=sys.stderr, flush=True)
        return False

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        if not self.running:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    async def watch(self, stopping: asyncio.Event) -> None:
        """Restart a sink that died after it had started (1 s doubling to 30 s); not one that never could."""
        backoff = 1.0
        while not stopping.is_set() and not self._stopping:
            if self.running:
                await wait_event(stopping, 0.5)
                continue
            if time.monotonic() - self._started_at > 60:
                backoff = 1.0
            log.warning("mail sink process exited with status %s; restarting in %.0f s",
                        self.proc.returncode if self.proc else None, backoff)
            if await wait_event(stopping, backoff) or self._stopping:
                return
            backoff = min(backoff * 2, MAX_BACKOFF)
            await self.astart()


async def start_sink(config: Config, stopping: asyncio.Event) -> tuple[SinkProcess | None, asyncio.Task | None]:
    """The sink and its watcher when ``[mail] url`` is "" (else nothing); a sink that cannot start is
    not watched (its one line said why) and the shop runs on."""
    if config.mail.url:
        return None, None
    sink = SinkProcess.from_config(config)
    if not await sink.astart():
        return None, None
    return sink, asyncio.get_running_loop().create_task(sink.watch(stopping))


async def stop_sink(sink: SinkProcess | None, watcher: asyncio.Task | None) -> None:
    if sink is None:
        return
    sink.stop()
    if watcher is not None:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
