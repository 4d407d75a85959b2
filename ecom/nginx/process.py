"""nginx as the supervisor's child: started from the generated config, restarted when it dies, stopped
gracefully (SIGQUIT: finish open requests, accept no more).

A SIGKILLed nginx master leaves its worker processes behind, still listening on the shop's port (they
have no parent-death signal), so a new master could not bind it. We note the workers once nginx
listens and kill exactly those (psutil checks each is still the process we noted) before a restart.
"""
from __future__ import annotations

import asyncio
import logging
import subprocess
import signal
import time
from typing import Callable

import psutil

from ..aio import wait_event
from ..config import Config
from ..embedded import die_with_parent
from ..plugin import LoadedPlugins
from ..restarts import GiveUp, RestartBudget
from . import find_binary, write

log = logging.getLogger("ecom.supervisor")


class NginxProcess:
    def __init__(self, config: Config, loaded: LoadedPlugins):
        self.config, self.loaded = config, loaded
        self.proc: subprocess.Popen | None = None
        self._workers: list[psutil.Process] = []

    def start(self) -> None:
        """Write the config, check it (RuntimeError with nginx's words if rejected), start the master."""
        conf = write(self.config, self.loaded)
        binary = find_binary(self.config)
        check = subprocess.run([binary, "-t", "-q", "-p", str(conf.parent), "-c", str(conf)],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejected its generated config: {check.stderr.strip()}")
        self.proc = subprocess.Popen([binary, "-p", str(conf.parent), "-c", str(conf), "-g", "daemon off;"],
                                     stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)

    async def listening(self, timeout: float = 10.0) -> bool:
        """True once the public port accepts connections (and its workers are noted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.open_connection(self.config.server.host, self.config.server.port)
                writer.close()
                self._note_workers()
                return True
            except OSError:
                await asyncio.sleep(0.05)
        return False

    def _note_workers(self) -> None:
        try:
            self._workers = psutil.Process(self.proc.pid).children()
        except psutil.Error:
            self._workers = []

    def _kill_orphans(self) -> None:
        for proc in self._workers:
            try:
                if proc.is_running():
                    proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(self._workers, timeout=5)
        self._workers = []

    async def keep_running(self, stopping: asyncio.Event, give_up: Callable[[str], None]) -> None:
        """Restart nginx whenever it dies, with back-off; ``give_up(line)`` when it dies too often."""
        budget = RestartBudget("nginx")
        while not await wait_event(stopping, 0.25):
            if self.proc is None or self.proc.poll() is None:
                continue
            code = self.proc.returncode
            self._kill_orphans()
            try:
                delay = budget.next_delay()
            except GiveUp as err:
                give_up(str(err))
                return
            log.warning("nginx exited with status %s; restarting in %.0f s", code, delay)
            if await wait_event(stopping, delay):
                return
            try:
                self.start()
            except RuntimeError as err:
                log.error("%s", err)
                continue
            if await self.listening():
                budget.started()
                log.info("nginx is back (pid %s)", self.proc.pid)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGQUIT)  # graceful: finish open requests, accept no more
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
