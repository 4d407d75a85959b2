"""`run.py --instances N`: PostgreSQL and the broker once, N app workers, nginx in front.

Workers and nginx are children with a parent-death signal: a SIGKILLed supervisor takes them along.
A worker that dies, or stops answering its /healthz (a stuck event loop, SIGSTOP), is replaced with
back-off (nginx routes around it meanwhile). SIGHUP (or `run.py reload`) restarts the workers one at a
time, each back in the pool before the next goes (a SIGHUP during that round asks for one more round
after it); a stopping worker drains (ecom.server). PostgreSQL
(ecom.pgwatch), the broker, the mail sink and nginx are restarted when they die. Whatever dies too often
(ecom.restarts: 5 times in 2 minutes) ends the supervisor with one line and exit status 1, for systemd.
SIGINT/SIGTERM: nginx stops accepting, workers drain and stop, then the broker, then PostgreSQL.
The embedded broker is a child process too (ecom.broker.process.BrokerProcess), restarted if it dies,
and so is the embedded SMTP sink when [mail] url is "" (ecom.mail.process.SinkProcess).
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from .aio import wait_event
from . import nginx
from .nginx.process import NginxProcess
from .app import migrate_all
from .config import Config
from .datadir import DataDirLock, embedded_postgres
from .broker.limits import Limits
from .broker.process import BrokerProcess, BrokerStartError
from .embedded import EmbeddedPostgres, die_with_parent
from .mail.process import start_sink, stop_sink
from .metrics import MULTIPROC_ENV, worker_exited
from .pgwatch import keep_postgres_running
from .restarts import GiveUp, RestartBudget
from .plugin import LoadedPlugins
from .secret import load_secret

log = logging.getLogger("ecom.supervisor")
ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0
PROBE_EVERY = 1.0        # liveness: each ready worker's /healthz, directly on its port ...
PROBE_TIMEOUT = 2.0
UNRESPONSIVE_AFTER = 6.0  # ... no answer for this long (and 3 failed probes at least): replace it


@dataclass
class Worker:
    index: int
    port: int
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    budget: RestartBudget | None = None
    retired: set[int] = field(default_factory=set)  # pids stopped on purpose (rolling restart, shutdown)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return f"worker-{self.index}"


class Supervisor:
    def __init__(self, config: Config, loaded: LoadedPlugins, config_file: str | None,
                 postgres: EmbeddedPostgres | None = None):
        self.config, self.loaded, self.config_file, self.postgres = config, loaded, config_file, postgres
        self.workers = [Worker(i + 1, port) for i, port in enumerate(nginx.worker_ports(config))]
        for worker in self.workers:
            worker.budget = RestartBudget(worker.name)
        self.nginx = NginxProcess(config, loaded)
        self.failure: str | None = None  # the one line we gave up with
        self.stopping = asyncio.Event()
        self.reloading: asyncio.Task | None = None
        self.reload_again = False  # a reload asked for while one runs: another full round follows it
        self._monitors: list[asyncio.Task] = []
        self.metrics_dir = config.data_dir / "metrics"  # prometheus multiprocess files of this run
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir(parents=True)

    # ------------------------------------------------------------------ workers
    def _worker_env(self, worker: Worker) -> dict[str, str]:
        c = self.config
        broker_url = c.broker.url or f"mqtt://{c.broker.embedded_host}:{c.broker.embedded_port}"
        links = {} if c.plugins.settings.get("notifications", {}).get("base_url") else {  # mails link to nginx's port
            "ECOM__PLUGINS__NOTIFICATIONS__BASE_URL":
                f"http://{'127.0.0.1' if c.server.host in ('', '0.0.0.0', '::') else c.server.host}:{c.server.port}"}
        return {**os.environ, **links, MULTIPROC_ENV: str(self.metrics_dir),
                "ECOM__SERVER__HOST": "127.0.0.1", "ECOM__SERVER__PORT": str(worker.port),
                "ECOM__SERVER__DATA_DIR": str(c.data_dir), "ECOM__SERVER__INSTANCES": str(len(self.workers)),
                "ECOM__SERVER__NAME": worker.name, "ECOM__SERVER__TRUSTED_PROXIES": '["127.0.0.1", "::1"]',
                "ECOM__DATABASE__URL": c.database.url,
                "ECOM__BROKER__URL": broker_url,
                "ECOM__BROKER__CLIENT_ID": ""}  # each worker makes its own random id (one id, one connection)

    async def _spawn(self, worker: Worker) -> None:
        args = [sys.executable, str(ROOT / "run.py"), "worker"]
        if self.config_file:
            args += ["--config", self.config_file]
        worker.ready.clear()
        worker.process = await asyncio.create_subprocess_exec(
            *args, env=self._worker_env(worker), cwd=str(ROOT), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, preexec_fn=lambda: die_with_parent(signal.SIGKILL))  # a crash, like ours
        worker.started_at = time.monotonic()
        worker.budget.started()
        log.info("%s started (pid %s, port %s)", worker.name, worker.process.pid, worker.port)

    async def _wait_ready(self, worker: Worker, timeout: float = READY_TIMEOUT) -> bool:
        url = f"http://127.0.0.1:{worker.port}/readyz"
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while time.monotonic() < deadline and worker.process and worker.process.returncode is None:
                try:
                    async with session.get(url) as resp:
                        if resp.status == 200:
                            worker.ready.set()
                            return True
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        return False

    async def _back_in_pool(self, worker: Worker) -> bool:
        """The replacement is ready, or it died at start (its port taken for a moment by another program, a
        database restarting) and _monitor's restart with back-off made a later one ready: a passing failure
        does not stop the rolling restart half-way, with the remaining workers still on the old code."""
        if await self._wait_ready(worker):
            return True
        return await wait_event(worker.ready, READY_TIMEOUT) and not self.stopping.is_set()

    async def _stop_worker(self, worker: Worker) -> None:
        proc = worker.process
        if proc is None or proc.returncode is not None:
            return
        worker.retired.add(proc.pid)
        proc.send_signal(signal.SIGTERM)  # the worker drains in-flight requests first
        try:
            await asyncio.wait_for(proc.wait(), self.config.server.shutdown_timeout + 15)  # + its drain (ecom/drain.py)
        except asyncio.TimeoutError:
            log.warning("%s did not stop in time; killing it", worker.name)
            proc.kill()
            await proc.wait()

    async def _monitor(self, worker: Worker) -> None:
        """Restart the worker whenever it dies unexpectedly, with back-off."""
        while not self.stopping.is_set():
            proc = worker.process
            code = await proc.wait()
            worker_exited(proc.pid, str(self.metrics_dir))
            if self.stopping.is_set():
                return
            if proc.pid in worker.retired:  # a rolling restart is replacing it: watch the new one
                while worker.process is proc and not self.stopping.is_set():
                    await asyncio.sleep(0.05)
                continue
            try:
                delay = worker.budget.next_delay()
            except GiveUp as err:
                self._give_up(str(err))
                return
            log.warning("%s exited with status %s; restarting in %.0f s", worker.name, code, delay)
            if await wait_event(self.stopping, delay):
                return
            worker.restarts += 1
            await self._spawn(worker)
            if await self._wait_ready(worker):
                log.info("%s is back in the pool", worker.name)

    async def _probe(self, worker: Worker) -> None:
        """Liveness, not only exit: a ready worker that stops answering /healthz for UNRESPONSIVE_AFTER
        seconds (a stuck loop answers nothing, and nginx would keep sending it its share) is SIGKILLed;
        _monitor then restarts it like any other death. A worker starting or stopping is left alone."""
        url = f"http://127.0.0.1:{worker.port}/healthz"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT)) as session:
            last_ok, failures = time.monotonic(), 0
            while not await wait_event(self.stopping, PROBE_EVERY):
                proc = worker.process
                if not worker.ready.is_set() or proc is None or proc.returncode is not None \
                        or proc.pid in worker.retired:
                    last_ok, failures = time.monotonic(), 0
                    continue
                try:
                    async with session.get(url) as resp:
                        ok = resp.status == 200
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    ok = False
                if ok or worker.process is not proc:
                    last_ok, failures = time.monotonic(), 0
                    continue
                failures += 1
                if failures >= 3 and time.monotonic() - last_ok > UNRESPONSIVE_AFTER:
                    log.warning("%s (pid %s) has not answered /healthz for %.0f s; replacing it",
                                worker.name, proc.pid, time.monotonic() - last_ok)
                    worker.ready.clear()
                    proc.kill()  # SIGKILL works on a stopped process too
                    last_ok, failures = time.monotonic(), 0

    async def rolling_restart(self) -> None:
        """Rounds of one-worker-at-a-time restarts, one more for each reload asked for during a round: the
        workers it had already restarted run the code as it was when the round began, so a second
        deploy during a reload gets a round of its own (asking several times during one round asks once)."""
        while True:
            self.reload_again = False
            if not await self._one_round():
                return
            if not self.reload_again:
                return

    async def _one_round(self) -> bool:
        log.info("rolling restart of %d workers", len(self.workers))
        for worker in self.workers:
            if self.stopping.is_set():
                return False
            await self._stop_worker(worker)
            await self._spawn(worker)
            if not await self._back_in_pool(worker):
                log.error("%s did not become ready after reload; stopping the rolling restart", worker.name)
                return False
        log.info("rolling restart done")
        return True

    # ------------------------------------------------------------------ the whole
    def _give_up(self, line: str) -> None:
        """Something keeps dying: stop everything and exit 1 with this line (systemd takes over)."""
        if self.failure is None:
            self.failure = line
            log.error("%s", line)
        self.stopping.set()

    async def _watch_child(self, watcher: asyncio.Task) -> None:
        line = await watcher  # the broker's or the sink's watch: a line when it gave up
        if line:
            self._give_up(line)

    def _on_hup(self) -> None:
        if self.reloading is None or self.reloading.done():
            self.reloading = asyncio.get_running_loop().create_task(self.rolling_restart())
        else:
            self.reload_again = True
            log.info("a rolling restart is under way; another round follows it")

    async def run(self, started: float) -> int:
        code = await self._run(started)
        if self.failure:  # last, after everything stopped: the one line an operator (or journalctl) sees
            print(f"ecom: {self.failure}", file=sys.stderr, flush=True)
            return 1
        return code

    async def _run(self, started: float) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._on_hup)
        broker = watcher = None
        if not self.config.broker.url:  # a child process of its own, restarted if it dies
            c = self.config
            broker = BrokerProcess(c.broker.embedded_host, c.broker.embedded_port, load_secret(c),
                                   Limits.from_config(c.broker), log_level=c.server.log_level)
            try:
                await broker.astart()
            except BrokerStartError as err:
                print(f"ecom: {err}", file=sys.stderr)
                return 1
            watcher = loop.create_task(broker.watch(self.stopping))
            self._monitors.append(loop.create_task(self._watch_child(watcher)))
        sink, sink_watcher = await start_sink(self.config, self.stopping)  # [mail] url = "": a child too
        if self.postgres is not None:
            self._monitors.append(loop.create_task(self._watch_postgres()))
        try:
            await migrate_all(self.config, self.loaded)  # once, before N workers race for it
            for worker in self.workers:
                await self._spawn(worker)
            ready = await asyncio.gather(*(self._wait_ready(w) for w in self.workers))
            if not all(ready):
                failed = [w.name for w, ok in zip(self.workers, ready) if not ok]
                print(f"ecom: {', '.join(failed)} did not become ready; see the log above", file=sys.stderr)
                return 1
            self._monitors += [loop.create_task(self._monitor(w)) for w in self.workers]
            self._monitors += [loop.create_task(self._probe(w)) for w in self.workers]
            self.nginx.start()
            if not await self.nginx.listening():
                print(f"ecom: nginx did not open port {self.config.server.port}", file=sys.stderr)
                return 1
            self._monitors.append(loop.create_task(self.nginx.keep_running(self.stopping, self._give_up)))
            print(f"ecom is ready at http://{self.config.server.host}:{self.config.server.port} "
                  f"({len(self.workers)} workers behind nginx; started in {time.monotonic() - started:.2f} s)",
                  flush=True)
            await self.stopping.wait()
            log.info("stopping: nginx first, then workers drain")
        finally:
            self.stopping.set()
            self.nginx.stop()
            for task in [*self._monitors, *([self.reloading] if self.reloading else [])]:
                task.cancel()
            await asyncio.gather(*(self._stop_worker(w) for w in self.workers), return_exceptions=True)
            if broker is not None:
                await asyncio.gather(watcher, return_exceptions=True)
                broker.stop()
            await stop_sink(sink, sink_watcher)
        return 0

    async def _watch_postgres(self) -> None:
        line = await keep_postgres_running(self.postgres, self.stopping)
        if line:
            self._give_up(line)


def supervise(config: Config, loaded: LoadedPlugins, *, started: float, config_file: str | None = None) -> int:
    if config.database.url:
        return asyncio.run(Supervisor(config, loaded, config_file).run(started))
    with embedded_postgres(config.data_dir, config.database.max_connections, serving=True, role="supervisor") as pg:
        config = config.replace(database={"url": pg.url("postgres")})
        return asyncio.run(Supervisor(config, loaded, config_file, postgres=pg).run(started))


def request_reload(config: Config) -> int:
    """`run.py reload`: ask the running supervisor for a rolling restart."""
    lock = DataDirLock(config.data_dir)
    if lock.acquire():
        lock.release()
        print(f"ecom: nothing is running on {config.data_dir}", file=sys.stderr)
        return 1
    pid = int(lock.holder())
    os.kill(pid, signal.SIGHUP)
    print(f"asked ecom (pid {pid}) for a rolling restart of its workers")
    return 0
