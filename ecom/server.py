"""Serve one app process until SIGINT/SIGTERM: embedded broker (optional), app, graceful drain.

The embedded broker runs as a child process (ecom.broker.process.BrokerProcess), restarted if it dies:
sockets held open against the broker then use up the child's file descriptors, not the web shop's.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time

from aiohttp import web

from .app import create_app
from .config import Config
from .http_guard import GuardedAppRunner
from .logs import AccessLog
from .broker.limits import Limits
from .broker.process import BrokerProcess, BrokerStartError
from .drain import drain, drain_seconds
from .mail.process import start_sink, stop_sink
from .pgwatch import postgres_exit
from .plugin import LoadedPlugins
from .secret import load_secret
from .stopping import Late, within

log = logging.getLogger("ecom.server")


async def serve(config: Config, loaded: LoadedPlugins, *, embedded_broker: bool, started: float,
                announce: bool = True, embedded_mail: bool = False, postgres=None) -> int:
    """``postgres``: the embedded server this process started; if it dies we exit 1 (ecom.pgwatch says why)."""
    secret = load_secret(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _no_reload)  # SIGHUP's default (exit) took a one-process shop down

    broker = watcher = None
    if embedded_broker:
        broker = BrokerProcess(config.broker.embedded_host, config.broker.embedded_port, secret,
                               Limits.from_config(config.broker), log_level=config.server.log_level)
        try:
            await broker.astart()  # the child prints why it could not listen
        except BrokerStartError as err:
            print(f"ecom: {err}", file=sys.stderr)
            return 1
        watcher = loop.create_task(broker.watch(stop))
    sink, sink_watcher = await start_sink(config, stop) if embedded_mail else (None, None)  # [mail] url = ""
    app = create_app(config, loaded=loaded, secret=secret)
    draining = drain_seconds(config)
    if draining:
        app.on_response_prepare.append(draining.mark)  # Connection: close while draining
    died = loop.create_task(_exit_when_postgres_dies(postgres, stop)) if postgres is not None else None
    runner = GuardedAppRunner(app, access_log=logging.getLogger("ecom.access"),  # slowloris guard, connection cap
                              access_log_class=AccessLog,  # the line carries the request's id
                              shutdown_timeout=config.server.shutdown_timeout, handle_signals=False,
                              max_connections=config.server.max_connections,
                              header_timeout=config.server.header_timeout)
    try:
        await runner.setup()
        site = web.TCPSite(runner, config.server.host, config.server.port, reuse_address=True)
        try:
            await site.start()
        except OSError as err:
            print(f"ecom: cannot listen on {config.server.host}:{config.server.port}: {err.strerror or err}",
                  file=sys.stderr)
            return 2  # taken after the CLI's check (ecom/preflight.py): the same one line, the same status
        if announce:
            host = "127.0.0.1" if config.server.host in ("0.0.0.0", "") else config.server.host
            print(f"ecom is ready at http://{host}:{config.server.port} "
                  f"(started in {time.monotonic() - started:.2f} s; Ctrl-C stops)", flush=True)
        await stop.wait()
        log.info("stopping: draining in-flight requests")
        if draining:
            await drain(runner, draining)
    finally:
        try:  # stop accepting, let in-flight requests finish, then plugin shutdowns; never hang forever
            await within(runner.cleanup(), config.server.shutdown_timeout + 10, "the app", "its shutdown")
        except Late:  # logged; wait_for would have waited for the late cleanup to unwind (ecom/stopping.py)
            pass
        if broker is not None:
            stop.set()
            await asyncio.gather(watcher, return_exceptions=True)
            broker.stop()
        await stop_sink(sink, sink_watcher)
    if died is not None and died.done() and died.result():
        print(f"ecom: {died.result()}", file=sys.stderr, flush=True)
        return 1  # non-zero: systemd's Restart=on-failure starts the shop again
    if died is not None:
        died.cancel()
    return 0


async def _exit_when_postgres_dies(postgres, stop: asyncio.Event) -> str | None:
    line = await postgres_exit(postgres, stop)
    if line:
        log.error("%s", line)
        stop.set()
    return line


def _no_reload() -> None:
    """A `kill -HUP` sent by hand: this process has no workers to restart (a rolling restart is the
    --instances supervisor's; `run.py reload` refuses a one-process shop), so it says so and serves on."""
    log.warning("SIGHUP ignored: this process has no workers to restart (a rolling restart is for a shop "
                "started with --instances N: signal its supervisor); restart it to load new code or config")
