"""Serve one app process until SIGINT/SIGTERM: embedded broker (optional), app, graceful drain."""
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
from .broker import EmbeddedBroker
from .plugin import LoadedPlugins
from .secret import load_secret

log = logging.getLogger("ecom.server")


async def serve(config: Config, loaded: LoadedPlugins, *, embedded_broker: bool, started: float,
                announce: bool = True) -> int:
    secret = load_secret(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    broker = None
    if embedded_broker:
        broker = EmbeddedBroker(config.broker.embedded_host, config.broker.embedded_port, secret)
        try:
            await broker.start()
        except OSError as err:
            print(f"ecom: cannot start the MQTT broker on {config.broker.embedded_host}:"
                  f"{config.broker.embedded_port}: {err.strerror or err}", file=sys.stderr)
            return 1
    app = create_app(config, loaded=loaded, secret=secret)
    runner = GuardedAppRunner(app, access_log=logging.getLogger("ecom.access"),  # slowloris guard, connection cap
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
            return 1
        if announce:
            host = "127.0.0.1" if config.server.host in ("0.0.0.0", "") else config.server.host
            print(f"ecom is ready at http://{host}:{config.server.port} "
                  f"(started in {time.monotonic() - started:.2f} s; Ctrl-C stops)", flush=True)
        await stop.wait()
        log.info("stopping: draining in-flight requests")
    finally:
        try:  # stop accepting, let in-flight requests finish, then plugin shutdowns; never hang forever
            await asyncio.wait_for(runner.cleanup(), config.server.shutdown_timeout + 10)
        except asyncio.TimeoutError:
            log.error("shutdown took too long; exiting anyway")
        if broker is not None:
            await broker.stop()
    return 0
