"""nginx as the supervisor's child: started from the generated config, restarted when it dies, stopped
gracefully (SIGQUIT: finish open requests, accept no more).

A SIGKILLed nginx master leaves its worker processes behind, still listening on the shop's port (they
have no parent-death signal), so a new master could not bind it. The master starts in a process group of
its own, which its workers and cache manager inherit and keep after it dies; before a restart (and when
giving up) that whole group is killed. Noting the master's children instead missed a master killed before
its workers were noted: its workers outlived the supervisor, still listening.
"""
from __future__ import annotations

import asyncio
import logging
import os
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

    def start(self) -> None:
        """Write the config, check it (RuntimeError with nginx's words if rejected), start the master."""
        conf = write(self.config, self.loaded)
        binary = find_binary(self.config)
        check = subprocess.run([binary, "-t", "-q", "-p", str(conf.parent), "-c", str(conf)],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejected its generated config: {check.stderr.strip()}")
        self.proc = subprocess.Popen([binary, "-p", str(conf.parent), "-c", str(conf), "-g", "daemon off;"],
                                     stdin=subprocess.DEVNULL, preexec_fn=die_with_parent,
                                     start_new_session=True)  # its own process group: see the docstring

    async def listening(self, timeout: float = 10.0) -> bool:
        """True once the public port accepts connections."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.open_connection(self.config.server.host, self.config.server.port)
                writer.close()
                return True
            except OSError:
                await asyncio.sleep(0.05)
        return False

    def _kill_orphans(self) -> None:
        """Kill what is left of a dead master's process group (its workers, cache manager). The group's
        id is the master's pid, which the kernel does not hand out again while any member is alive."""
        if self.proc is None:
            return
        group = self.proc.pid
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return  # nothing left of it
        deadline = time.monotonic() + 5  # gone, not only signalled: until then they hold the port
        while _alive_in_group(group) and time.monotonic() < deadline:
            time.sleep(0.05)

    async def keep_running(self, stopping: asyncio.Event, give_up: Callable[[str], None]) -> None:
        """Restart nginx whenever it dies, with back-off; ``give_up(line)`` when it dies too often."""
        budget = RestartBudget("nginx")
        while not await wait_event(stopping, 0.25):
            if self.proc is None or self.proc.poll() is None:
                continue
            code = self.proc.returncode
            await asyncio.to_thread(self._kill_orphans)  # up to 5 s of waiting: off the supervisor's loop
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
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)  # graceful: finish open requests, accept no more
            try:
                proc.wait(10)
                self.proc = None  # a master that quits gracefully waits for its workers first
                return
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._kill_orphans()  # it died (or was killed) without waiting for them
        self.proc = None


def _alive_in_group(group: int) -> bool:
    """Whether a process of process group ``group`` is still running (a zombie holds no socket)."""
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == group and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return False
