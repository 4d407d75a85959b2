"""SinkProcess: the embedded SMTP sink as a child process of run.py (and of the --instances supervisor).

Like the broker (ecom/broker/process.py; both are ecom.childproc.ChildProcess) it lives in a child so
that sockets held open against it cost the child's file descriptors, not the web shop's. Unlike the
broker the shop can run without it: a busy port is one line on stderr (the child's own) and the shop
starts anyway; the mail relay keeps the mails queued and retries them with back-off.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from ..childproc import ChildProcess, ChildStartError
from ..config import Config

log = logging.getLogger("ecom.mail")
READY_TIMEOUT = 15.0


def mail_folder(config: Config) -> Path:
    """The Maildir the embedded sink writes and /admin/mail reads."""
    return config.data_dir / "mail"


class SinkProcess(ChildProcess):
    what = "mail sink"
    log = log

    def __init__(self, host: str, port: int, folder: Path):
        super().__init__(host, port, ready_timeout=READY_TIMEOUT)
        self.folder = Path(folder)

    @classmethod
    def from_config(cls, config: Config) -> "SinkProcess":
        return cls(config.mail.embedded_host, config.mail.embedded_port, mail_folder(config))

    def command(self) -> list[str]:
        return [sys.executable, "-m", "ecom.mail", "--host", self.host, "--port", str(self.port),
                "--folder", str(self.folder)]

    async def try_start(self) -> bool:
        """Start it; False when it cannot (a busy port: the child said so in one line) — the shop runs on
        without it, its mails wait in the outbox."""
        try:
            await self.astart()
            return True
        except ChildStartError as err:
            if self.proc is not None and self.proc.returncode not in (None, -signal.SIGKILL):
                return False  # it exited by itself, after saying why in one line (a busy port)
            print(f"ecom: {err}; running without it", file=sys.stderr, flush=True)
            return False


async def start_sink(config: Config, stopping: asyncio.Event) -> tuple[SinkProcess | None, asyncio.Task | None]:
    """The sink and its watcher when ``[mail] url`` is "" (else nothing); a sink that cannot start is
    not watched (its one line said why) and the shop runs on."""
    if config.mail.url:
        return None, None
    sink = SinkProcess.from_config(config)
    if not await sink.try_start():
        return None, None
    return sink, asyncio.get_running_loop().create_task(sink.watch(stopping))


async def stop_sink(sink: SinkProcess | None, watcher: asyncio.Task | None) -> None:
    if sink is None:
        return
    sink.stop()
    if watcher is not None:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
